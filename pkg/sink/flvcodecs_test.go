package sink_test

import (
	"context"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/sink"
)

// TestFLVSinksCodecs: the FLV file and the RTMP push carry AV1, VP9 and
// Opus (Enhanced FLV) and MP3 and G.711 (legacy): the file reads back,
// and a player of the pushed stream gets, every frame of both tracks.
func TestFLVSinksCodecs(t *testing.T) {
	for _, clip := range []string{"av1_opus.mp4", "vp9_opus.mp4", "h264_mp3.flv", "h264_pcma.flv"} {
		t.Run(clip, func(t *testing.T) {
			t.Parallel()
			var tracks []*media.Track
			var frames []*media.Frame
			if filepath.Ext(clip) == ".flv" {
				tracks, frames = clipframes.Read(t, clip)
			} else {
				tracks, frames = clipframes.ReadMP4(t, clip)
			}
			want := countCodecs(frames)
			srv := startRTMP(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			got := srv.play(ctx, engine.NewKey("", "live", "x"))
			push, err := sink.NewRTMPPush(context.Background(), "rtmp://"+srv.addr+"/live/x", sink.PushOptions{})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "x.flv")
			file := sink.NewFLVFile(path, nil)
			sinks := []*tracked{track(push), track(file)}
			e := newEngine(t)
			attachAll(e, sinks...)
			publish(t, e, tracks, frames, true)
			for _, s := range sinks {
				s.wait(t, 10*time.Second, "the stream ended")
				if r := s.Result(); r.Err != nil || r.Frames != int64(len(frames)) {
					t.Errorf("result %+v, want %d frames", r, len(frames))
				}
			}
			if n := <-got; !maps.Equal(n, want) {
				t.Errorf("the player of the push got %v, want %v", n, want)
			}
			back, backFrames, err := clipframes.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(back) != 2 || back[0].Codec != tracks[0].Codec || back[1].Codec != tracks[1].Codec {
				t.Errorf("file tracks %v, want %v", back, tracks)
			}
			if n := countCodecs(backFrames); !maps.Equal(n, want) {
				t.Errorf("file frames %v, want %v", n, want)
			}
		})
	}
}
