package record

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/hls"
	"github.com/mediakit/mediakit/pkg/media"
)

// testClip is 6 s of H.264 and AAC with a keyframe every second.
const testClip = "h264_aac.flv"

var testKey = engine.NewKey("", "live", "integrity")

// notes keeps what a Notifier is told. check, when set, runs in the
// recorder's goroutine at the moment of each on_record_ts, so it sees the
// disk as the hook receiver would.
type notes struct {
	mu    sync.Mutex
	mp4   []Info
	ts    []Info
	check func(Info)
}

func (n *notes) RecordMP4(i Info) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mp4 = append(n.mp4, i)
}

func (n *notes) RecordTS(i Info) {
	if n.check != nil {
		n.check(i)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ts = append(n.ts, i)
}

func (n *notes) get() (mp4, ts []Info) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.mp4), slices.Clone(n.ts)
}

// rig is an engine with a published stream and a Manager recording it.
type rig struct {
	e     *engine.Engine
	pub   *engine.Publisher
	m     *Manager
	notes *notes
	log   *testutil.SyncBuffer
	root  string
}

func newRig(t *testing.T, root string, segDur, mp4Max time.Duration) (*rig, []*media.Frame) {
	t.Helper()
	cfg := engine.DefaultConfig()
	cfg.ContinuePush = 0            // the publisher leaving ends the recordings
	cfg.MaxReaderLag = 0            // recorders never skip
	cfg.MaxReaderLagBytes = 1 << 30 // frames are published faster than disks write
	cfg.NoneReaderDelay = 0
	e := engine.New(cfg, nil)
	t.Cleanup(e.Close)
	tracks, frames := clipframes.Read(t, testClip)
	pub, err := e.Publish(context.Background(), testKey, engine.SessionInfo{ID: "test", Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.SetTracks(tracks); err != nil {
		t.Fatal(err)
	}
	r := &rig{e: e, pub: pub, notes: &notes{}, log: &testutil.SyncBuffer{}, root: root}
	r.m = &Manager{
		Engine: e,
		Settings: func() Settings {
			return Settings{MP4Root: root, HLSRoot: root, MP4MaxSecond: mp4Max, SegDur: segDur, Sync: true}
		},
		Notify: r.notes,
		Log:    slog.New(slog.NewTextHandler(r.log, nil)),
	}
	return r, frames
}

// attach starts a recorder of typ made by Manager.NewSink, changed by
// tweak when not nil.
func (r *rig) attach(t *testing.T, typ Type, tweak func(engine.Sink)) {
	t.Helper()
	newSink, err := r.m.NewSink(testKey, "", typ, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = r.e.AttachSink(context.Background(), testKey, SinkName(typ), func() engine.Sink {
		s := newSink()
		if tweak != nil {
			tweak(s)
		}
		return s
	})
	if err != nil {
		t.Fatal(err)
	}
}

// finish publishes frames, ends the stream and waits until every
// recorder has finished its files.
func (r *rig) finish(t *testing.T, frames []*media.Frame) {
	t.Helper()
	for _, f := range frames {
		if err := r.pub.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	r.pub.Close()
	r.e.Close()
}

// errorLines are the log lines at level ERROR.
func (r *rig) errorLines() []string {
	var out []string
	for _, l := range strings.Split(r.log.String(), "\n") {
		if strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return out
}

// checkSize fails unless path exists with size bytes.
func checkSize(t *testing.T, path string, size int64) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Errorf("notified file: %v", err)
		return
	}
	if st.Size() != size || size == 0 {
		t.Errorf("%s: %d bytes on disk, notified %d", path, st.Size(), size)
	}
}

// waitFor polls until cond holds or 10 s passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMP4NotifiedWhenDurable(t *testing.T) {
	r, frames := newRig(t, t.TempDir(), time.Second, time.Hour)
	r.attach(t, TypeMP4, nil)
	r.finish(t, frames)

	mp4s, ts := r.notes.get()
	if len(mp4s) != 1 || len(ts) != 0 {
		t.Fatalf("%d on_record_mp4 and %d on_record_ts, want 1 and 0", len(mp4s), len(ts))
	}
	checkSize(t, mp4s[0].FilePath, mp4s[0].FileSize)
	files, _ := filepath.Glob(filepath.Join(r.root, "live", "integrity", "*", "*"))
	if len(files) != 1 || files[0] != mp4s[0].FilePath {
		t.Errorf("files on disk %q, notified %s", files, mp4s[0].FilePath)
	}
	if n := r.m.Failures(TypeMP4); n != 0 {
		t.Errorf("Failures(mp4) = %d, want 0; log:\n%s", n, r.log)
	}
	if lines := r.errorLines(); len(lines) != 0 {
		t.Errorf("errors logged: %q", lines)
	}
}

func TestMP4NotFinalisedNotNotified(t *testing.T) {
	errDisk := errors.New("injected EIO")
	var synced atomic.Int32
	r, frames := newRig(t, t.TempDir(), time.Second, 2*time.Second)
	r.attach(t, TypeMP4, func(s engine.Sink) {
		// The second file's fsync fails: the first is notified, the
		// second not, and the recording goes on to the third.
		s.(*mp4Recorder).syncFile = func(f *os.File) error {
			if synced.Add(1) == 2 {
				return errDisk
			}
			return f.Sync()
		}
	})
	r.finish(t, frames)

	mp4s, _ := r.notes.get()
	files, _ := filepath.Glob(filepath.Join(r.root, "live", "integrity", "*", "*.mp4"))
	if len(files) < 3 {
		t.Fatalf("%d files on disk (%q), want 3 or more of 2 s from a 6 s clip", len(files), files)
	}
	if len(mp4s) != len(files)-1 {
		t.Errorf("%d on_record_mp4 for %d files of which one failed", len(mp4s), len(files))
	}
	var failedPath string
	for _, f := range files {
		notified := slices.ContainsFunc(mp4s, func(i Info) bool { return i.FilePath == f })
		if !notified && failedPath != "" {
			t.Errorf("%s and %s both not notified", failedPath, f)
		}
		if !notified {
			failedPath = f
		}
	}
	for _, i := range mp4s {
		checkSize(t, i.FilePath, i.FileSize)
	}
	if n := r.m.Failures(TypeMP4); n != 1 {
		t.Errorf("Failures(mp4) = %d, want 1", n)
	}
	if n := r.m.Failures(TypeHLS); n != 0 {
		t.Errorf("Failures(hls) = %d, want 0", n)
	}
	lines := r.errorLines()
	if len(lines) != 1 || !strings.Contains(lines[0], "file="+failedPath) || !strings.Contains(lines[0], errDisk.Error()) ||
		!strings.Contains(lines[0], "stream=") {
		t.Errorf("error lines %q, want one naming the stream, %s and %q", lines, failedPath, errDisk)
	}
}

func TestMP4UncreatableCounted(t *testing.T) {
	// A regular file where the recording directory should be: creating
	// the file fails even for root, whom permissions do not stop.
	root := filepath.Join(t.TempDir(), "afile")
	if err := os.WriteFile(root, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r, frames := newRig(t, root, time.Second, time.Hour)
	r.attach(t, TypeMP4, nil)
	r.finish(t, frames)

	if mp4s, _ := r.notes.get(); len(mp4s) != 0 {
		t.Errorf("notified %+v", mp4s)
	}
	if n := r.m.Failures(TypeMP4); n != 1 {
		t.Errorf("Failures(mp4) = %d, want 1", n)
	}
	if lines := r.errorLines(); len(lines) != 1 || !strings.Contains(lines[0], root) {
		t.Errorf("error lines %q, want one naming %s", lines, root)
	}
}

// playlistOK fails unless the playlist in dir, if there is one yet, parses
// and names only segments that exist whole (as their notification said,
// when there was one). It returns the names.
func playlistOK(t *testing.T, dir string, sizes map[string]int64) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, PlaylistName))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Error(err)
		return nil
	}
	p, err := hls.ParsePlaylist(data)
	if err != nil {
		t.Errorf("playlist: %v\n%s", err, data)
		return nil
	}
	var names []string
	for _, s := range p.Segments {
		names = append(names, s.URI)
		st, err := os.Stat(filepath.Join(dir, s.URI))
		if err != nil {
			t.Errorf("playlist names %s: %v", s.URI, err)
			continue
		}
		if want, ok := sizes[s.URI]; ok && st.Size() != want {
			t.Errorf("%s: %d bytes, notified %d", s.URI, st.Size(), want)
		}
	}
	return names
}

// hlsDir waits until the HLS recorder has made its directory.
func hlsDir(t *testing.T, root string) string {
	t.Helper()
	var dir string
	waitFor(t, "the HLS recording directory", func() bool {
		dirs, _ := filepath.Glob(filepath.Join(root, "live", "integrity", "hls", "*", "*"))
		if len(dirs) == 1 {
			dir = dirs[0]
		}
		return dir != ""
	})
	return dir
}

// watchPlaylist checks the playlist in dir over and over until stop is
// closed, as a player or a crash could see it at any moment.
func watchPlaylist(t *testing.T, dir string) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			default:
			}
			playlistOK(t, dir, nil)
			time.Sleep(time.Millisecond)
		}
	}()
	return func() { close(quit); <-done }
}

func TestHLSSegmentsDurableBeforeNamed(t *testing.T) {
	r, frames := newRig(t, t.TempDir(), time.Second, time.Hour)
	// At each on_record_ts the segment is there whole and the playlist
	// already names it.
	r.notes.check = func(i Info) {
		checkSize(t, i.FilePath, i.FileSize)
		if names := playlistOK(t, i.Folder, nil); !slices.Contains(names, i.FileName) {
			t.Errorf("on_record_ts for %s before the playlist names it (%q)", i.FileName, names)
		}
	}
	r.attach(t, TypeHLS, nil)
	dir := hlsDir(t, r.root)
	stop := watchPlaylist(t, dir)
	r.finish(t, frames)
	stop()

	_, ts := r.notes.get()
	if len(ts) < 3 {
		t.Fatalf("%d on_record_ts from a 6 s clip in 1 s segments", len(ts))
	}
	sizes := map[string]int64{}
	var notified []string
	for _, i := range ts {
		checkSize(t, i.FilePath, i.FileSize)
		sizes[i.FileName] = i.FileSize
		notified = append(notified, i.FileName)
	}
	if names := playlistOK(t, dir, sizes); !slices.Equal(names, notified) {
		t.Errorf("final playlist names %q, notified %q", names, notified)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmp) != 0 {
		t.Errorf("temporary files left: %q", tmp)
	}
	if n := r.m.Failures(TypeHLS); n != 0 {
		t.Errorf("Failures(hls) = %d, want 0; log:\n%s", n, r.log)
	}
}

func TestHLSWriteFailureCounted(t *testing.T) {
	for _, tc := range []struct {
		name string
		// block makes writing into dir fail from segment first on.
		block func(t *testing.T, dir string) (first uint64)
	}{
		{"obstructed", func(t *testing.T, dir string) uint64 {
			// A directory where the second segment's temporary file
			// goes: creating it fails, even for root.
			if err := os.Mkdir(filepath.Join(dir, hls.SegmentURI(1)+".tmp"), 0o755); err != nil {
				t.Fatal(err)
			}
			return 1
		}},
		{"read-only dir", func(t *testing.T, dir string) uint64 {
			if os.Geteuid() == 0 {
				t.Skip("root writes into read-only directories")
			}
			if err := os.Chmod(dir, 0o555); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(dir, 0o755) })
			return 0
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, frames := newRig(t, t.TempDir(), time.Second, time.Hour)
			r.notes.check = func(i Info) { checkSize(t, i.FilePath, i.FileSize) }
			r.attach(t, TypeHLS, nil)
			dir := hlsDir(t, r.root)
			first := tc.block(t, dir)
			r.finish(t, frames)

			_, ts := r.notes.get()
			var notified []string
			for _, i := range ts {
				notified = append(notified, i.FileName)
			}
			var want []string
			for seq := range first {
				want = append(want, hls.SegmentURI(seq))
			}
			if !slices.Equal(notified, want) {
				t.Errorf("on_record_ts for %q, want %q", notified, want)
			}
			if names := playlistOK(t, dir, nil); !slices.Equal(names, want) {
				t.Errorf("playlist names %q, want %q", names, want)
			}
			if n := r.m.Failures(TypeHLS); n != 1 {
				t.Errorf("Failures(hls) = %d, want 1", n)
			}
			if n := r.m.Failures(TypeMP4); n != 0 {
				t.Errorf("Failures(mp4) = %d, want 0", n)
			}
			failed := filepath.Join(dir, hls.SegmentURI(first))
			if lines := r.errorLines(); len(lines) != 1 || !strings.Contains(lines[0], "file="+failed) {
				t.Errorf("error lines %q, want one naming %s", lines, failed)
			}
		})
	}
}

func TestStandaloneFailureNoStats(t *testing.T) {
	// `mediakit record`'s recorders have no counter: a failure is their
	// Result.Err, naming the file.
	root := filepath.Join(t.TempDir(), "afile")
	if err := os.WriteFile(root, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "x.mp4")
	s := NewMP4File(path, true, nil)
	cfg := engine.DefaultConfig()
	cfg.ContinuePush, cfg.MaxReaderLag, cfg.MaxReaderLagBytes = 0, 0, 1<<30
	e := engine.New(cfg, nil)
	defer e.Close()
	tracks, frames := clipframes.Read(t, testClip)
	pub, err := e.Publish(context.Background(), testKey, engine.SessionInfo{ID: "test", Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.SetTracks(tracks); err != nil {
		t.Fatal(err)
	}
	if err := e.AttachSink(context.Background(), testKey, "mp4", func() engine.Sink { return s }); err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if err := pub.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	pub.Close()
	e.Close()
	if err := s.Result().Err; err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Result().Err = %v, want an error naming %s", err, path)
	}
}

func TestWriteFileSync(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a")
	for i := range 2 {
		want := fmt.Sprintf("content %d", i)
		if err := writeFileSync(path, []byte(want)); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != want {
			t.Errorf("read %q, %v; want %q", got, err, want)
		}
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file left: %v", err)
	}
	// An obstructed temporary name: the error names it and path keeps
	// its old content.
	if err := os.Mkdir(path+".tmp", 0o755); err != nil {
		t.Fatal(err)
	}
	err := writeFileSync(path, []byte("new"))
	if err == nil || !strings.Contains(err.Error(), path+".tmp") {
		t.Errorf("error %v does not name %s.tmp", err, path)
	}
	if got, _ := os.ReadFile(path); string(got) != "content 1" {
		t.Errorf("after a failed write %q", got)
	}
}
