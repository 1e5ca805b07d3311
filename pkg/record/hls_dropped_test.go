package record

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/hls"
	"github.com/mediakit/mediakit/pkg/media"
)

// publishStep declares tracks (when not nil) and then writes frames.
type publishStep struct {
	tracks []*media.Track
	frames []*media.Frame
}

// recordHLS publishes steps into an engine with an HLS recorder into dir
// and returns its result and log once it has finished.
func recordHLS(t *testing.T, dir string, steps []publishStep) (Result, string) {
	t.Helper()
	var log testutil.SyncBuffer
	s := NewHLSDir(dir, time.Second, slog.New(slog.NewTextHandler(&log, nil)))
	cfg := engine.DefaultConfig()
	cfg.ContinuePush, cfg.MaxReaderLag, cfg.MaxReaderLagBytes = 0, 0, 1<<30
	e := engine.New(cfg, slog.New(slog.NewTextHandler(&log, nil)))
	defer e.Close()
	pub, err := e.Publish(context.Background(), testKey, engine.SessionInfo{ID: "test", Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range steps {
		if st.tracks != nil {
			if err := pub.SetTracks(st.tracks); err != nil {
				t.Fatal(err)
			}
		}
		if i == 0 {
			if err := e.AttachSink(context.Background(), testKey, "hls", func() engine.Sink { return s }); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range st.frames {
			if err := pub.WriteFrame(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	pub.Close()
	e.Close() // waits for the recorder
	return s.Result(), log.String()
}

// TestHLSDropsG711: a G.711 track is left out of HLS recordings with one
// warning naming its codec, and the video is recorded whether it is
// declared with the G.711, after it or never.
func TestHLSDropsG711(t *testing.T) {
	tracks, clip := clipframes.Read(t, testClip)
	video, aac := tracks[0], tracks[1]
	alaw, err := media.NewG711Track(media.CodecG711A, 8000, 1)
	if err != nil {
		t.Fatal(err)
	}
	// The clip's video, its audio as AAC before cut and as G.711 after.
	mix := func(from, to, cut time.Duration) []*media.Frame {
		var out []*media.Frame
		for _, f := range clip {
			if f.Track == video && f.DTS >= from && f.DTS < to {
				out = append(out, copyFrame(f))
			}
		}
		for _, f := range clip {
			if f.Track == aac && f.DTS >= from && f.DTS < min(to, cut) {
				out = append(out, copyFrame(f))
			}
		}
		for ts := max(from, cut); ts < to; ts += 20 * time.Millisecond {
			out = append(out, &media.Frame{Track: alaw, DTS: ts, PTS: ts, Key: true, Payload: make([]byte, 160)})
		}
		slices.SortStableFunc(out, func(a, b *media.Frame) int { return int(a.DTS - b.DTS) })
		return out
	}
	onlyAudio := func(fs []*media.Frame) []*media.Frame {
		return slices.DeleteFunc(fs, func(f *media.Frame) bool { return f.Track == video })
	}
	const end = 7 * time.Second
	tests := []struct {
		name    string
		steps   []publishStep
		video   int // video frames recorded
		wantErr error
	}{
		{name: "declared with video", video: 150,
			steps: []publishStep{{tracks: []*media.Track{video, alaw}, frames: mix(0, end, 0)}}},
		{name: "video declared later", video: 150, steps: []publishStep{
			{tracks: []*media.Track{alaw}, frames: onlyAudio(mix(0, time.Second, 0))},
			{tracks: []*media.Track{video, alaw}, frames: slices.Concat(
				slices.DeleteFunc(mix(0, time.Second, 0), func(f *media.Frame) bool { return f.Track == alaw }),
				mix(time.Second, end, 0))},
		}},
		{name: "AAC, then G.711", video: 150, steps: []publishStep{
			{tracks: []*media.Track{video, aac}, frames: mix(0, 3*time.Second, end)},
			{tracks: []*media.Track{video, alaw}, frames: mix(3*time.Second, end, 3*time.Second)},
		}},
		{name: "G.711 only", wantErr: hls.ErrNoTracks,
			steps: []publishStep{{tracks: []*media.Track{alaw}, frames: onlyAudio(mix(0, end, 0))}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			res, log := recordHLS(t, dir, tt.steps)
			var warns []string
			for _, l := range strings.Split(log, "\n") {
				if strings.Contains(l, "level=WARN") {
					warns = append(warns, l)
				}
			}
			if len(warns) != 1 || !strings.Contains(warns[0], `output=hls-record codec=pcm_alaw`) {
				t.Errorf("warnings %q, want one naming pcm_alaw", warns)
			}
			if !errors.Is(res.Err, tt.wantErr) || (res.Err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Result.Err = %v, want %v", res.Err, tt.wantErr)
			}
			if tt.wantErr != nil {
				if res.Segments != 0 {
					t.Errorf("%d segments", res.Segments)
				}
				return
			}
			if res.Segments < 5 {
				t.Errorf("%d segments of a 6 s clip in 1 s segments", res.Segments)
			}
			testutil.RequireFFmpeg(t)
			p, err := testutil.FFprobe(t.Context(), t, filepath.Join(dir, PlaylistName))
			if err != nil {
				t.Fatal(err)
			}
			if v := p.Video(); v == nil || v.CodecName != "h264" || v.NbReadFrames != tt.video {
				t.Errorf("streams %+v, want h264 with %d frames", p.Streams, tt.video)
			}
			for _, s := range p.Streams {
				if s.CodecType == "audio" && s.CodecName != "aac" {
					t.Errorf("audio stream %+v in the recording", s)
				}
			}
		})
	}
}

// copyFrame copies a frame for another engine: the engine rewrites the
// timestamps and track of what it is given.
func copyFrame(f *media.Frame) *media.Frame {
	return &media.Frame{Track: f.Track, DTS: f.DTS, PTS: f.PTS, Key: f.Key, Payload: f.Payload}
}
