package zlm

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/jsonw"
	"github.com/mediakit/mediakit/pkg/media"
)

// TestMediaListMatchesMediaSources: MediaList writes exactly what
// encoding/json writes for MediaSources of the same streams, for streams
// with and without a publisher, tracks, readers and odd characters.
func TestMediaListMatchesMediaSources(t *testing.T) {
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
		var list MediaList
		var want []map[string]any
		for i, info := range infos {
			speed := int64(i) * 1000
			if err := list.Add(&info, schemas, speed, t0); err != nil {
				t.Fatal(err)
			}
			want = append(want, MediaSources(info, schemas, speed, t0)...)
		}
		if list.Len() != len(want) {
			t.Fatalf("%v: %d items, want %d", schemas, list.Len(), len(want))
		}
		wantJSON, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 {
			wantJSON = []byte("[]")
		}
		got, err := list.AppendJSON([]byte("prefix"))
		if err != nil || !bytes.Equal(got, append([]byte("prefix"), wantJSON...)) {
			t.Fatalf("%v: %v\n got %s\nwant prefix%s", schemas, err, got, wantJSON)
		}
		// Nested in a reply, through jsonw and through encoding/json.
		reply := map[string]any{"code": 0, "data": &list}
		viaJSON, err1 := json.Marshal(reply)
		viaJSONW, err2 := jsonw.Marshal(reply)
		wantReply := `{"code":0,"data":` + string(wantJSON) + `}`
		if err1 != nil || err2 != nil || string(viaJSON) != wantReply || string(viaJSONW) != wantReply {
			t.Fatalf("%v: in a reply: %v %v\n%s\n%s", schemas, err1, err2, viaJSON, viaJSONW)
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
