package relay

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/mediakit/mediakit/internal/backoff"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/sink"
)

type dstState int

const (
	dstIdle    dstState = iota // to attach: by the sink policy when the stream becomes ready, or by retry
	dstRunning                 // an attempt runs
	dstWaiting                 // backoff before the next attempt
	dstGaveUp                  // retries ran out
	dstClosed                  // the relay is over
)

// destination is one DST: a sink per attempt, each attached to the
// engine's stream on its own, so a failing destination is retried after
// its backoff without touching the others. Its state is behind mu, taken
// only for a few assignments: attempts run in engine goroutines, retries
// in timer goroutines, the summary and status in the main one.
type destination struct {
	index    int
	target   sink.Target
	retries  int // -1: without end
	policy   backoff.Policy
	log      *slog.Logger
	newSink  func() (sink.Sink, error)
	attach   func(name string, newSink func() engine.Sink) error // engine.AttachSink
	onGiveUp func()                                              // called without mu held

	mu       sync.Mutex
	state    dstState
	names    int // engine sink names handed out: one per attach
	attempts int
	failures int       // consecutive failed attempts
	cur      sink.Sink // the running attempt
	bytes    int64     // of finished attempts
	frames   int64
	files    []string
	lastErr  error // of the last finished attempt; nil when it ended well
	timer    *time.Timer
}

func newDestination(index int, t sink.Target, retries int, policy backoff.Policy, log *slog.Logger,
	newSink func() (sink.Sink, error), attach func(string, func() engine.Sink) error) *destination {
	return &destination{index: index, target: t, retries: retries, policy: policy, log: log,
		newSink: newSink, attach: attach, onGiveUp: func() {}}
}

// nextName is a sink name never used before: an attempt still being
// removed from the stream must not make the next one's AttachSink fail.
func (d *destination) nextName() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.names++
	return fmt.Sprintf("relay-dst%d-%d", d.index, d.names)
}

// claim starts an attempt if the destination waits for one; nil
// otherwise. It runs on the stream's owner goroutine (sink policy,
// AttachSink) and does no I/O: sinks connect or create files in Run.
func (d *destination) claim() engine.Sink {
	d.mu.Lock()
	if d.state != dstIdle {
		d.mu.Unlock()
		return nil
	}
	d.state = dstRunning
	d.attempts++
	d.mu.Unlock()
	s, err := d.newSink()
	if err != nil {
		d.finished(sink.Result{Err: err})
		return nil
	}
	d.mu.Lock()
	d.cur = s
	d.mu.Unlock()
	return attempt{Sink: s, d: d}
}

// attempt is one try of a destination.
type attempt struct {
	sink.Sink
	d *destination
}

func (a attempt) Run(r *engine.Reader) {
	a.Sink.Run(r)
	a.d.finished(a.Sink.Result())
}

// finished takes the result of an attempt and schedules the next one
// after a failure, unless the retries ran out.
func (d *destination) finished(res sink.Result) {
	d.mu.Lock()
	d.cur = nil
	d.bytes += res.Bytes
	d.frames += res.Frames
	for _, f := range res.Files {
		if !slices.Contains(d.files, f) {
			d.files = append(d.files, f)
		}
	}
	d.lastErr = res.Err
	if res.Err == nil {
		if d.state == dstRunning {
			d.state = dstIdle // the stream ended; nothing to retry
		}
		d.mu.Unlock()
		return
	}
	if res.Frames > 0 {
		d.failures = 0 // it worked for a while: count anew
	}
	d.failures++
	n := d.failures
	if d.state == dstClosed {
		d.mu.Unlock() // the relay is over: the failure is only reported
		return
	}
	if d.retries >= 0 && n > d.retries {
		d.state = dstGaveUp
		d.mu.Unlock()
		d.log.Info("relay: destination gave up", "dst", d.target.Display, "attempts", n, "error", res.Err.Error())
		d.onGiveUp()
		return
	}
	delay := d.policy.Delay(n - 1)
	d.state = dstWaiting
	d.timer = time.AfterFunc(delay, d.retry)
	d.mu.Unlock()
	d.log.Info("relay: destination failed, retrying", "dst", d.target.Display, "attempt", n,
		"in", delay.String(), "error", res.Err.Error())
}

// retry attaches the next attempt once the backoff is over.
func (d *destination) retry() {
	d.mu.Lock()
	if d.state != dstWaiting {
		d.mu.Unlock()
		return
	}
	d.state, d.timer = dstIdle, nil
	d.mu.Unlock()
	err := d.attach(d.nextName(), func() engine.Sink {
		if s := d.claim(); s != nil {
			return s
		}
		return noSink{} // claimed meanwhile by the sink policy, or closed
	})
	if err != nil && !errors.Is(err, engine.ErrSinkExists) {
		// The stream is not ready (between two streams, or the relay is
		// ending): the sink policy attaches the destination, still
		// idle, when a stream becomes ready.
		d.log.Debug("relay: destination waits for the stream", "dst", d.target.Display, "error", err.Error())
	}
}

// close stops retrying: the relay is over.
func (d *destination) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.state = dstClosed
}

func (d *destination) gaveUp() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state == dstGaveUp
}

// failure is the error of a destination whose last attempt failed (it
// gave up, or was waiting to retry when the relay ended); nil when it
// ended well.
func (d *destination) failure() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lastErr == nil {
		return nil
	}
	return &failure{name: d.target.Display, err: d.lastErr, attempts: d.failures}
}

// dstStatus is a destination's figures at one moment.
type dstStatus struct {
	state    dstState
	attempts int
	failures int
	bytes    int64 // including the running attempt's, when it tells
	frames   int64
	files    []string
	err      error
}

func (d *destination) status() dstStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := dstStatus{state: d.state, attempts: d.attempts, failures: d.failures, bytes: d.bytes, frames: d.frames,
		files: slices.Clone(d.files), err: d.lastErr}
	if p, ok := d.cur.(sink.Progress); ok {
		st.bytes += p.BytesWritten()
		st.frames += p.FramesWritten()
	}
	return st
}

// noSink ends at once.
type noSink struct{}

func (noSink) Run(*engine.Reader) {}
