package record

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/store"
)

// recordFiles records the test clip in files of about a second and
// returns what the recorder notified.
func recordFiles(t *testing.T, root string) []Info {
	t.Helper()
	r, frames := newRig(t, root, time.Second, time.Second)
	r.attach(t, TypeMP4, nil)
	r.finish(t, frames)
	mp4s, _ := r.notes.get()
	if len(mp4s) < 3 {
		t.Fatalf("%d files recorded, want 3 or more", len(mp4s))
	}
	return mp4s
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestIndexerAddsFinishedFiles: what the recorders notify is in the index
// once Run has written it, in start order, with their durations.
func TestIndexerAddsFinishedFiles(t *testing.T) {
	infos := recordFiles(t, t.TempDir())
	st := openStore(t)
	x := NewIndexer(nil)
	for _, info := range infos {
		x.Add(info)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { x.Run(ctx, st); close(done) }()
	cancel()
	<-done // Run writes what is queued before it returns
	got, err := st.Recordings(StreamName(testKey), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(infos) {
		t.Fatalf("%d indexed, want %d", len(got), len(infos))
	}
	for i, r := range got {
		if r.Path != infos[i].FilePath || r.Duration != infos[i].TimeLen || r.Size != infos[i].FileSize || !r.Start.Equal(infos[i].StartTime) {
			t.Errorf("entry %d: %+v, notified %+v", i, r, infos[i])
		}
	}
}

// TestReconcile: files on disk the index lacks are added with their
// durations from their headers and their starts from their names; files
// gone are removed; files being written or too fresh are left alone.
func TestReconcile(t *testing.T) {
	root := t.TempDir()
	infos := recordFiles(t, root)
	st := openStore(t)
	x := NewIndexer(nil)
	ctx := context.Background()

	writing := func(p string) bool { return p == infos[0].FilePath }
	if added, removed, err := x.Reconcile(ctx, st, []string{root}, writing, time.Now()); err != nil || added != len(infos)-1 || removed != 0 {
		t.Fatalf("Reconcile = %d added, %d removed, %v; want %d, 0", added, removed, err, len(infos)-1)
	}
	got, err := st.Recordings(StreamName(testKey), time.Time{}, time.Time{})
	if err != nil || len(got) != len(infos)-1 {
		t.Fatalf("index %v, %v", got, err)
	}
	for i, r := range got {
		want := infos[i+1]
		if r.Path != want.FilePath || r.Size != want.FileSize {
			t.Errorf("entry %d: %+v, recorded %+v", i, r, want)
		}
		if d := r.Duration - want.TimeLen; d < -50*time.Millisecond || d > 50*time.Millisecond {
			t.Errorf("%s: duration %v from the headers, recorded %v", r.Path, r.Duration, want.TimeLen)
		}
		// The name holds the start to the second.
		if d := want.StartTime.Sub(r.Start); d < 0 || d >= time.Second {
			t.Errorf("%s: start %v from the name, recorded %v", r.Path, r.Start, want.StartTime)
		}
	}
	// Fresh files wait; then a file deleted by hand leaves the index.
	if added, _, _ := x.Reconcile(ctx, st, []string{root}, nil, time.Now().Add(-time.Hour)); added != 0 {
		t.Errorf("fresh files indexed: %d", added)
	}
	if err := os.Remove(infos[1].FilePath); err != nil {
		t.Fatal(err)
	}
	if added, removed, err := x.Reconcile(ctx, st, []string{root, filepath.Join(root, "missing")}, nil, time.Now()); err != nil || added != 1 || removed != 1 {
		t.Fatalf("second Reconcile = %d added, %d removed, %v; want 1, 1", added, removed, err)
	}
	if got, _ := st.Recordings(StreamName(testKey), time.Time{}, time.Time{}); len(got) != len(infos)-1 || got[0].Path != infos[0].FilePath {
		t.Errorf("after the second Reconcile: %d entries, first %s", len(got), got[0].Path)
	}
}
