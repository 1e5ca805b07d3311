package record

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/source"
)

// frameList collects what a source reads.
type frameList struct{ frames []*media.Frame }

func (l *frameList) SetTracks([]*media.Track) error { return nil }
func (l *frameList) SetMetadata(media.Metadata)     {}
func (l *frameList) WriteFrame(f *media.Frame) error {
	l.frames = append(l.frames, f)
	return nil
}

// TestStartTask: a recording task starts at the stream's GOP cache (the
// latest keyframe), holds its path, and finishes its file when the stream
// ends before its forward time; a path held or existing is refused.
func TestStartTask(t *testing.T) {
	root := t.TempDir()
	r, frames := newRig(t, root, time.Second, time.Hour)
	half := len(frames) / 2
	for _, f := range frames[:half] {
		if err := r.pub.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	lastKey := -1
	for i, f := range frames[:half] {
		if f.Track.Kind() == media.KindVideo && f.Key {
			lastKey = i
		}
	}
	path := filepath.Join(root, "events", "e1.mp4")
	if err := r.m.StartTask(context.Background(), testKey, path, time.Hour); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the task's file open", func() bool { return r.m.Writing(path) })
	if err := r.m.StartTask(context.Background(), testKey, path, time.Hour); !errors.Is(err, ErrFileExists) {
		t.Errorf("a second task on the same path: %v", err)
	}
	r.finish(t, frames[half:])
	// The file is finished; the task holds its path until its forward
	// time, so that nothing else takes or deletes it meanwhile.
	if !r.m.Writing(path) {
		t.Error("the task's path was released before its forward time")
	}
	src, err := source.Open(path, source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got frameList
	if err := src.Run(context.Background(), &got); err != nil {
		t.Fatal(err)
	}
	wantVideo := 0
	for _, f := range frames[lastKey:] {
		if f.Track.Kind() == media.KindVideo {
			wantVideo++
		}
	}
	gotVideo := 0
	for _, f := range got.frames {
		if f.Track.Kind() == media.KindVideo {
			if gotVideo == 0 && !f.Key {
				t.Error("the task's file does not start with a keyframe")
			}
			gotVideo++
		}
	}
	if gotVideo != wantVideo {
		t.Errorf("%d video frames recorded, want %d (from the keyframe at frame %d)", gotVideo, wantVideo, lastKey)
	}
	if mp4s, _ := r.notes.get(); len(mp4s) != 0 {
		t.Errorf("on_record_mp4 sent for a task: %v", mp4s)
	}
}
