package playback

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/remux"
)

// h264_aac.flv: 6 s, 150 video frames at 25 fps with a keyframe every
// second, 260 AAC frames.
const clip = "h264_aac.flv"

// recordingsDir makes a day of two recordings of the clip, as MP4.
func recordingsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"10-00-00.mp4", "10-00-06.mp4"} {
		if _, err := remux.Run(context.Background(), remux.Options{Inputs: []string{testutil.Clip(t, clip)}, Output: filepath.Join(dir, name)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not media"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newVODs(t *testing.T) (*VODs, *engine.Engine) {
	t.Helper()
	cfg := engine.DefaultConfig()
	cfg.ContinuePush = 0
	e := engine.New(cfg, nil)
	m := &VODs{Engine: e}
	t.Cleanup(func() {
		m.Close()
		e.Close()
	})
	return m, e
}

var vodKey = engine.NewKey("", "vod", "cam")

// readUntilEnd collects what a player of key gets until the stream ends.
func readUntilEnd(t *testing.T, e *engine.Engine, onFrame func(f *media.Frame, n int)) []*media.Frame {
	t.Helper()
	r, err := e.Play(context.Background(), vodKey, engine.SessionInfo{ID: "p", Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []*media.Frame
	buf := make([]*media.Frame, 0, 64)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		frames, err := r.Next(buf[:0])
		for _, f := range frames {
			out = append(out, f)
			if onFrame != nil {
				onFrame(f, len(out))
			}
		}
		if err != nil {
			return out
		}
	}
	t.Fatal("playback did not end")
	return nil
}

func videoOf(frames []*media.Frame) []*media.Frame {
	var v []*media.Frame
	for _, f := range frames {
		if f.Track.Kind() == media.KindVideo {
			v = append(v, f)
		}
	}
	return v
}

// TestVODPlaysDirectoryAtSpeed: a directory plays its MP4 files in order
// as one stream, every frame, the timeline monotonic and rescaled by the
// speed so that players really play faster.
func TestVODPlaysDirectoryAtSpeed(t *testing.T) {
	testutil.RequireFFmpeg(t)
	files, err := Files(recordingsDir(t))
	if err != nil || len(files) != 2 {
		t.Fatalf("Files = %v, %v", files, err)
	}
	m, e := newVODs(t)
	total, err := m.Load(context.Background(), vodKey, files, VODOptions{Speed: 8})
	if err != nil {
		t.Fatal(err)
	}
	if total < 12*time.Second-100*time.Millisecond || total > 12*time.Second+100*time.Millisecond {
		t.Errorf("duration %v, want about 12 s", total)
	}
	start := time.Now()
	frames := readUntilEnd(t, e, nil)
	video := videoOf(frames)
	if len(video) != 300 || len(frames)-len(video) != 520 {
		t.Fatalf("%d video and %d audio frames, want 300 and 520", len(video), len(frames)-len(video))
	}
	for i := 1; i < len(video); i++ {
		// 5 ms (40 ms at speed 8); at the join of the files the media's
		// own gap (the first file's last frame to its end, the second's
		// audio lead), about 120 ms, so 15 ms.
		if d := video[i].DTS - video[i-1].DTS; d <= 0 || (i != 150 && d > 6*time.Millisecond) || d > 20*time.Millisecond {
			t.Fatalf("video frame %d: DTS step %v", i, d)
		}
	}
	if span := video[len(video)-1].DTS - video[0].DTS; span > 1600*time.Millisecond {
		t.Errorf("12 s at speed 8 spans %v of output time", span)
	}
	if time.Since(start) < time.Second { // paced: 12 s at 8x is 1.5 s
		t.Errorf("played in %v, faster than its pace", time.Since(start))
	}
}

// TestVODSeekAndSpeed: a seek lands on the keyframe at or before the
// stamp, marked as a discontinuity, on a timeline that keeps going
// forward; a speed change rescales the timestamps from then on.
func TestVODSeekAndSpeed(t *testing.T) {
	testutil.RequireFFmpeg(t)
	files, _ := Files(recordingsDir(t))
	m, e := newVODs(t)
	if _, err := m.Load(context.Background(), vodKey, files, VODOptions{}); err != nil {
		t.Fatal(err)
	}
	_, clipFrames := clipframes.Read(t, clip)
	wantAfter := 0 // video frames of file 2 from its keyframe at or before 2.5 s
	first := clipFrames[0].DTS
	var lastKey time.Duration
	for _, f := range clipFrames {
		if f.Track.Kind() == media.KindVideo && f.Key && f.DTS-first <= 2500*time.Millisecond {
			lastKey = f.DTS - first
		}
	}
	for _, f := range clipFrames {
		if f.Track.Kind() == media.KindVideo && f.DTS-first >= lastKey {
			wantAfter++
		}
	}
	seeked := false
	frames := readUntilEnd(t, e, func(f *media.Frame, n int) {
		if n == 10 && !seeked {
			seeked = true
			if err := m.Seek(context.Background(), vodKey, 8500*time.Millisecond); err != nil {
				t.Error(err)
			}
			if err := m.SetSpeed(context.Background(), vodKey, 16); err != nil {
				t.Error(err)
			}
		}
	})
	video := videoOf(frames)
	jump := -1
	for i, f := range video {
		if f.Discontinuity {
			jump = i
		}
		if i > 0 && f.DTS <= video[i-1].DTS {
			t.Fatalf("video frame %d goes back: %v after %v", i, f.DTS, video[i-1].DTS)
		}
	}
	if jump < 0 {
		t.Fatal("no discontinuity after the seek")
	}
	if !video[jump].Key {
		t.Error("the seek does not land on a keyframe")
	}
	if got := len(video) - jump; got != wantAfter {
		t.Errorf("%d video frames after the seek to 8.5 s, want %d (from the keyframe at %v of the second file)", got, wantAfter, lastKey)
	}
	if d := video[len(video)-1].DTS - video[len(video)-2].DTS; d > 5*time.Millisecond {
		t.Errorf("DTS step %v at speed 16, want 2.5 ms", d)
	}
	if err := m.SetSpeed(context.Background(), vodKey, 32); err != ErrSpeed {
		t.Errorf("speed 32: %v", err)
	}
	if err := m.Seek(context.Background(), vodKey, 0); err != ErrNotPlaying {
		t.Errorf("seek after the end: %v", err)
	}
}

// TestVODClosesUnwatched: nobody watching ends the playback and its
// stream.
func TestVODClosesUnwatched(t *testing.T) {
	testutil.RequireFFmpeg(t)
	files, _ := Files(recordingsDir(t))
	m, e := newVODs(t)
	if _, err := m.Load(context.Background(), vodKey, files, VODOptions{Repeat: true}); err != nil {
		t.Fatal(err)
	}
	if !m.Playing(vodKey) {
		t.Fatal("not playing")
	}
	m.StreamNoReaders(vodKey)
	deadline := time.Now().Add(5 * time.Second)
	for m.Playing(vodKey) {
		if time.Now().After(deadline) {
			t.Fatal("still playing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		_, live, err := e.Stream(context.Background(), vodKey)
		if err == nil && !live {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("stream still live")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := Files(t.TempDir()); err == nil {
		t.Error("an empty directory: no error")
	}
}
