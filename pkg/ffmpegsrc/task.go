package ffmpegsrc

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
)

// task is one FFmpeg source. Its fields are fixed when it is made, except
// leaving (the Manager's, under its lock) and what the supervisor
// goroutine owns: the process, and the status it publishes.
type task struct {
	m      *Manager
	key    string
	spec   Spec
	args   []string
	stream engine.Key // the destination stream
	local  bool       // the destination is this server: wait through the StreamWaiter
	stderr *tail

	ctx    context.Context // cancelled to stop the task
	cancel context.CancelFunc
	// confirm carries Add's request to store the task, to the supervisor.
	confirm chan chan error
	added   chan struct{} // closed once stored (or restored)
	done    chan struct{} // closed when the supervisor has ended, ffmpeg reaped
	removed chan struct{} // closed when the task has left the Manager

	leaving bool // guarded by m.mu: a delete, a failed Add or Close is ending it

	st atomic.Pointer[Status]
}

func newTask(m *Manager, key string, spec Spec, args []string, stream engine.Key, local bool) *task {
	t := &task{
		m: m, key: key, spec: spec, args: args, stream: stream, local: local,
		stderr:  newTail(m.opts.TailBytes),
		confirm: make(chan chan error),
		added:   make(chan struct{}),
		done:    make(chan struct{}),
		removed: make(chan struct{}),
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.st.Store(&Status{State: StateStarting})
	return t
}

// placeholder holds a key in the Manager while Delete removes a stored
// record that has no running task.
func placeholder(key string) *task {
	t := &task{key: key, done: make(chan struct{}), removed: make(chan struct{}), added: make(chan struct{})}
	close(t.done)
	return t
}

// supervised reports whether t is a real task (not a placeholder).
func (t *task) supervised() bool { return t.m != nil }

func (t *task) status() Status { return *t.st.Load() }

func (t *task) publish(st Status) {
	t.st.Store(&st)
}

// stop asks the supervisor to end and waits until ffmpeg is reaped.
func (t *task) stop() {
	if t.cancel != nil {
		t.cancel()
	}
	<-t.done
}

// redact hides the credentials of t's URLs in s, for the log.
func (t *task) redact(s string) string { return redact(s, t.spec.SrcURL, t.spec.DstURL) }

// lastWords is ffmpeg's last stderr line, for error messages.
func (t *task) lastWords() string {
	if l := t.stderr.LastLine(); l != "" {
		return l
	}
	st := t.status()
	if st.LastExit != "" {
		return "wrote nothing; " + st.LastExit
	}
	return "wrote nothing"
}

// persist asks the supervisor to store the task.
func (t *task) persist(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case t.confirm <- reply:
	case <-t.done:
		return errors.New("deleted before it was stored")
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-reply
}

// errStopped ends a supervisor that was asked to stop.
var errStopped = errors.New("stopped")

// run is the supervisor: it alone starts, watches and ends ffmpeg, and
// alone writes the task's status.
func (t *task) run() {
	defer close(t.done)
	m := t.m
	st := Status{State: StateStarting}
	defer func() {
		st.State, st.PID, st.Since = StateStopped, 0, time.Time{}
		t.publish(st)
	}()
	attempt := 0
	for {
		st.State, st.PID, st.Since = StateStarting, 0, time.Time{}
		t.publish(st)
		if t.ctx.Err() != nil {
			return
		}
		p, err := startProcess(t.args, t.stderr)
		if err != nil {
			st.LastExit = "start: " + err.Error()
			// Into the tail too, so a failing Add names the cause.
			fmt.Fprintf(t.stderr, "mediakit: cannot start %s: %v\n", t.args[0], err)
			m.log.Warn("ffmpeg source cannot start ffmpeg", "key", t.key, "bin", t.args[0], "error", t.redact(err.Error()))
		} else {
			started := time.Now()
			st.State, st.PID, st.Since = StateRunning, p.pid, started
			t.publish(st)
			m.log.Debug("ffmpeg source started", "key", t.key, "pid", p.pid, "restarts", st.Restarts)
			reason, err := t.watch(p)
			if errors.Is(err, errStopped) {
				return
			}
			st.LastExit = reason
			// A run that lasted, or ended cleanly (a file source that
			// reached its end), starts the schedule over.
			if time.Since(started) >= m.opts.StableAfter || p.err == nil {
				attempt = 0
			}
			if reason == reasonRestartSec {
				m.log.Info("ffmpeg source restarted (ffmpeg.restart_sec)", "key", t.key, "dst_url", redactURL(t.spec.DstURL))
				st.Restarts++
				m.restarts.Add(1)
				continue
			}
		}
		delay := m.opts.Backoff.Delay(attempt)
		attempt++
		st.State, st.PID, st.Since = StateBackoff, 0, time.Time{}
		t.publish(st)
		m.log.Warn("ffmpeg source ended; restarting", "key", t.key, "dst_url", redactURL(t.spec.DstURL),
			"reason", st.LastExit, "stderr", t.redact(t.stderr.LastLine()), "retry_in", delay.Round(time.Millisecond).String())
		if err := t.sleep(delay); err != nil {
			return
		}
		st.Restarts++
		m.restarts.Add(1)
	}
}

const reasonRestartSec = "restart_sec elapsed"

func (m *Manager) restartEvery() time.Duration {
	if m.opts.RestartEvery == nil {
		return 0
	}
	return m.opts.RestartEvery()
}

// watch waits for ffmpeg to end, or ends it (stop, restart_sec); it
// serves Add's store requests meanwhile. It returns why ffmpeg ended, or
// errStopped.
func (t *task) watch(p *process) (string, error) {
	var restart <-chan time.Time
	if every := t.m.restartEvery(); every > 0 {
		timer := time.NewTimer(every)
		defer timer.Stop()
		restart = timer.C
	}
	for {
		select {
		case <-p.exited:
			return exitReason(p.err), nil
		case <-t.ctx.Done():
			t.end(p)
			return "", errStopped
		case <-restart:
			t.end(p)
			return reasonRestartSec, nil
		case reply := <-t.confirm:
			t.store(reply)
		}
	}
}

// end stops ffmpeg and says so when SIGTERM was not enough.
func (t *task) end(p *process) {
	if p.stop(t.m.opts.StopGrace) {
		t.m.log.Warn("ffmpeg did not end on SIGTERM; killed", "key", t.key, "pid", p.pid,
			"grace", t.m.opts.StopGrace.String())
	}
}

// sleep waits d in backoff, serving store requests; errStopped when the
// task is stopped.
func (t *task) sleep(d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			return nil
		case <-t.ctx.Done():
			return errStopped
		case reply := <-t.confirm:
			t.store(reply)
		}
	}
}

// store writes the task's record, on the supervisor: Delete deletes the
// record only after the supervisor has ended, so it can never be written
// again behind Delete's back.
func (t *task) store(reply chan<- error) {
	select {
	case <-t.added:
		reply <- nil // a restored task, or asked twice
		return
	default:
	}
	err := t.m.persist(t)
	if err == nil {
		close(t.added)
	}
	reply <- err // buffered
}

func exitReason(err error) string {
	if err == nil {
		return "exit status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.Error()
	}
	return err.Error()
}
