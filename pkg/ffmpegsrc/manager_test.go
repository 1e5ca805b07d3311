package ffmpegsrc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/backoff"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/store"
)

// TestAddRunsAndPersists: Add answers once the stream is live and the
// task is stored; ffmpeg got each URL as one argument, after the
// template's -re and the protocol whitelist; the list shows the task.
func TestAddRunsAndPersists(t *testing.T) {
	e := newEnv(t, "run", nil)
	var stored []string
	e.m.opts.Waiter = waiterFunc(func(ctx context.Context, key engine.Key) error {
		// The stream is live; nothing is stored before Add answers.
		stored = e.storedKeys()
		return nil
	})
	src := `rtsp://cam.example/a b"c'd`
	dst := "rtmp://127.0.0.1:1935/live/ff x?vhost=v1"
	key, err := e.m.Add(context.Background(), Spec{SrcURL: src, DstURL: dst, Timeout: 5 * time.Second, EnableMP4: true, CmdKey: "ffmpeg.cmd"})
	if err != nil {
		t.Fatal(err)
	}
	if key != Key(dst) {
		t.Fatalf("key %s, want md5 of dst_url %s", key, Key(dst))
	}
	if len(stored) != 0 {
		t.Errorf("stored %v before the stream was live", stored)
	}
	if got := e.storedKeys(); !slices.Equal(got, []string{key}) {
		t.Fatalf("stored %v when Add answered, want [%s]", got, key)
	}
	in := e.running(key)
	argv := e.argvOf(in.PID)
	want := []string{os.Args[0], "-mode", "run", "-dir", e.dir, "-re", "-protocol_whitelist", networkWhitelist, "-i", src, "-c", "copy", "-f", "flv", dst}
	if !slices.Equal(argv, want) {
		t.Fatalf("ffmpeg argv\n got %q\nwant %q", argv, want)
	}
	if in.SrcURL != src || in.DstURL != dst || !in.EnableMP4 || in.EnableHLS || in.CmdKey != "ffmpeg.cmd" || in.Restarts != 0 {
		t.Errorf("listed %+v", in)
	}
	if !strings.Contains(in.Cmd, `"rtsp://cam.example/a b\"c'd"`) {
		t.Errorf("cmd %s does not show the source as one quoted argument", in.Cmd)
	}
	waitFor(t, "stderr in the list", func() bool {
		in, _ = e.info(key)
		return strings.Contains(in.Stderr, "Output #0, flv, to '"+dst+"'")
	})
	if in.Uptime < 0 {
		t.Errorf("uptime %v", in.Uptime)
	}
}

// TestRestartWithBackoff: an ffmpeg that keeps failing is started again
// and again with growing delays; its exit and stderr stay visible.
func TestRestartWithBackoff(t *testing.T) {
	e := newEnv(t, "exit", nil)
	key, err := e.m.Add(context.Background(), spec("rtmp://127.0.0.1/live/flaky"))
	if err != nil {
		t.Fatal(err)
	}
	var in Info
	waitFor(t, "three restarts", func() bool {
		in, _ = e.info(key)
		return in.Restarts >= 3
	})
	if in.LastExit != "exit status 1" {
		t.Errorf("last exit %q", in.LastExit)
	}
	if !strings.Contains(in.Stderr, "Connection refused") || !strings.Contains(in.Stderr, "boom") {
		t.Errorf("stderr tail %q", in.Stderr)
	}
	c := e.m.Counts()
	total := 0
	for _, n := range c.ByState {
		total += n
	}
	if c.Restarts < 3 || total != 1 {
		t.Errorf("counts %+v, want one task and its restarts", c)
	}
	// The delays double up to the policy's maximum, with its jitter.
	for i, d := range retryDelays(t, e.logs.String()) {
		want := min(20*time.Millisecond<<i, 80*time.Millisecond)
		if d < want*9/10-time.Millisecond || d > want*11/10+time.Millisecond {
			t.Errorf("delay %d = %v, want %v within the jitter", i, d, want)
		}
	}
}

// TestRestartEvery: ffmpeg.restart_sec restarts a running ffmpeg at
// once, whatever the backoff, and the old one is gone.
func TestRestartEvery(t *testing.T) {
	e := newEnv(t, "run", func(o *Options) {
		o.Backoff.Min, o.Backoff.Max = time.Hour, time.Hour // a backoff would hang the test
		o.RestartEvery = func() time.Duration { return 50 * time.Millisecond }
	})
	key, err := e.m.Add(context.Background(), spec("rtmp://127.0.0.1/live/every"))
	if err != nil {
		t.Fatal(err)
	}
	first := e.running(key).PID
	var in Info
	waitFor(t, "two restart_sec restarts", func() bool {
		in, _ = e.info(key)
		return in.Restarts >= 2 && in.State == StateRunning
	})
	if in.PID == first || in.LastExit != reasonRestartSec {
		t.Errorf("after restart_sec: %+v (first pid %d)", in.Status, first)
	}
	waitGone(t, first)
}

// retryDelays reads the backoff delays the supervisor logged.
func retryDelays(t *testing.T, log string) []time.Duration {
	var out []time.Duration
	for _, line := range strings.Split(log, "\n") {
		_, v, ok := strings.Cut(line, "retry_in=")
		if !ok {
			continue
		}
		d, err := time.ParseDuration(strings.Fields(v)[0])
		if err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, d)
	}
	return out
}

// TestStableRunResetsBackoff: delays double while ffmpeg keeps failing
// at once; a run that lasted StableAfter starts the schedule over, so a
// source that ran for hours is not held back for the maximum.
func TestStableRunResetsBackoff(t *testing.T) {
	for _, stable := range []bool{false, true} {
		t.Run(fmt.Sprint("stable=", stable), func(t *testing.T) {
			e := newEnv(t, "exit", func(o *Options) {
				o.Backoff = backoff.Policy{Min: 20 * time.Millisecond, Max: time.Hour, Jitter: 0.2}
				o.StableAfter = time.Hour
				if stable {
					o.StableAfter = time.Nanosecond // every run counts as long
				}
			})
			key, err := e.m.Add(context.Background(), spec("rtmp://127.0.0.1/live/stable"))
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "four restarts", func() bool {
				in, _ := e.info(key)
				return in.Restarts >= 4
			})
			delays := retryDelays(t, e.logs.String())
			if len(delays) < 4 {
				t.Fatalf("delays %v", delays)
			}
			for i, d := range delays[:4] {
				want := 20 * time.Millisecond
				if !stable {
					want <<= i
				}
				if d < want*9/10-time.Millisecond || d > want*11/10+time.Millisecond {
					t.Errorf("delay %d = %v, want %v within the jitter (all %v)", i, d, want, delays)
				}
			}
		})
	}
}

// TestStderrTailBounded: a chatty ffmpeg leaves at most the tail, whose
// last line is what a failing Add reports.
func TestStderrTailBounded(t *testing.T) {
	e := newEnv(t, "spam", func(o *Options) {
		o.Backoff.Min, o.Backoff.Max = time.Hour, time.Hour // one run, then backoff
	})
	e.m.opts.Waiter = e.timeoutOnce(func(in Info) bool { return in.State == StateBackoff })
	_, err := e.m.Add(context.Background(), Spec{SrcURL: "rtmp://10.0.0.1/live/src", DstURL: "rtmp://127.0.0.1/live/spam", Timeout: time.Minute})
	if err == nil || !strings.HasSuffix(err.Error(), "ffmpeg: the last word") {
		t.Fatalf("Add: %v, want ffmpeg's last line", err)
	}
	e.m.opts.Waiter = liveAtOnce
	key, err := e.m.Add(context.Background(), spec("rtmp://127.0.0.1/live/spam"))
	if err != nil {
		t.Fatal(err)
	}
	var in Info
	waitFor(t, "a run that wrote everything", func() bool {
		in, _ = e.info(key)
		return in.State == StateBackoff && strings.Contains(in.Stderr, "the last word")
	})
	if len(in.Stderr) > DefaultTailBytes || !strings.HasPrefix(in.Stderr, "frame=") {
		t.Fatalf("stderr tail of %d bytes starting %.20q, want at most %d from a line start", len(in.Stderr), in.Stderr, DefaultTailBytes)
	}
}

// TestDeleteKillsProcessGroup: delete ends ffmpeg and what it started,
// SIGKILL after the grace for one that ignores SIGTERM; the record goes.
func TestDeleteKillsProcessGroup(t *testing.T) {
	for _, mode := range []string{"group", "stubborn"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, mode, nil)
			key, err := e.m.Add(context.Background(), spec("rtmp://127.0.0.1/live/del"))
			if err != nil {
				t.Fatal(err)
			}
			pids := []int{e.running(key).PID}
			e.argvOf(pids[0]) // set up
			if mode == "group" {
				pids = append(pids, e.childOf(pids[0]))
			}
			found, err := e.m.Delete(context.Background(), key)
			if err != nil || !found {
				t.Fatalf("Delete: %v %v", found, err)
			}
			// ffmpeg itself is reaped before Delete answers.
			if alive(pids[0]) {
				t.Errorf("ffmpeg %d alive after Delete answered", pids[0])
			}
			waitGone(t, pids...)
			if killed := strings.Contains(e.logs.String(), "killed"); killed != (mode == "stubborn") {
				t.Errorf("mode %s: SIGKILL logged %v", mode, killed)
			}
			if len(e.m.List()) != 0 || len(e.storedKeys()) != 0 {
				t.Fatalf("after delete: listed %v, stored %v", e.m.List(), e.storedKeys())
			}
			if found, err := e.m.Delete(context.Background(), key); found || err != nil {
				t.Errorf("second Delete: %v %v", found, err)
			}
		})
	}
}

// TestCloseLeavesNoProcess: Close ends every ffmpeg and its children;
// the records stay for the next start; Add fails afterwards.
func TestCloseLeavesNoProcess(t *testing.T) {
	e := newEnv(t, "group", nil)
	var pids []int
	for i := range 4 {
		key, err := e.m.Add(context.Background(), spec(fmt.Sprintf("rtmp://127.0.0.1/live/c%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		pid := e.running(key).PID
		pids = append(pids, pid, e.childOf(pid))
	}
	e.m.Close()
	for i := 0; i < len(pids); i += 2 {
		if alive(pids[i]) {
			t.Errorf("ffmpeg %d alive after Close", pids[i])
		}
	}
	waitGone(t, pids...)
	if n := len(e.storedKeys()); n != 4 {
		t.Errorf("%d records after Close, want 4", n)
	}
	if _, err := e.m.Add(context.Background(), spec("rtmp://127.0.0.1/live/late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close: %v", err)
	}
	e.m.Close() // twice is fine
}

// TestRestoreAfterRestart is failure-modes.md 4 for FFmpeg sources:
// acknowledged sources come back after a restart (the store closed and
// opened again), deleted ones do not.
func TestRestoreAfterRestart(t *testing.T) {
	e := newEnv(t, "run", nil)
	keep, err := e.m.Add(context.Background(), Spec{SrcURL: "rtmp://10.0.0.1/live/a", DstURL: "rtmp://127.0.0.1/live/keep", Timeout: 3 * time.Second, EnableHLS: true})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := e.m.Add(context.Background(), spec("rtmp://127.0.0.1/live/gone"))
	if err != nil {
		t.Fatal(err)
	}
	old := e.running(keep).PID

	e.reopen("run", func(o *Options) { o.Waiter = neverLive }) // Restore does not wait
	waitGone(t, old)
	if len(e.m.List()) != 0 {
		t.Fatal("tasks before Restore")
	}
	if err := e.m.Restore(); err != nil {
		t.Fatal(err)
	}
	in := e.running(keep)
	e.running(gone)
	if in.SrcURL != "rtmp://10.0.0.1/live/a" || !in.EnableHLS || in.Timeout != 3*time.Second {
		t.Errorf("restored %+v", in.Spec)
	}
	if opts, ok := e.m.StreamOptions(engine.NewKey("", "live", "keep")); !ok || opts["enable_hls"] != "1" {
		t.Errorf("restored options %v %v", opts, ok)
	}
	if found, err := e.m.Delete(context.Background(), gone); !found || err != nil {
		t.Fatalf("Delete: %v %v", found, err)
	}

	e.reopen("run", nil)
	if err := e.m.Restore(); err != nil {
		t.Fatal(err)
	}
	e.running(keep)
	if _, ok := e.info(gone); ok {
		t.Fatal("a deleted source came back")
	}
	if got := e.storedKeys(); !slices.Equal(got, []string{keep}) {
		t.Fatalf("stored %v", got)
	}
}

// TestRestoreSkipsRefused: a stored local file the path guard no longer
// admits is not run; delFFmpegSource still removes its record.
func TestRestoreSkipsRefused(t *testing.T) {
	e := newEnv(t, "run", nil)
	outside := filepath.Join(t.TempDir(), "x.flv")
	rec := record{SrcURL: outside, DstURL: "rtmp://127.0.0.1/live/old", TimeoutMS: 1000}
	key := Key(rec.DstURL)
	if err := e.store.PutTask(store.KindFFmpeg, key, rec); err != nil {
		t.Fatal(err)
	}
	if err := e.store.PutTask(store.KindFFmpeg, "garbage", "not a record"); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Restore(); err != nil {
		t.Fatal(err)
	}
	if len(e.m.List()) != 0 {
		t.Fatalf("refused records run: %+v", e.m.List())
	}
	if !strings.Contains(e.logs.String(), "stored ffmpeg source refused") {
		t.Errorf("no warning logged:\n%s", e.logs.String())
	}
	if found, err := e.m.Delete(context.Background(), key); !found || err != nil {
		t.Fatalf("Delete of a stored record: %v %v", found, err)
	}
	if got := e.storedKeys(); !slices.Equal(got, []string{"garbage"}) {
		t.Fatalf("stored %v", got)
	}
}

// TestAddTimeoutRemovesTask: a stream that never comes fails Add with
// ffmpeg's last line; nothing is left running or stored.
func TestAddTimeoutRemovesTask(t *testing.T) {
	e := newEnv(t, "exit", nil)
	// Time out once a restarted run has written its last line: the tail
	// keeps every run's lines, and a run just started may have written
	// only its first.
	e.m.opts.Waiter = e.timeoutOnce(func(in Info) bool {
		return in.Restarts >= 1 && strings.Contains(lastLine(in.Stderr), "Connection refused")
	})
	_, err := e.m.Add(context.Background(), Spec{SrcURL: "rtmp://10.0.0.1/live/src", DstURL: "rtmp://127.0.0.1/live/late", Timeout: time.Minute})
	if err == nil {
		t.Fatal("Add succeeded")
	}
	for _, want := range []string{"rtmp://127.0.0.1/live/late", "not live within 1m0s", "Connection refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if len(e.m.List()) != 0 || len(e.storedKeys()) != 0 {
		t.Fatalf("after a timeout: listed %v, stored %v", e.m.List(), e.storedKeys())
	}

	// A running ffmpeg is ended too.
	e.m.opts.Cmd = strings.Replace(e.m.opts.Cmd, "-mode exit", "-mode run", 1)
	e.m.opts.Waiter = e.timeoutOnce(func(in Info) bool { return strings.Contains(in.Stderr, "Output #0") })
	_, err = e.m.Add(context.Background(), Spec{SrcURL: "rtmp://10.0.0.1/live/src", DstURL: "rtmp://127.0.0.1/live/late", Timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "ffmpeg: Output #0, flv, to 'rtmp://127.0.0.1/live/late':") {
		t.Fatalf("Add: %v", err)
	}
	if len(e.m.List()) != 0 {
		t.Fatal("a timed out source is listed")
	}
	// Its pid is in the argv file the fake wrote.
	files, _ := filepath.Glob(filepath.Join(e.dir, "argv-*.json"))
	for _, f := range files {
		var pid int
		fmt.Sscanf(filepath.Base(f), "argv-%d.json", &pid)
		if alive(pid) {
			t.Errorf("ffmpeg %d alive after Add failed", pid)
		}
	}
}

// TestDeleteWhileAddWaits: deleting a source whose Add still waits ends
// both at once.
func TestDeleteWhileAddWaits(t *testing.T) {
	e := newEnv(t, "run", func(o *Options) { o.Waiter = neverLive })
	dst := "rtmp://127.0.0.1/live/pending"
	done := make(chan error, 1)
	go func() {
		_, err := e.m.Add(context.Background(), Spec{SrcURL: "rtmp://10.0.0.1/live/src", DstURL: dst, Timeout: time.Minute, EnableMP4: true})
		done <- err
	}()
	pid := e.running(Key(dst)).PID
	// A publisher arriving now gets the pending source's options.
	if opts, ok := e.m.StreamOptions(engine.NewKey("", "live", "pending")); !ok || opts["enable_mp4"] != "1" || opts["enable_hls"] != "0" {
		t.Errorf("options of a pending source: %v %v", opts, ok)
	}
	found, err := e.m.Delete(context.Background(), Key(dst))
	if err != nil || !found {
		t.Fatalf("Delete: %v %v", found, err)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "deleted before its stream was live") {
		t.Fatalf("Add: %v", err)
	}
	if alive(pid) || len(e.m.List()) != 0 || len(e.storedKeys()) != 0 {
		t.Fatalf("after delete: pid %d alive %v, listed %v, stored %v", pid, alive(pid), e.m.List(), e.storedKeys())
	}
}

// TestAddCancelled: a caller that goes away removes its source.
func TestAddCancelled(t *testing.T) {
	e := newEnv(t, "run", func(o *Options) { o.Waiter = neverLive })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.m.Add(ctx, spec("rtmp://127.0.0.1/live/gone"))
		done <- err
	}()
	pid := e.running(Key("rtmp://127.0.0.1/live/gone")).PID
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Add: %v", err)
	}
	if alive(pid) || len(e.m.List()) != 0 {
		t.Fatal("a cancelled Add left its source")
	}
}

// TestAddSameDestination: the key is the destination's; a second Add
// answers with it once the first source is live, and runs nothing more.
func TestAddSameDestination(t *testing.T) {
	e := newEnv(t, "run", nil)
	release := make(chan struct{})
	e.m.opts.Waiter = waiterFunc(func(ctx context.Context, key engine.Key) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	dst := "rtmp://127.0.0.1/live/same"
	keys := make(chan string, 2)
	errs := make(chan error, 2)
	for _, src := range []string{"rtmp://10.0.0.1/live/a", "rtmp://10.0.0.1/live/b"} {
		go func() {
			key, err := e.m.Add(context.Background(), Spec{SrcURL: src, DstURL: dst, Timeout: 10 * time.Second})
			keys <- key
			errs <- err
		}()
	}
	e.running(Key(dst))
	close(release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		if key := <-keys; key != Key(dst) {
			t.Fatalf("key %s", key)
		}
	}
	if n := len(e.m.List()); n != 1 {
		t.Fatalf("%d sources for one destination", n)
	}
}

// TestRefusedSpecs: nothing runs for a refused source or destination,
// and the error names what was refused.
func TestRefusedSpecs(t *testing.T) {
	e := newEnv(t, "run", nil)
	for _, s := range []Spec{
		{SrcURL: "concat:/etc/passwd|/etc/shadow", DstURL: "rtmp://127.0.0.1/live/x", Timeout: time.Second},
		{SrcURL: "/etc/passwd", DstURL: "rtmp://127.0.0.1/live/x", Timeout: time.Second},
		{SrcURL: "rtmp://10.0.0.1/live/a", DstURL: "/tmp/out.flv", Timeout: time.Second},
		{SrcURL: "rtmp://10.0.0.1/live/a", DstURL: "file:/tmp/out.flv", Timeout: time.Second},
		{SrcURL: "rtmp://10.0.0.1/live/a", DstURL: "rtmp://127.0.0.1/live/x", Timeout: 0},
	} {
		_, err := e.m.Add(context.Background(), s)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "add ffmpeg source "+s.DstURL) {
			t.Errorf("%+v: %v", s, err)
		}
	}
	if entries, _ := os.ReadDir(e.dir); len(entries) != 0 || len(e.m.List()) != 0 {
		t.Fatalf("a refused source ran: %v", entries)
	}
}

// TestRemoteDestination: a destination on another server cannot be
// watched; as in ZLMediaKit, Add succeeds if ffmpeg still runs after the
// timeout, and fails if it does not. (3 s: starting the stand-in ffmpeg
// took over 200 ms on a loaded machine.)
func TestRemoteDestination(t *testing.T) {
	remote := func(o *Options) {
		o.IsLocal = func(dst string) bool { return strings.HasPrefix(dst, "rtmp://127.0.0.1/") }
		o.Waiter = neverLive
	}
	e := newEnv(t, "run", remote)
	key, err := e.m.Add(context.Background(), Spec{SrcURL: "rtmp://10.0.0.1/live/a", DstURL: "rtmp://push.example/live/x", Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.running(key)

	// An executable that cannot start leaves the task in backoff at once.
	e2 := newEnv(t, "run", func(o *Options) {
		remote(o)
		o.Bin = filepath.Join(t.TempDir(), "no-ffmpeg")
		o.Backoff.Min, o.Backoff.Max = time.Hour, time.Hour
	})
	_, err = e2.m.Add(context.Background(), Spec{SrcURL: "rtmp://10.0.0.1/live/a", DstURL: "rtmp://push.example/live/x", Timeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "ffmpeg not running after 1s; ffmpeg: mediakit: cannot start") {
		t.Fatalf("Add of an ffmpeg that cannot start: %v", err)
	}
}

// TestCounts: tasks by state for /metrics.
func TestCounts(t *testing.T) {
	e := newEnv(t, "run", nil)
	for i := range 3 {
		key, err := e.m.Add(context.Background(), spec(fmt.Sprintf("rtmp://127.0.0.1/live/n%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		e.running(key)
	}
	c := e.m.Counts()
	if c.ByState[StateRunning] != 3 || c.Restarts != 0 {
		t.Fatalf("counts %+v", c)
	}
	if _, ok := e.m.StreamOptions(engine.NewKey("", "live", "other")); ok {
		t.Error("options for a stream no source names")
	}
}

// TestAddDeleteStorm: adds and deletes of a few destinations from many
// goroutines. Afterwards the store holds exactly what runs (no
// acknowledged add erased by a delete racing with it, no deleted source
// left stored), and once everything is deleted no process is left.
func TestAddDeleteStorm(t *testing.T) {
	e := newEnv(t, "run", func(o *Options) { o.StopGrace = time.Second })
	dsts := []string{"rtmp://127.0.0.1/live/s0", "rtmp://127.0.0.1/live/s1", "rtmp://127.0.0.1/live/s2"}
	var mu sync.Mutex
	pids := map[int]bool{}
	var wg sync.WaitGroup
	for w := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				dst := dsts[(w+i)%len(dsts)]
				if (w+i)%2 == 0 {
					if key, err := e.m.Add(context.Background(), spec(dst)); err == nil {
						if in, ok := e.info(key); ok && in.PID > 0 {
							mu.Lock()
							pids[in.PID] = true
							mu.Unlock()
						}
					} else if !strings.Contains(err.Error(), "deleted before") && !strings.Contains(err.Error(), "ended before") {
						t.Errorf("Add %s: %v", dst, err)
					}
				} else if _, err := e.m.Delete(context.Background(), Key(dst)); err != nil {
					t.Errorf("Delete %s: %v", dst, err)
				}
			}
		}()
	}
	wg.Wait()
	var listed []string
	for _, in := range e.m.List() {
		listed = append(listed, in.Key)
	}
	if stored := e.storedKeys(); !slices.Equal(listed, stored) {
		t.Fatalf("listed %v, stored %v", listed, stored)
	}
	for _, dst := range dsts {
		if _, err := e.m.Delete(context.Background(), Key(dst)); err != nil {
			t.Fatal(err)
		}
	}
	for pid := range pids {
		if alive(pid) {
			t.Errorf("ffmpeg %d alive after every source was deleted", pid)
		}
	}
	if len(e.m.List()) != 0 || len(e.storedKeys()) != 0 {
		t.Fatal("sources left")
	}
}

// TestLogRedacted: credentials in the URLs, which ffmpeg repeats in its
// messages, reach the API's caller (who gave them) but not the log.
func TestLogRedacted(t *testing.T) {
	e := newEnv(t, "exit", nil)
	src := "rtsp://admin:s3cret@10.0.0.9/Streaming/Channels/101"
	key, err := e.m.Add(context.Background(), Spec{SrcURL: src, DstURL: "rtmp://127.0.0.1/live/r?token=t0k3n", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a restart", func() bool {
		in, _ := e.info(key)
		return in.Restarts >= 1 && strings.Contains(in.Stderr, src+": Connection refused")
	})
	if _, err := e.m.Delete(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	log := e.logs.String()
	if strings.Contains(log, "s3cret") || strings.Contains(log, "t0k3n") {
		t.Fatalf("credentials in the log:\n%s", log)
	}
	if !strings.Contains(log, "rtsp://***@10.0.0.9/Streaming/Channels/101: Connection refused") {
		t.Errorf("ffmpeg's line is not logged, redacted:\n%s", log)
	}
}
