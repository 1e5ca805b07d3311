package zlm

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// TestMediaItemsMatchMediaSources: AppendMediaItems writes exactly what
// encoding/json writes for MediaSources of the same streams, for streams
// with and without a publisher, tracks, readers and odd characters.
func TestMediaItemsMatchMediaSources(t *testing.T) {
	video := &media.Track{Codec: media.CodecH265, Width: 640, Height: 360, FPS: math.NaN()}
	audio := &media.Track{Codec: media.CodecOpus, SampleRate: 48000, Channels: 2}
	data := &media.Track{Codec: media.CodecAV1}
	infos := []engine.StreamInfo{
		{Key: engine.NewKey("", "live", "bare")},
		{
			Key: engine.NewKey("v<1>", "app&", "st\u2028\"ream\xff"), Ready: true, State: engine.StateLive,
			Tracks:    []*media.Track{video, audio, data},
			Publisher: &engine.SessionInfo{ID: "rtsp-9", Protocol: "rtsp", Remote: "[::1]:5000", Local: "bad addr", Params: "a=<b>&c"},
			Readers: []engine.ReaderInfo{
				{SessionInfo: engine.SessionInfo{Protocol: "rtsp"}}, {SessionInfo: engine.SessionInfo{Protocol: "http-ts"}},
				{SessionInfo: engine.SessionInfo{Protocol: "hls-fmp4"}},
			},
			CreatedAt:  t0.Add(-time.Hour),
			BytesIn:    1 << 40,
			Sinks:      []string{"record-mp4", "record-hls"},
			TrackStats: map[*media.Track]engine.TrackStats{video: {Frames: 9, KeyFrames: 1, GOPSize: 30, GOPInterval: 1200 * time.Millisecond}},
			Drops:      []engine.TrackDrop{{Output: "hls", Codec: media.CodecOpus}},
		},
	}
	schemaSets := [][]string{nil, {SchemaRTMP}, AllSchemas, {SchemaHLSFMP4, SchemaTS}}
	for _, schemas := range schemaSets {
		got := []byte("prefix[")
		var want []map[string]any
		for i, info := range infos {
			speed := int64(i) * 1000
			got = AppendMediaItems(got, len(want) > 0, &info, schemas, speed, t0)
			want = append(want, MediaSources(info, schemas, speed, t0)...)
		}
		got = append(got, ']')
		wantJSON, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 {
			wantJSON = []byte("[]")
		}
		if !bytes.Equal(got, append([]byte("prefix"), wantJSON...)) {
			t.Fatalf("%v:\n got %s\nwant prefix%s", schemas, got, wantJSON)
		}
		// Once more after other bytes: nothing of one call shows in the next.
		again := AppendMediaItems([]byte("x"), true, &infos[len(infos)-1], schemas, int64(len(infos)-1)*1000, t0)
		if len(schemas) > 0 {
			last, _ := json.Marshal(MediaSources(infos[len(infos)-1], schemas, int64(len(infos)-1)*1000, t0))
			if want := "x," + string(last[1:len(last)-1]); string(again) != want {
				t.Fatalf("%v: again\n got %s\nwant %s", schemas, again, want)
			}
		}
	}
}

// TestMediaSourcePartsSplit: MediaList relies on every key of lo sorting
// before "readerCount" and every key of hi after "schema".
func TestMediaSourcePartsSplit(t *testing.T) {
	lo, hi := mediaSourceParts(engine.StreamInfo{Key: engine.NewKey("", "a", "b")}, 0, t0)
	for k := range lo {
		if strings.Compare(k, "readerCount") >= 0 {
			t.Errorf("lo key %q does not sort before readerCount", k)
		}
	}
	for k := range hi {
		if strings.Compare(k, "schema") <= 0 {
			t.Errorf("hi key %q does not sort after schema", k)
		}
	}
}
