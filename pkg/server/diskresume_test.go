//go:build linux

package server

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/record"
)

// TestEnableMP4ResumesWhenSpaceReturns: a stream recorded because of
// protocol.enable_mp4 fills the recording root (a real 2 MiB tmpfs). The
// recording stops with one error line naming the file and the cause,
// isRecording turns false, the server goes on; once space returns the
// recording resumes by itself, with no startRecord, in a new file (one
// line), while the file the full disk cut stays, playable, and joins the
// recording index. Mounting needs root: elsewhere the test skips.
func TestEnableMP4ResumesWhenSpaceReturns(t *testing.T) {
	testutil.RequireFFmpeg(t)
	data := t.TempDir()
	root := filepath.Join(data, "record")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", root, "tmpfs", 0, "size=2m"); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			t.Skipf("mounting a tmpfs is not permitted here (%v): run as root", err)
		}
		t.Fatalf("mount tmpfs on %s: %v", root, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(root, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", root, err)
		}
	})
	// Fill all but ~200 KiB: about four seconds of the clip.
	var st syscall.Statfs_t
	if err := syscall.Statfs(root, &st); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(root, "filler")
	if err := os.WriteFile(filler, make([]byte, int64(st.Bavail)*st.Bsize-200<<10), 0o644); err != nil {
		t.Fatal(err)
	}

	ts := startServer(t, func(c *config.Config) {
		c.General.DataDir = data
		c.Protocol.EnableMP4 = true
		c.Protocol.MP4MaxSecond = time.Hour
		c.Protocol.ContinuePush = 0
	})
	const stream = "resume"
	key := engine.NewKey("", "live", stream)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	published := make(chan error, 1)
	go func() {
		// Twice real time, for longer than the test needs: it ends the
		// publisher itself.
		published <- goPublish(ctx, ts.rtmpURL+"/live/"+stream, readClipFrames(t), 20, 2, func(lap int, d time.Duration) time.Duration {
			return time.Duration(lap)*6040*time.Millisecond + d
		})
	}()
	isRecording := func() bool {
		rec, err := ts.records.IsRecording(context.Background(), key, record.TypeMP4)
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	logLines := func(parts ...string) []string {
		var out []string
		for _, l := range strings.Split(ts.logs.String(), "\n") {
			if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(l, p) }) {
				out = append(out, l)
			}
		}
		return out
	}
	mp4s := func() []string {
		files, _ := filepath.Glob(filepath.Join(root, "live", stream, "*", "*.mp4"))
		return files
	}

	testutil.Eventually(t, 30*time.Second, "the recording to fail on the full disk", func() bool {
		return len(logLines("mp4 recording failed", "no space left on device")) > 0
	})
	if l := logLines("mp4 recording failed"); len(l) != 1 || !strings.Contains(l[0], "level=ERROR") ||
		!strings.Contains(l[0], filepath.Join(root, "live", stream)) {
		t.Errorf("failure lines %q: want one error naming the file", l)
	}
	testutil.Eventually(t, 10*time.Second, "isRecording false", func() bool { return !isRecording() })
	if code, _ := ts.get(t, "/healthz"); code != 200 {
		t.Errorf("healthz %d on a full disk", code)
	}
	files := mp4s()
	if len(files) != 1 {
		t.Fatalf("MP4 files after the failure: %q", files)
	}
	cut := files[0]

	// Space returns: no startRecord; the recording resumes by itself.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 40*time.Second, "the recording to resume", func() bool {
		return len(logLines("mp4 recording resumed")) > 0
	})
	testutil.Eventually(t, 10*time.Second, "isRecording true", isRecording)
	var resumed string
	testutil.Eventually(t, 20*time.Second, "a new MP4 file with two seconds in it", func() bool {
		for _, f := range mp4s() {
			if fi, err := os.Stat(f); f != cut && err == nil && fi.Size() > 150<<10 {
				resumed = f
				return true
			}
		}
		return false
	})
	cancel() // the publisher leaves: the stream ends, the file is finished
	if err := <-published; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("publisher: %v", err)
	}
	testutil.Eventually(t, 20*time.Second, "the recording to stop", func() bool { return len(logLines("recording stopped")) > 0 })

	if l := logLines("mp4 recording resumed"); len(l) != 1 || !strings.Contains(l[0], resumed) {
		t.Errorf("resumed lines %q, want one naming %s", l, resumed)
	}
	if l := logLines("level=ERROR", "record=mp4"); len(l) != 1 {
		t.Errorf("recording error lines %q, want the failure's alone", l)
	}
	if files := mp4s(); len(files) != 2 {
		t.Errorf("MP4 files %q, want the cut one and the resumed one", files)
	}
	probeCtx, probeCancel := context.WithTimeout(context.Background(), time.Minute)
	defer probeCancel()
	for _, f := range []string{cut, resumed} {
		if p, err := testutil.FFprobe(probeCtx, t, f); err != nil || p.Video() == nil || p.Video().NbReadFrames == 0 || p.Format.Duration < 1.5 {
			t.Errorf("%s: %v %+v", f, err, p)
		}
	}
	// Both are in the recording index: the cut one told by the
	// recorder, the resumed one when it finished.
	testutil.Eventually(t, 10*time.Second, "both files in the recording index", func() bool {
		recs, err := ts.store.Recordings(record.StreamName(key), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for _, r := range recs {
			paths = append(paths, r.Path)
		}
		return slices.Contains(paths, cut) && slices.Contains(paths, resumed)
	})
}
