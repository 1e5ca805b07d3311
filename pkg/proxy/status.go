package proxy

import (
	"sync"
	"time"
)

// Status is a snapshot of one task, for listStreamProxy,
// listStreamPusherProxy and /metrics.
type Status struct {
	Key string
	// State is StatePlaying (pushing), StateConnecting, StateRetrying or
	// StateFailed (retries ran out).
	State State
	// Text is ZLMediaKit's status_str: "connecting", "playing",
	// "play failed: ...", "play shutdown: ...".
	Text string
	// LastError is the latest failure, "" if none.
	LastError string
	// Live is the time spent playing (pushing) over every attempt.
	Live time.Duration
	// Restarts counts attempts after one that had played (rePullCount,
	// rePublishCount).
	Restarts int64
	// Failures counts failed attempts in a row.
	Failures int
	// Bytes received (pull) or sent (push) over every attempt; Speed in
	// bytes per second over the last second or so.
	Bytes int64
	Speed int64
	// URL is the source (pull) or destination (push) in use.
	URL string
}

// State of a task.
type State string

// States.
const (
	StateConnecting State = "connecting"
	StatePlaying    State = "playing"
	StateRetrying   State = "retrying"
	StateFailed     State = "failed"
)

// States lists every State, for metrics.
var States = []State{StateConnecting, StatePlaying, StateRetrying, StateFailed}

// tracker holds a task's status. Only its supervisor goroutine writes
// it; the API reads copies. The lock is held for a few assignments.
type tracker struct {
	mu        sync.Mutex
	st        Status
	liveSince time.Time // zero when not playing
	bytes     func() int64
	prevBytes int64
	prevAt    time.Time
}

func newTracker(key, url string) *tracker {
	return &tracker{st: Status{Key: key, State: StateConnecting, Text: "connecting", URL: url}, prevAt: time.Now()}
}

func (t *tracker) update(fn func(st *Status)) {
	t.mu.Lock()
	fn(&t.st)
	t.mu.Unlock()
}

// playing marks the task live; bytes reads the attempt's byte counter.
func (t *tracker) playing(text string, bytes func() int64) {
	t.mu.Lock()
	t.st.State, t.st.Text, t.st.Failures = StatePlaying, text, 0
	t.liveSince = time.Now()
	t.bytes = bytes
	t.mu.Unlock()
}

// stopped ends an attempt: its bytes and live time are added up.
func (t *tracker) stopped(state State, text, lastErr string) {
	t.mu.Lock()
	if !t.liveSince.IsZero() {
		t.st.Live += time.Since(t.liveSince)
		t.liveSince = time.Time{}
	}
	if t.bytes != nil {
		t.st.Bytes += t.bytes()
		t.bytes = nil
	}
	t.st.State, t.st.Text = state, text
	if lastErr != "" {
		t.st.LastError = lastErr
	}
	t.mu.Unlock()
}

func (t *tracker) snapshot() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.st
	now := time.Now()
	if !t.liveSince.IsZero() {
		st.Live += now.Sub(t.liveSince)
	}
	if t.bytes != nil {
		st.Bytes += t.bytes()
	}
	// The speed is measured between snapshots at least a second apart,
	// so polling faster does not make it jitter.
	if dt := now.Sub(t.prevAt); dt >= time.Second {
		t.st.Speed = int64(float64(st.Bytes-t.prevBytes) / dt.Seconds())
		if t.st.Speed < 0 {
			t.st.Speed = 0
		}
		t.prevBytes, t.prevAt = st.Bytes, now
	}
	st.Speed = t.st.Speed
	return st
}
