package ffmpegsrc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mediakit/mediakit/internal/backoff"
	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/store"
)

// fakeEnv makes the test binary act as ffmpeg: the tests run it as
// ffmpeg.bin, and its children inherit the variable.
const fakeEnv = "MEDIAKIT_FAKE_FFMPEG"

func TestMain(m *testing.M) {
	// The fuzzing engine re-runs this binary too, with test flags.
	if os.Getenv(fakeEnv) != "" && slices.Contains(os.Args, "-mode") {
		os.Exit(fakeFFmpeg(os.Args[1:]))
	}
	os.Setenv(fakeEnv, "1")
	goleak.VerifyTestMain(m)
}

// fakeFFmpeg behaves as the template's "-mode" says:
//
//	run       write argv to DIR/argv-PID.json, a few stderr lines, then run until killed
//	group     as run, and start a child (DIR/child-PID holds its pid) in the same group
//	stubborn  as run, ignoring SIGTERM
//	exit      write "boom" lines and "SRC: Connection refused" to stderr, exit 1
//	spam      write 200 KiB of progress lines, then "the last word", exit 1
//	child     sleep until killed
//	manager   run a Manager with one source (fake ffmpeg in mode run),
//	          write its ffmpeg's pid to DIR/ffmpeg-pid, run until killed
func fakeFFmpeg(args []string) int {
	opt := func(name string) string {
		for i := 0; i+1 < len(args); i++ {
			if args[i] == name {
				return args[i+1]
			}
		}
		return ""
	}
	mode, dir := opt("-mode"), opt("-dir")
	pid := os.Getpid()
	switch mode {
	case "exit":
		writeArgv(dir, args)
		fmt.Fprintf(os.Stderr, "ffmpeg version fake\nboom %d\n", pid)
		fmt.Fprintf(os.Stderr, "[tcp @ 0x1] Connection to tcp://10.0.0.1:1935 failed: Connection refused\n%s: Connection refused\n", opt("-i"))
		return 1
	case "spam":
		writeArgv(dir, args)
		for i := range 4000 {
			fmt.Fprintf(os.Stderr, "frame=%6d fps= 25 q=-1.0 size=    1024kB time=00:00:01.00 bitrate=1000kbits/s speed=1x    \r", i)
		}
		fmt.Fprintf(os.Stderr, "\nthe last word\n")
		return 1
	case "manager":
		return runManager(dir)
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
	case "group":
		c := exec.Command(os.Args[0], "-mode", "child")
		if err := c.Start(); err != nil {
			fmt.Fprintf(os.Stderr, "child: %v\n", err)
			return 2
		}
		_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("child-%d", pid)), []byte(strconv.Itoa(c.Process.Pid)), 0o644)
	case "run", "child":
	default:
		fmt.Fprintf(os.Stderr, "fake ffmpeg: unknown mode %q\n", mode)
		return 2
	}
	// Written once set up (SIGTERM ignored, child started): a test that
	// has read it knows the mode is in force.
	if mode != "child" {
		writeArgv(dir, args)
	}
	if mode != "child" {
		fmt.Fprintf(os.Stderr, "Input #0, flv, from '%s':\nOutput #0, flv, to '%s':\n", opt("-i"), args[len(args)-1])
	}
	time.Sleep(time.Hour)
	return 0
}

// runManager is a mediakit in miniature for the kill -9 test.
func runManager(dir string) int {
	m := NewManager(Options{Bin: os.Args[0], Cmd: "%s -mode run -dir " + dir + " -i %s -f flv %s", Waiter: liveAtOnce})
	key, err := m.Add(context.Background(), spec("rtmp://127.0.0.1/live/orphan"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for {
		// Once ffmpeg has written what it writes: a later write to the
		// pipe of a dead mediakit would end it by SIGPIPE, proving nothing.
		if list := m.List(); len(list) == 1 && list[0].Key == key && list[0].PID > 0 && strings.Contains(list[0].Stderr, "Output #0") {
			_ = os.WriteFile(filepath.Join(dir, "ffmpeg-pid"), []byte(strconv.Itoa(list[0].PID)), 0o644)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Hour)
	return 0
}

// writeArgv records the fake's argv in DIR/argv-PID.json.
func writeArgv(dir string, args []string) {
	if dir == "" {
		return
	}
	b, _ := json.Marshal(append([]string{os.Args[0]}, args...))
	_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("argv-%d.json", os.Getpid())), b, 0o644)
}

// waiterFunc is a StreamWaiter.
type waiterFunc func(ctx context.Context, key engine.Key) error

func (f waiterFunc) WaitLive(ctx context.Context, key engine.Key) error { return f(ctx, key) }

// liveAtOnce reports every stream live.
var liveAtOnce = waiterFunc(func(ctx context.Context, key engine.Key) error { return nil })

// neverLive reports no stream live.
var neverLive = waiterFunc(func(ctx context.Context, key engine.Key) error {
	<-ctx.Done()
	return ctx.Err()
})

// timeoutOnce is a StreamWaiter whose deadline passes once cond holds
// for a listed task: the timeout path, without betting on how fast a
// loaded machine starts the fake.
func (e *env) timeoutOnce(cond func(Info) bool) StreamWaiter {
	return waiterFunc(func(ctx context.Context, key engine.Key) error {
		for {
			for _, in := range e.m.List() {
				if cond(in) {
					return context.DeadlineExceeded
				}
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
}

// env is a manager over the fake ffmpeg and a real store.
type env struct {
	t     *testing.T
	dir   string // fake ffmpeg's argv files
	data  string // the store's directory, and the path guard's root
	store *store.Store
	logs  *testutil.SyncBuffer
	m     *Manager
}

// newEnv builds a manager whose ffmpeg is the fake in mode; edit may
// change the options.
func newEnv(t *testing.T, mode string, edit func(*Options)) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), data: t.TempDir(), logs: &testutil.SyncBuffer{}}
	st, err := store.Open(e.data, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	e.store = st
	t.Cleanup(func() {
		if e.m != nil {
			e.m.Close()
		}
		e.store.Close()
		if t.Failed() {
			t.Logf("manager log:\n%s", e.logs.String())
		}
	})
	e.m = NewManager(e.options(mode, edit))
	return e
}

func (e *env) options(mode string, edit func(*Options)) Options {
	o := Options{
		Bin:       os.Args[0],
		Cmd:       "%s -mode " + mode + " -dir " + e.dir + " -re -i %s -c copy -f flv %s",
		Backoff:   backoff.Policy{Min: 20 * time.Millisecond, Max: 80 * time.Millisecond},
		StopGrace: 300 * time.Millisecond,
		Confine:   dataGuard(e.data),
		Waiter:    liveAtOnce,
		Store:     e.store,
		Log:       slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&o)
	}
	return o
}

// reopen closes the manager and the store, opens the store again and
// builds a new manager over it, as a restart of the server does.
func (e *env) reopen(mode string, edit func(*Options)) {
	e.t.Helper()
	e.m.Close()
	if err := e.store.Close(); err != nil {
		e.t.Fatal(err)
	}
	st, err := store.Open(e.data, time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	e.store = st
	e.m = NewManager(e.options(mode, edit))
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

func spec(dst string) Spec {
	return Spec{SrcURL: "rtmp://10.0.0.1/live/src", DstURL: dst, Timeout: 5 * time.Second}
}

// storedKeys lists the keys in the store.
func (e *env) storedKeys() []string {
	e.t.Helper()
	list, err := e.store.Tasks(store.KindFFmpeg)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, st := range list {
		out = append(out, st.Key)
	}
	return out
}

// info returns the listed task of key.
func (e *env) info(key string) (Info, bool) {
	for _, in := range e.m.List() {
		if in.Key == key {
			return in, true
		}
	}
	return Info{}, false
}

// waitFor polls cond every 10 ms until it holds or 10 s pass.
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

// running waits until the task of key runs ffmpeg and returns its info.
func (e *env) running(key string) Info {
	e.t.Helper()
	var in Info
	waitFor(e.t, "ffmpeg of "+key+" running", func() bool {
		var ok bool
		in, ok = e.info(key)
		return ok && in.State == StateRunning && in.PID > 0
	})
	return in
}

// argvOf reads the argv the fake ffmpeg of pid was started with.
func (e *env) argvOf(pid int) []string {
	e.t.Helper()
	var argv []string
	path := filepath.Join(e.dir, fmt.Sprintf("argv-%d.json", pid))
	waitFor(e.t, "argv of "+strconv.Itoa(pid), func() bool {
		b, err := os.ReadFile(path)
		return err == nil && json.Unmarshal(b, &argv) == nil
	})
	return argv
}

// childOf reads the pid of the child the fake ffmpeg of pid started.
func (e *env) childOf(pid int) int {
	e.t.Helper()
	var child int
	path := filepath.Join(e.dir, fmt.Sprintf("child-%d", pid))
	waitFor(e.t, "child of "+strconv.Itoa(pid), func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		child, err = strconv.Atoi(string(b))
		return err == nil
	})
	return child
}

// alive reports whether pid is a live process: a zombie (exited, not yet
// reaped by a PID 1 that may never reap) counts as gone.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		if _, statErr := os.Stat("/proc/self/stat"); statErr != nil {
			p, err := os.FindProcess(pid) // no /proc
			return err == nil && p.Signal(syscall.Signal(0)) == nil
		}
		return false
	}
	// pid (comm) STATE ...; comm may hold spaces and parentheses.
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}

// waitGone waits until every pid has ended.
func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		waitFor(t, fmt.Sprintf("process %d to end", pid), func() bool { return !alive(pid) })
	}
}
