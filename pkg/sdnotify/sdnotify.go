// Package sdnotify tells systemd how a service is doing (sd_notify(3):
// READY=1, STOPPING=1, WATCHDOG=1) over the datagram socket systemd names
// in NOTIFY_SOCKET, without libsystemd. Outside systemd it does nothing.
package sdnotify

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"
)

// Notifier sends state lines to systemd.
type Notifier struct {
	addr *net.UnixAddr
}

// FromEnv returns the notifier systemd asked for (NOTIFY_SOCKET), or nil
// when the process is not a Type=notify service. A name starting with @
// is in Linux's abstract namespace.
func FromEnv() *Notifier {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return nil
	}
	if name[0] == '@' {
		name = "\x00" + name[1:]
	}
	return &Notifier{addr: &net.UnixAddr{Name: name, Net: "unixgram"}}
}

// Notify sends one or more newline-separated assignments, e.g. "READY=1".
// A nil Notifier does nothing.
func (n *Notifier) Notify(state string) error {
	if n == nil {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sdnotify: dial %s: %w", n.addr.Name, err)
	}
	defer conn.Close()
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sdnotify: send %q: %w", state, err)
	}
	return nil
}

// WatchdogInterval is systemd's WatchdogSec for this process
// (WATCHDOG_USEC, when WATCHDOG_PID is unset or names this process); ok
// is false when no watchdog is asked for.
func WatchdogInterval() (d time.Duration, ok bool) {
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0, false
	}
	us, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || us <= 0 {
		return 0, false
	}
	return time.Duration(us) * time.Microsecond, true
}

// Watchdog pets systemd's watchdog every interval/3 for as long as alive
// answers within that time, until ctx ends. A check that fails or hangs
// skips the pet, so a server whose core is stuck is restarted by systemd
// after interval, while one that only has a busy moment recovers by the
// next check. Failures are logged once when they start and once when
// they end.
func Watchdog(ctx context.Context, n *Notifier, interval time.Duration, alive func(context.Context) error, log *slog.Logger) {
	if n == nil || interval <= 0 {
		return
	}
	every := interval / 3
	tick := time.NewTicker(every)
	defer tick.Stop()
	failing := false
	for {
		check, cancel := context.WithTimeout(ctx, every)
		err := alive(check)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				log.Error("watchdog: the server did not answer its own check; not telling systemd it is alive", "error", err.Error())
			}
			failing = true
		default:
			if failing {
				log.Warn("watchdog: the server answers again")
			}
			failing = false
			if err := n.Notify("WATCHDOG=1"); err != nil {
				log.Warn("watchdog: notify systemd", "error", err.Error())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
