package sink_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/sink"
)

// TestTSFileCodecs: the MPEG-TS file carries MP3 and Opus beside the
// video MPEG-TS carries; AV1 and G.711 are left out, reported once as
// dropped by "ts-file", and the other track is written whole.
func TestTSFileCodecs(t *testing.T) {
	testutil.RequireFFmpeg(t)
	for _, tc := range []struct {
		clip    string
		streams []string // ffprobe's codec_type:codec_name
		frames  []int
		dropped media.Codec
	}{
		{"h264_mp3.flv", []string{"video:h264", "audio:mp3"}, []int{50, 78}, media.CodecUnknown},
		{"av1_opus.mp4", []string{"audio:opus"}, []int{101}, media.CodecAV1},
		{"h264_pcma.flv", []string{"video:h264"}, []int{50}, media.CodecG711A},
	} {
		t.Run(tc.clip, func(t *testing.T) {
			t.Parallel()
			var tracks []*media.Track
			var frames []*media.Frame
			if filepath.Ext(tc.clip) == ".flv" {
				tracks, frames = clipframes.Read(t, tc.clip)
			} else {
				tracks, frames = clipframes.ReadMP4(t, tc.clip)
			}
			path := filepath.Join(t.TempDir(), "x.ts")
			file := track(sink.NewTSFile(path, nil))
			e := newEngine(t)
			attachAll(e, file)
			publish(t, e, tracks, frames, true)
			file.wait(t, 10*time.Second, "the stream ended")
			if r := file.Result(); r.Err != nil {
				t.Fatalf("result %+v", r)
			}
			p, err := testutil.FFprobe(context.Background(), t, path)
			if err != nil {
				t.Fatal(err)
			}
			var streams []string
			var counts []int
			for _, s := range p.Streams {
				streams = append(streams, s.CodecType+":"+s.CodecName)
				counts = append(counts, s.NbReadFrames)
			}
			if !slices.Equal(streams, tc.streams) || !slices.Equal(counts, tc.frames) {
				t.Errorf("streams %v with %v frames, want %v with %v", streams, counts, tc.streams, tc.frames)
			}
			var drops []string
			e.Stats().TrackDrops.Each(func(output string, c media.Codec, n int64) {
				drops = append(drops, output+":"+c.String())
			})
			var want []string
			if tc.dropped != media.CodecUnknown {
				want = []string{"ts-file:" + tc.dropped.String()}
			}
			if !slices.Equal(drops, want) {
				t.Errorf("drops %v, want %v", drops, want)
			}
		})
	}
}
