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
	"syscall"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/format/mp4"
	"github.com/mediakit/mediakit/pkg/media"
)

// fakeDisk is a disk that fills up and empties: while full, writes
// through it fail as a full disk's do.
type fakeDisk struct {
	full atomic.Bool
	// allow is how many more writes a full disk still takes.
	allow   atomic.Int64
	writes  atomic.Int64 // writes that succeeded
	refused atomic.Int64 // writes refused while full
}

// diskFile is a file on a fakeDisk; Sync, Seek and Close are the file's.
type diskFile struct {
	*os.File
	d *fakeDisk
}

func (f diskFile) WriteAt(p []byte, off int64) (int, error) {
	if f.d.full.Load() && f.d.allow.Add(-1) < 0 {
		f.d.allow.Store(0)
		f.d.refused.Add(1)
		return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	n, err := f.File.WriteAt(p, off)
	if err == nil {
		f.d.writes.Add(1)
	}
	return n, err
}

func (f diskFile) Write(p []byte) (int, error) {
	return 0, errors.New("diskFile: the recorder writes with WriteAt only")
}

func (d *fakeDisk) wrap(f *os.File) mp4.File { return diskFile{File: f, d: d} }

// cutNotes adds to notes the files a resuming recording left cut.
type cutNotes struct {
	*notes
	mu   sync.Mutex
	cuts []string
}

func (n *cutNotes) RecordMP4Cut(root, path string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cuts = append(n.cuts, path)
}

func (n *cutNotes) getCuts() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.cuts)
}

// keyframes returns the indexes of the video keyframes of frames.
func keyframes(frames []*media.Frame) []int {
	var out []int
	for i, f := range frames {
		if f.Track.Kind() == media.KindVideo && f.Key {
			out = append(out, i)
		}
	}
	return out
}

// lines returns the log lines of r holding s.
func (r *rig) lines(s string) []string {
	var out []string
	for _, l := range strings.Split(r.log.String(), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// TestRecordingResumesAfterWriteFailure: an automatic MP4 recording
// (Options.Resume) that a full disk stops keeps its cut file, reports the
// failure in one error line, is not recording (IsRecording false) and
// tries a new file at keyframes, without leaving files on a disk still
// full. Then, by case: space returns and it resumes into a new file (one
// line); an attempt fails too, and its empty file is removed; the stream
// ends, or the API stops it, and it stops trying; the API starts a
// recording, which takes its place.
func TestRecordingResumesAfterWriteFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		// then runs once the recording is paused and an attempt was
		// refused, the disk still full, with the stream's frames from
		// its fourth keyframe on (rest) and its keyframes (keys). It
		// ends the stream and returns the frames the new file holds
		// (nil: no new file).
		then func(t *testing.T, r *rig, disk *fakeDisk, frames []*media.Frame, keys []int) []*media.Frame
		// resumed: the recording itself resumed (not one the API
		// started).
		resumed bool
	}{{
		name: "space returns",
		then: func(t *testing.T, r *rig, disk *fakeDisk, frames []*media.Frame, keys []int) []*media.Frame {
			disk.full.Store(false)
			r.finish(t, frames[keys[4]:])
			return frames[keys[4]:]
		},
		resumed: true,
	}, {
		name: "an attempt fails too",
		then: func(t *testing.T, r *rig, disk *fakeDisk, frames []*media.Frame, keys []int) []*media.Frame {
			// The fifth keyframe's attempt gets its probe and its file's
			// ftyp and moov written, no more: its first fragment, due
			// at once (it starts with the second of audio held from
			// before the keyframe), fails, and the file, empty, goes.
			writes, refused := disk.writes.Load(), disk.refused.Load()
			disk.allow.Store(2)
			publish(t, r, frames[keys[4]:keys[5]])
			testutil.Eventually(t, 10*time.Second, "the attempt's fragment refused", func() bool {
				return disk.writes.Load() == writes+2 && disk.refused.Load() > refused
			})
			// Space returns: the sixth keyframe starts a new file.
			disk.full.Store(false)
			r.finish(t, frames[keys[5]:])
			return frames[keys[5]:]
		},
		resumed: true,
	}, {
		name: "the stream ends",
		then: func(t *testing.T, r *rig, disk *fakeDisk, frames []*media.Frame, keys []int) []*media.Frame {
			disk.full.Store(false)
			r.pub.Close()
			r.e.Close() // waits for the recorder
			return nil
		},
	}, {
		name: "stopped by the API",
		then: func(t *testing.T, r *rig, disk *fakeDisk, frames []*media.Frame, keys []int) []*media.Frame {
			if ok, err := r.m.Stop(context.Background(), testKey, TypeMP4); !ok || err != nil {
				t.Errorf("Stop of a recording waiting to resume: %v, %v; want true, nil", ok, err)
			}
			disk.full.Store(false)
			r.finish(t, frames[keys[4]:]) // nothing records them
			return nil
		},
	}, {
		name: "started by the API",
		then: func(t *testing.T, r *rig, disk *fakeDisk, frames []*media.Frame, keys []int) []*media.Frame {
			disk.full.Store(false)
			if ok, err := r.m.Start(context.Background(), testKey, TypeMP4, Options{}); !ok || err != nil {
				t.Fatalf("Start over a recording waiting to resume: %v, %v; want true, nil", ok, err)
			}
			if rec, err := r.m.IsRecording(context.Background(), testKey, TypeMP4); !rec || err != nil {
				t.Errorf("IsRecording after Start: %v, %v", rec, err)
			}
			r.finish(t, frames[keys[4]:])
			// It starts at the GOP cache's keyframe.
			return frames[keys[3]:]
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			r, frames := newRig(t, root, time.Second, time.Hour)
			disk := &fakeDisk{}
			r.m.wrapFile = disk.wrap
			cuts := &cutNotes{notes: r.notes}
			r.m.Notify = cuts
			// Every keyframe after a failure is an attempt: the test
			// follows frames, not the clock (TestResumeBackoff checks
			// the pauses).
			r.m.retryMin, r.m.retryMax = time.Nanosecond, time.Nanosecond
			newSink, err := r.m.NewSink(testKey, "", TypeMP4, Options{Resume: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.e.AttachSink(context.Background(), testKey, SinkName(TypeMP4), newSink); err != nil {
				t.Fatal(err)
			}
			isRecording := func() bool {
				rec, err := r.m.IsRecording(context.Background(), testKey, TypeMP4)
				if err != nil {
					t.Fatal(err)
				}
				return rec
			}
			mp4Files := func() []string {
				files, _ := filepath.Glob(filepath.Join(root, "live", "integrity", "*", "*.mp4"))
				return files
			}
			keys := keyframes(frames)
			if len(keys) < 6 {
				t.Fatalf("clip keyframes at %v, want 6 or more", keys)
			}

			// Up to the third keyframe: the first fragment is written
			// (ftyp and moov in one write, a fragment in three).
			publish(t, r, frames[:keys[2]])
			testutil.Eventually(t, 10*time.Second, "the first fragment on disk", func() bool { return disk.writes.Load() >= 4 })
			// The disk fills: the second fragment fails at the third
			// keyframe.
			disk.full.Store(true)
			publish(t, r, frames[keys[2]:keys[3]])
			testutil.Eventually(t, 10*time.Second, "IsRecording false after the failure", func() bool { return !isRecording() })
			// The fourth keyframe is an attempt; the disk is still full.
			refused := disk.refused.Load()
			publish(t, r, frames[keys[3]:keys[4]])
			testutil.Eventually(t, 10*time.Second, "an attempt refused by the full disk", func() bool { return disk.refused.Load() > refused })
			if files := mp4Files(); len(files) != 1 {
				t.Fatalf("files while the disk is full: %q, want the cut one alone; log:\n%s", files, r.log.String())
			}
			cut := mp4Files()[0]

			want := tc.then(t, r, disk, frames, keys)

			// The cut file, and the new one if any.
			files := mp4Files()
			wantFiles := 1
			if want != nil {
				wantFiles = 2
			}
			if len(files) != wantFiles || !slices.Contains(files, cut) {
				t.Fatalf("files %q, want %d, the cut %s among them", files, wantFiles, cut)
			}
			files = append([]string{cut}, slices.DeleteFunc(files, func(f string) bool { return f == cut })...)
			// The cut file plays up to its last whole fragment: from
			// the clip's first keyframe to its second.
			if v := videoOf(readBack(t, cut).Frames); len(v) != len(videoOf(frames[keys[0]:keys[1]])) || !v[0].Key {
				t.Errorf("%s: %d video frames, want the first fragment's %d", cut, len(v), len(videoOf(frames[keys[0]:keys[1]])))
			}
			// The cut file is told to the index, the attempt's empty
			// one is not.
			if c := cuts.getCuts(); len(c) != 1 || c[0] != cut {
				t.Errorf("cut files told %q, want %s alone", c, cut)
			}
			mp4s, _ := r.notes.get()
			if want == nil {
				if len(mp4s) != 0 {
					t.Errorf("on_record_mp4 for %v, want none", mp4s)
				}
			} else {
				// The new file, finished and notified: the video from its
				// keyframe on, and the audio, with at most a second held
				// from before it.
				if len(mp4s) != 1 || mp4s[0].FilePath != files[1] {
					t.Errorf("on_record_mp4 for %v, want the new file %s alone", mp4s, files[1])
				}
				got := readBack(t, files[1])
				v := videoOf(got.Frames)
				if len(v) != len(videoOf(want)) || !v[0].Key {
					t.Errorf("%s: %d video frames, want %d from the keyframe at %v", files[1], len(v), len(videoOf(want)), want[0].DTS)
				}
				audio, wantAudio := len(got.Frames)-len(v), len(want)-len(videoOf(want))
				if audio < wantAudio || audio > wantAudio+50 {
					t.Errorf("%s: %d audio frames, want %d and at most a second more", files[1], audio, wantAudio)
				}
			}
			probeFiles(t, files)

			// One line per change of state, none per attempt.
			if l := r.lines("mp4 recording failed"); len(l) != 1 || !strings.Contains(l[0], "level=ERROR") ||
				!strings.Contains(l[0], "file="+cut) || !strings.Contains(l[0], syscall.ENOSPC.Error()) {
				t.Errorf("failure lines %q, want one error naming %s and the cause", l, cut)
			}
			if l := r.lines("level=ERROR"); len(l) != 1 {
				t.Errorf("error lines %q, want the failure's alone", l)
			}
			wantResumed := 0
			if tc.resumed {
				wantResumed = 1
			}
			if l := r.lines("mp4 recording resumed"); len(l) != wantResumed {
				t.Errorf("resumed lines %q, want %d", l, wantResumed)
			}
			if n := r.m.Failures(TypeMP4); n != 1 {
				t.Errorf("Failures(mp4) = %d, want 1", n)
			}
			r.m.downMu.Lock()
			defer r.m.downMu.Unlock()
			if len(r.m.down) != 0 {
				t.Errorf("recordings still waiting to resume: %v", r.m.down)
			}
		})
	}
}

// publish writes frames to the rig's stream.
func publish(t *testing.T, r *rig, frames []*media.Frame) {
	t.Helper()
	for _, f := range frames {
		if err := r.pub.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
}

// TestResumeBackoff: attempts at a new file are spaced retryMin, doubling
// to retryMax, whether the write or the space probe failed, and a probe
// refused leaves nothing behind.
func TestResumeBackoff(t *testing.T) {
	disk := &fakeDisk{}
	dir := t.TempDir()
	rec := &mp4Recorder{
		recorderBase: recorderBase{key: testKey, root: dir, log: slog.New(slog.DiscardHandler)},
		resume:       true, retryMin: time.Hour, retryMax: 4 * time.Hour, wrapFile: disk.wrap,
	}
	errFull := fmt.Errorf("write: %w", syscall.ENOSPC)
	for i, want := range []time.Duration{time.Hour, 2 * time.Hour, 4 * time.Hour, 4 * time.Hour} {
		start := time.Now()
		rec.pause("x.mp4", errFull)
		if rec.down == nil || rec.down.backoff != want || rec.down.next.Before(start.Add(want)) {
			t.Fatalf("failure %d: pause %+v, want %v", i+1, rec.down, want)
		}
		if rec.retryDue() {
			t.Fatalf("failure %d: an attempt due before its pause is over", i+1)
		}
	}
	// The pause is over; the disk is still full: the probe fails, and
	// the next pause is as long as the last.
	disk.full.Store(true)
	rec.down.next = time.Now()
	if rec.retryDue() || rec.down.backoff != 4*time.Hour {
		t.Errorf("attempt on a full disk: due, or pause %v, want 4h", rec.down.backoff)
	}
	if disk.refused.Load() != 1 {
		t.Errorf("%d writes refused, want the probe's", disk.refused.Load())
	}
	disk.full.Store(false)
	rec.down.next = time.Now()
	if !rec.retryDue() {
		t.Error("no attempt once the disk takes writes")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*")); len(left) != 0 {
		t.Errorf("probes left %q", left)
	}
}

// TestIndexerAddCut: a file a write failure cut short is indexed with
// the duration that plays (its whole fragments), under its stream; a
// file that does not read is left out.
func TestIndexerAddCut(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "live", "integrity", "2026-12-04")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "10-20-30.mp4")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tracks, frames := clipframes.Read(t, testClip)
	w, err := mp4.NewWriter(f, tracks, mp4.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Three whole fragments, up to the fourth keyframe; the rest is
	// never written.
	keys := keyframes(frames)
	for _, fr := range frames[:keys[3]+1] {
		if err := w.WriteFrame(fr); err != nil {
			t.Fatal(err)
		}
	}
	garbage := filepath.Join(dir, "10-20-31.mp4")
	if err := os.WriteFile(garbage, []byte("not an mp4"), 0o644); err != nil {
		t.Fatal(err)
	}

	x := NewIndexer(nil)
	x.AddCut(root, path)
	x.AddCut(root, garbage)
	if n := len(x.queue); n != 1 {
		t.Fatalf("%d files queued, want the cut one", n)
	}
	got := <-x.queue
	wantLen := frames[keys[3]].DTS - frames[0].DTS // what the fragments span
	if got.Path != path || got.Stream != StreamName(testKey) || got.Size == 0 ||
		got.Duration < wantLen || got.Duration > wantLen+100*time.Millisecond {
		t.Errorf("indexed %+v, want %s of stream %s lasting about %v", got, path, StreamName(testKey), wantLen)
	}
}
