package source

import (
	"fmt"
	"sync/atomic"
	"time"
)

// watchdog calls stop once no media has been kicked in for its timeout.
// Connections that stay busy without media (RTMP pings, a playlist that
// never advances) keep socket deadlines happy, so the source needs its
// own clock. kick is an atomic store: it runs for every frame, and
// resetting a timer that often would cost more.
type watchdog struct {
	start   time.Time
	last    atomic.Int64 // time since start of the latest kick
	timeout atomic.Int64
	fired   atomic.Bool
	timer   *time.Timer
	stop    func()
}

// startWatchdog arms a watchdog that calls stop, from its own goroutine,
// after timeout without a kick.
func startWatchdog(timeout time.Duration, stop func()) *watchdog {
	w := &watchdog{start: time.Now(), stop: stop}
	w.timeout.Store(int64(timeout))
	w.timer = time.AfterFunc(timeout, w.check)
	return w
}

func (w *watchdog) kick() { w.last.Store(int64(time.Since(w.start))) }

// setTimeout changes the timeout from the next check on.
func (w *watchdog) setTimeout(d time.Duration) { w.timeout.Store(int64(d)) }

func (w *watchdog) check() {
	timeout := time.Duration(w.timeout.Load())
	idle := time.Since(w.start) - time.Duration(w.last.Load())
	if idle < timeout {
		w.timer.Reset(timeout - idle)
		return
	}
	w.fired.Store(true)
	w.stop()
}

// disarm stops the watchdog; it reports whether it had fired.
func (w *watchdog) disarm() bool {
	w.timer.Stop()
	return w.fired.Load()
}

// err is the error of a source that the watchdog ended.
func (w *watchdog) err(input string) error {
	return fmt.Errorf("source: %s: %w for %v", input, ErrNoMedia, time.Duration(w.timeout.Load()))
}
