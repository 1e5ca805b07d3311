package sdnotify

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// listen is systemd's side: a datagram socket whose messages arrive on
// the returned channel.
func listen(t *testing.T, name string) <-chan string {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 100)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			select {
			case got <- string(buf[:n]):
			default:
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); wg.Wait() })
	return got
}

func next(t *testing.T, got <-chan string) string {
	t.Helper()
	select {
	case m := <-got:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message from the notifier in 10 s")
		return ""
	}
}

func TestNotify(t *testing.T) {
	for _, tc := range []struct{ name, env string }{
		{"path", filepath.Join(t.TempDir(), "notify.sock")},
		{"abstract", "@mediakit-test-" + strconv.Itoa(os.Getpid())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			listenName := tc.env
			if listenName[0] == '@' {
				listenName = "\x00" + listenName[1:]
			}
			got := listen(t, listenName)
			t.Setenv("NOTIFY_SOCKET", tc.env)
			n := FromEnv()
			if err := n.Notify("READY=1\nSTATUS=serving"); err != nil {
				t.Fatal(err)
			}
			if m := next(t, got); m != "READY=1\nSTATUS=serving" {
				t.Errorf("got %q", m)
			}
		})
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if n := FromEnv(); n != nil || n.Notify("READY=1") != nil {
		t.Error("outside systemd, a notifier that does something")
	}
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "absent.sock"))
	if err := FromEnv().Notify("READY=1"); err == nil || !strings.Contains(err.Error(), "absent.sock") {
		t.Errorf("no socket: %v, want an error naming it", err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		ok        bool
	}{
		{"", "", 0, false},
		{"3000000", "", 3 * time.Second, true},
		{"3000000", strconv.Itoa(os.Getpid()), 3 * time.Second, true},
		{"3000000", "1", 0, false}, // another process's watchdog
		{"junk", "", 0, false},
		{"-5", "", 0, false},
	} {
		t.Setenv("WATCHDOG_USEC", tc.usec)
		t.Setenv("WATCHDOG_PID", tc.pid)
		if d, ok := WatchdogInterval(); d != tc.want || ok != tc.ok {
			t.Errorf("USEC=%q PID=%q: %v %v, want %v %v", tc.usec, tc.pid, d, ok, tc.want, tc.ok)
		}
	}
}

// TestWatchdogPetsOnlyWhileAlive: pets while the check answers, none while
// it hangs or fails (one log line for the run of failures), pets again
// once it answers.
func TestWatchdogPetsOnlyWhileAlive(t *testing.T) {
	name := filepath.Join(t.TempDir(), "notify.sock")
	got := listen(t, name)
	t.Setenv("NOTIFY_SOCKET", name)
	var mu sync.Mutex
	state := "alive"
	checks := make(chan string, 1000)
	alive := func(ctx context.Context) error {
		mu.Lock()
		s := state
		mu.Unlock()
		select {
		case checks <- s:
		default:
		}
		switch s {
		case "hung":
			<-ctx.Done()
			return ctx.Err()
		case "failing":
			return errors.New("engine did not answer")
		}
		return nil
	}
	set := func(s string) { mu.Lock(); state = s; mu.Unlock() }
	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) { logMu.Lock(); defer logMu.Unlock(); return logs.Write(p) }), nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); Watchdog(ctx, FromEnv(), 150*time.Millisecond, alive, log) }()

	for range 3 {
		if m := next(t, got); m != "WATCHDOG=1" {
			t.Fatalf("got %q, want WATCHDOG=1", m)
		}
	}
	for _, bad := range []string{"hung", "failing"} {
		set(bad)
		// Wait for three checks in the bad state, then no pet may have
		// been sent after the first of them.
		for seen := 0; seen < 3; {
			if <-checks == bad {
				seen++
			}
		}
		drained := 0
	drain:
		for {
			select {
			case <-got:
				drained++
			default:
				break drain
			}
		}
		// At most the pet of the check that ran before the state changed.
		if drained > 1 {
			t.Errorf("%s: %d pets while the check did not answer", bad, drained)
		}
		set("alive")
		if m := next(t, got); m != "WATCHDOG=1" {
			t.Fatalf("after %s: got %q, want WATCHDOG=1", bad, m)
		}
	}
	cancel()
	<-done
	logMu.Lock()
	text := logs.String()
	logMu.Unlock()
	if n := strings.Count(text, "did not answer its own check"); n != 2 {
		t.Errorf("%d failure lines for two runs of failures:\n%s", n, text)
	}
	if n := strings.Count(text, "answers again"); n != 2 {
		t.Errorf("%d recovery lines, want 2:\n%s", n, text)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
