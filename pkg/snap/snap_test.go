package snap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// fakeEnv makes the test binary act as ffmpeg; its children inherit it.
const fakeEnv = "MEDIAKIT_FAKE_FFMPEG_SNAP"

func TestMain(m *testing.M) {
	if os.Getenv(fakeEnv) != "" && slices.Contains(os.Args, "-mode") {
		os.Exit(fakeFFmpeg(os.Args[1:]))
	}
	os.Setenv(fakeEnv, "1")
	// A race-enabled fake would otherwise linger a second at exit.
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	goleak.VerifyTestMain(m)
}

// fakeJPEG is what the fake writes: a JPEG to readJPEG (SOI ... EOI).
func fakeJPEG(n int) []byte { return fmt.Appendf([]byte{0xff, 0xd8}, "fake %d\xff\xd9", n) }

// fakeFFmpeg behaves as "-mode" says, after writing DIR/run-PID with its
// argv (one line each):
//
//	ok     write fakeJPEG(pid) to the output (the last argument), exit 0
//	empty  exit 0 writing nothing
//	fail   write an error to stderr, exit 1
//	hang   start a child in its group (DIR/child-PID holds its pid),
//	       then sleep until killed
//	slow   sleep 300 ms, then as ok
//	child  sleep until killed
func fakeFFmpeg(args []string) int {
	opt := func(name string) string {
		for i := 0; i+1 < len(args); i++ {
			if args[i] == name {
				return args[i+1]
			}
		}
		return ""
	}
	mode, dir, pid := opt("-mode"), opt("-dir"), os.Getpid()
	if mode == "child" {
		time.Sleep(time.Hour)
		return 0
	}
	out := args[len(args)-1]
	switch mode {
	case "hang":
		c := exec.Command(os.Args[0], "-mode", "child")
		if err := c.Start(); err != nil {
			return 2
		}
		_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("child-%d", pid)), []byte(strconv.Itoa(c.Process.Pid)), 0o644)
	case "slow":
		time.Sleep(300 * time.Millisecond)
	}
	_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("run-%d", pid)), []byte(strings.Join(append([]string{os.Args[0]}, args...), "\n")), 0o644)
	switch mode {
	case "ok", "slow":
		if err := os.WriteFile(out, fakeJPEG(pid), 0o644); err != nil {
			return 3
		}
		return 0
	case "empty":
		return 0
	case "fail":
		fmt.Fprintf(os.Stderr, "%s: Connection refused\n", opt("-i"))
		return 1
	case "hang":
		time.Sleep(time.Hour)
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown mode %q\n", mode)
	return 2
}

type env struct {
	t    *testing.T
	dir  string // the fake's run files
	data string // data dir: snapshots in data/snap, local files confined to data
	s    *Snapper
}

func newEnv(t *testing.T, mode string) *env {
	e := &env{t: t, dir: t.TempDir(), data: t.TempDir()}
	e.setMode(mode)
	return e
}

// setMode replaces the snapper with one whose fake runs in mode, over
// the same cache.
func (e *env) setMode(mode string) {
	e.s = New(Options{
		Bin:      os.Args[0],
		Template: "%s -mode " + mode + " -dir " + e.dir + " -i %s -y -f mjpeg -frames:v 1 -an %s",
		Dir:      filepath.Join(e.data, "snap"),
		Confine:  dataGuard(e.data),
		Grace:    200 * time.Millisecond,
	})
}

// dataGuard confines local files to root, as the server's PathGuard.
func dataGuard(root string) func(string) (string, error) {
	return func(p string) (string, error) {
		if !filepath.IsAbs(p) {
			p = filepath.Join(root, p)
		}
		p = filepath.Clean(p)
		if p != root && !strings.HasPrefix(p, root+string(filepath.Separator)) {
			return "", fmt.Errorf("path %q is outside the data dir", p)
		}
		return p, nil
	}
}

func (e *env) snap(url string, timeout, expire time.Duration) Result {
	e.t.Helper()
	res, err := e.s.Snap(context.Background(), Request{URL: url, Timeout: timeout, Expire: expire})
	if err != nil {
		e.t.Fatalf("Snap(%s): %v", url, err)
	}
	return res
}

// runs returns the argv of every fake run so far, by pid.
func (e *env) runs() map[int][]string {
	e.t.Helper()
	out := map[int][]string{}
	matches, _ := filepath.Glob(filepath.Join(e.dir, "run-*"))
	for _, m := range matches {
		pid, _ := strconv.Atoi(strings.TrimPrefix(filepath.Base(m), "run-"))
		b, err := os.ReadFile(m)
		if err != nil {
			e.t.Fatal(err)
		}
		out[pid] = strings.Split(string(b), "\n")
	}
	return out
}

// onlyRun returns the pid and argv of the one run so far.
func (e *env) onlyRun() (int, []string) {
	e.t.Helper()
	runs := e.runs()
	if len(runs) != 1 {
		e.t.Fatalf("%d ffmpeg runs, want 1", len(runs))
	}
	for pid, argv := range runs {
		return pid, argv
	}
	return 0, nil
}

const src = "rtsp://admin:pw@10.0.0.1/cam"

func TestSnapTakesAndCaches(t *testing.T) {
	e := newEnv(t, "ok")
	res := e.snap(src, 5*time.Second, 10*time.Second)
	pid, argv := e.onlyRun()
	if !bytes.Equal(res.JPEG, fakeJPEG(pid)) || res.Default || res.Cached || res.Err != nil {
		t.Fatalf("first snap: %q default=%v cached=%v err=%v", res.JPEG, res.Default, res.Cached, res.Err)
	}
	// The template split on white space, filled field by field; the
	// source's protocols restricted; output a temporary file in the cache.
	i := slices.Index(argv, "-i")
	if i < 2 || argv[i+1] != src || argv[i-2] != "-protocol_whitelist" || strings.Contains(argv[i-1], "file") {
		t.Errorf("argv %q: want -protocol_whitelist NETWORK -i %s", argv, src)
	}
	out := argv[len(argv)-1]
	if filepath.Dir(out) != filepath.Join(e.data, "snap") || !strings.HasSuffix(out, tmpSuffix) {
		t.Errorf("output %q: want a temporary file in the cache", out)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("temporary file %s left behind: %v", out, err)
	}
	cached, err := os.ReadFile(filepath.Join(e.data, "snap", Key(src)+".jpeg"))
	if err != nil || !bytes.Equal(cached, res.JPEG) {
		t.Fatalf("cache file: %q, %v", cached, err)
	}

	// Younger than expire: from the cache, no ffmpeg.
	res = e.snap(src, 5*time.Second, 10*time.Second)
	if !res.Cached || !bytes.Equal(res.JPEG, fakeJPEG(pid)) || len(e.runs()) != 1 {
		t.Fatalf("second snap: cached=%v runs=%d", res.Cached, len(e.runs()))
	}
	// Older than expire: a new snapshot. The sleep ages the cache entry,
	// which a slow machine only ages more: a precondition, not a wait.
	time.Sleep(20 * time.Millisecond)
	res = e.snap(src, 5*time.Second, 10*time.Millisecond)
	if res.Cached || len(e.runs()) != 2 || bytes.Equal(res.JPEG, fakeJPEG(pid)) {
		t.Fatalf("expired snap: cached=%v runs=%d", res.Cached, len(e.runs()))
	}
	// Another URL has its own entry.
	res = e.snap(src+"2", 5*time.Second, time.Hour)
	if res.Cached || len(e.runs()) != 3 {
		t.Fatalf("other url: cached=%v runs=%d", res.Cached, len(e.runs()))
	}
}

func TestTimeoutKillsWholeGroup(t *testing.T) {
	e := newEnv(t, "hang")
	start := time.Now()
	res := e.snap(src, 500*time.Millisecond, time.Minute)
	took := time.Since(start)
	if !res.Default || !bytes.Equal(res.JPEG, defaultJPEG) || res.Err == nil || !strings.Contains(res.Err.Error(), "timed out") {
		t.Fatalf("hung ffmpeg: default=%v err=%v", res.Default, res.Err)
	}
	// timeout, then at most the grace (SIGTERM is not ignored here). The
	// upper bound only catches a timeout not applied (the fake hangs for
	// an hour), not a slow machine.
	if took < 500*time.Millisecond || took > 10*time.Second {
		t.Errorf("answered after %v, want about the 500ms timeout", took)
	}
	pid, _ := e.onlyRun()
	b, err := os.ReadFile(filepath.Join(e.dir, fmt.Sprintf("child-%d", pid)))
	if err != nil {
		t.Fatal(err)
	}
	child, _ := strconv.Atoi(string(b))
	// Snap returned only once ffmpeg was reaped; its child, in its
	// group, was killed with it.
	if alive(pid) {
		t.Errorf("ffmpeg %d still running", pid)
	}
	waitGone(t, child)
	tmps, _ := filepath.Glob(filepath.Join(e.data, "snap", "*"+tmpSuffix))
	if len(tmps) > 0 {
		t.Errorf("temporary files left: %q", tmps)
	}
}

func TestFailureGivesDefaultAndIsRemembered(t *testing.T) {
	for _, mode := range []string{"fail", "empty"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, mode)
			res := e.snap(src, 5*time.Second, time.Hour)
			if !res.Default || !bytes.Equal(res.JPEG, defaultJPEG) || res.Err == nil {
				t.Fatalf("failed snap: default=%v err=%v", res.Default, res.Err)
			}
			// As ZLMediaKit, the failure is kept for expire_sec: a dead
			// camera is not asked again on every call.
			res = e.snap(src, 5*time.Second, time.Hour)
			if !res.Default || !res.Cached || len(e.runs()) != 1 {
				t.Fatalf("second call: default=%v cached=%v runs=%d", res.Default, res.Cached, len(e.runs()))
			}
			res = e.snap(src, 5*time.Second, 0)
			if !res.Default || res.Cached || len(e.runs()) != 2 {
				t.Fatalf("expired: default=%v cached=%v runs=%d", res.Default, res.Cached, len(e.runs()))
			}
		})
	}
}

func TestFailureGivesPreviousSnapshot(t *testing.T) {
	e := newEnv(t, "ok")
	first := e.snap(src, 5*time.Second, 0)
	e.setMode("fail")
	time.Sleep(10 * time.Millisecond) // ages the entry past the 1ms expire below
	res := e.snap(src, 5*time.Second, time.Millisecond)
	if res.Default || !bytes.Equal(res.JPEG, first.JPEG) || res.Err == nil {
		t.Fatalf("failed snap after a good one: default=%v same=%v err=%v", res.Default, bytes.Equal(res.JPEG, first.JPEG), res.Err)
	}
	// ... kept for expire from the failure.
	res = e.snap(src, 5*time.Second, time.Hour)
	if !res.Cached || len(e.runs()) != 2 || !bytes.Equal(res.JPEG, first.JPEG) {
		t.Fatalf("after failure: cached=%v runs=%d", res.Cached, len(e.runs()))
	}
}

func TestConcurrentCallsShareOneRun(t *testing.T) {
	e := newEnv(t, "slow")
	var wg sync.WaitGroup
	results := make([]Result, 8)
	for i := range results {
		wg.Go(func() { results[i] = e.snap(src, 5*time.Second, 0) })
	}
	wg.Wait()
	pid, _ := e.onlyRun()
	for i, r := range results {
		if !bytes.Equal(r.JPEG, fakeJPEG(pid)) {
			t.Errorf("call %d: %q", i, r.JPEG)
		}
	}
}

func TestWaiterGoesAwayAlone(t *testing.T) {
	e := newEnv(t, "slow")
	done := make(chan Result)
	go func() { done <- e.snap(src, 5*time.Second, 0) }()
	waitFor(t, "the first run", func() bool {
		e.s.mu.Lock()
		defer e.s.mu.Unlock()
		return len(e.s.running) == 1
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.s.Snap(ctx, Request{URL: src, Timeout: 5 * time.Second}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled waiter: %v", err)
	}
	if r := <-done; r.Default || r.Err != nil {
		t.Errorf("first call: default=%v err=%v", r.Default, r.Err)
	}
}

func TestRefusedURLs(t *testing.T) {
	e := newEnv(t, "ok")
	outside := filepath.Join(t.TempDir(), "clip.flv")
	for _, url := range []string{
		"",
		"concat:/etc/passwd|/etc/passwd",
		"pipe:0",
		"subfile:,,start,0,end,0,,:/etc/passwd",
		"ftp://example.com/x",
		"tcp://0.0.0.0:9000?listen=1",
		"srt://0.0.0.0:9000?mode=listener",
		outside,
		"file:" + outside,
		"../../etc/passwd",
		"rtmp://host/live/a\nforged",
	} {
		_, err := e.s.Snap(context.Background(), Request{URL: url, Timeout: time.Second})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Snap(%q): %v, want ErrInvalid", url, err)
		}
	}
	if n := len(e.runs()); n != 0 {
		t.Fatalf("%d ffmpeg runs for refused urls", n)
	}
	if _, err := os.Stat(filepath.Join(e.data, "snap")); !os.IsNotExist(err) {
		t.Errorf("refused urls created the cache dir: %v", err)
	}

	// A local file the guard admits is given as file:ABSOLUTE, file
	// protocol only.
	res := e.snap("clip.flv", 5*time.Second, 0)
	_, argv := e.onlyRun()
	i := slices.Index(argv, "-i")
	if res.Default || argv[i+1] != "file:"+filepath.Join(e.data, "clip.flv") || argv[i-1] != "file" {
		t.Errorf("local file: default=%v argv %q", res.Default, argv)
	}
}

func TestBadTemplate(t *testing.T) {
	s := New(Options{Bin: os.Args[0], Template: "%s -i %s", Dir: t.TempDir()})
	if _, err := s.Snap(context.Background(), Request{URL: src, Timeout: time.Second}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("template with two %%s: %v", err)
	}
}

func TestMissingFFmpegGivesDefault(t *testing.T) {
	s := New(Options{Bin: filepath.Join(t.TempDir(), "no-ffmpeg"), Dir: t.TempDir()})
	res, err := s.Snap(context.Background(), Request{URL: src, Timeout: time.Second})
	if err != nil || !res.Default || res.Err == nil {
		t.Fatalf("no ffmpeg: default=%v err=%v, %v", res.Default, res.Err, err)
	}
}

func TestNewRemovesTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, Key(src)+".123"+tmpSuffix)
	keep := filepath.Join(dir, Key(src)+".jpeg")
	for _, p := range []string{stale, keep} {
		if err := os.WriteFile(p, fakeJPEG(1), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	New(Options{Dir: dir})
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file: %v", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("snapshot removed: %v", err)
	}
}

func TestDefaultIsAJPEG(t *testing.T) {
	if len(defaultJPEG) < 100 || defaultJPEG[0] != 0xff || defaultJPEG[1] != 0xd8 ||
		!bytes.HasSuffix(defaultJPEG, []byte{0xff, 0xd9}) {
		t.Fatalf("default image is not a JPEG (%d bytes)", len(defaultJPEG))
	}
	d := Default()
	d[0] = 0
	if defaultJPEG[0] != 0xff {
		t.Fatal("Default returned the embedded bytes themselves")
	}
}

// alive reports whether pid is a live process (a zombie counts as gone).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		waitFor(t, fmt.Sprintf("process %d to end", pid), func() bool { return !alive(pid) })
	}
}

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
