package main

import (
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeUnderSystemd: as a Type=notify service with a watchdog, serve
// says READY=1 once its listeners are bound, pets the watchdog while it
// runs, and says STOPPING=1 on SIGTERM.
func TestServeUnderSystemd(t *testing.T) {
	name := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", name)
	t.Setenv("WATCHDOG_USEC", "900000") // a check every 300 ms
	p := startServe(t)

	next := func(want string) {
		t.Helper()
		buf := make([]byte, 1024)
		_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
		for {
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %q: %v; stderr:\n%s", want, err, strings.Join(p.logs, "\n"))
			}
			if m := string(buf[:n]); strings.HasPrefix(m, want) {
				return
			} else if want == "READY=1" {
				t.Fatalf("first message %q, want READY=1", m)
			}
		}
	}
	next("READY=1")
	next("WATCHDOG=1")
	next("WATCHDOG=1")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	next("STOPPING=1")
	p.wait(t)
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM; stderr:\n%s", code, strings.Join(p.logs, "\n"))
	}
}
