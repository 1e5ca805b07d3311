package livehttp

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// A pushWriter's state: who owns its Writer, if anyone.
const (
	pushIdle    int32 = iota // nobody: the next wake-up queues it
	pushQueued               // on its worker's queue
	pushRunning              // a worker or its own goroutine writes
	pushDirty                // running, and woken again meanwhile: look again before going idle
	pushDone                 // ended; done is closed
)

// pushWriter writes one player's stream without a goroutine of its own
// while the player keeps up: its stream's wake-ups queue it on a pool
// worker, which writes what is new with a non-blocking writev. When the
// socket cannot take a whole batch, a goroutine of its own writes the
// rest, waiting for the socket within the write timeout as Writer.Run
// does, and goes on until the player has caught up.
type pushWriter struct {
	*Writer
	raw    *rawWriter
	worker *poolWorker
	log    *slog.Logger
	state  atomic.Int32

	// Set before done is closed.
	done chan struct{}
	err  error
	why  string // the reason logged, taken when the writer ended
}

// newPushWriter returns a pushWriter of w on a worker of p, or nil when
// w's connection has no socket to write to without blocking (TLS).
func newPushWriter(w *Writer, p *pool, log *slog.Logger) *pushWriter {
	raw := newRawWriter(w.conn)
	if raw == nil {
		return nil
	}
	return &pushWriter{Writer: w, raw: raw, worker: p.worker(), log: log, done: make(chan struct{})}
}

// start makes the stream's wake-ups queue the writer, and queues it for
// what the stream has already (the GOP cache).
func (w *pushWriter) start() {
	// The response head was written with a deadline; a deadline only
	// applies while the writer waits for the socket (catchUp).
	_ = w.conn.SetWriteDeadline(time.Time{})
	w.state.Store(pushRunning) // held until the wake function is set
	if err := w.reader.SetWake(context.Background(), w.schedule); err != nil {
		w.end(err)
		return
	}
	w.loop()
}

// schedule is the stream's wake function: it must not block.
func (w *pushWriter) schedule() {
	for {
		switch s := w.state.Load(); s {
		case pushIdle:
			if w.state.CompareAndSwap(pushIdle, pushQueued) {
				w.worker.enqueue(w)
				return
			}
		case pushRunning:
			if w.state.CompareAndSwap(pushRunning, pushDirty) {
				return
			}
		default: // queued, dirty or done: nothing to add
			return
		}
	}
}

// serve runs on a pool worker.
func (w *pushWriter) serve() {
	if !w.state.CompareAndSwap(pushQueued, pushRunning) {
		return
	}
	defer w.recoverPanic()
	w.loop()
}

// loop writes batches until nothing is new (the writer goes idle), the
// socket is full (a goroutine takes over) or the session ends. The
// caller owns the writer (state running or dirty).
func (w *pushWriter) loop() {
	for {
		var err error
		w.frames, err = w.reader.Poll(w.frames[:0])
		if err != nil {
			w.end(err)
			return
		}
		if len(w.frames) == 0 {
			if w.state.CompareAndSwap(pushRunning, pushIdle) {
				return
			}
			w.state.Store(pushRunning) // woken meanwhile: look again
			continue
		}
		w.bufs = append(w.bufs[:0], nil) // slot for the framing prefix
		w.bufs = w.enc.Append(w.bufs, w.frames)
		if len(w.bufs) > 1 {
			w.frame()
			n, complete, err := w.raw.write(&w.out)
			w.count(n)
			if err != nil {
				w.end(err)
				return
			}
			if !complete {
				go w.catchUp()
				return
			}
		}
		clear(w.frames)
		clear(w.bufs)
		w.raw.release()
	}
}

// catchUp writes what the socket could not take, on a goroutine of the
// player's own, then goes back to writing without blocking.
func (w *pushWriter) catchUp() {
	defer w.recoverPanic()
	_ = w.conn.SetWriteDeadline(time.Now().Add(w.writeTimeout))
	if err := w.writeOut(); err != nil {
		w.end(err)
		return
	}
	// A deadline in the past would fail the next non-blocking write.
	_ = w.conn.SetWriteDeadline(time.Time{})
	clear(w.frames)
	clear(w.bufs)
	w.loop()
}

// end records why the writer ended and interrupts the session's read of
// the socket, so the session finishes the reply and closes it.
func (w *pushWriter) end(err error) {
	w.why = reason(err, w.reader)
	w.err = err
	w.state.Store(pushDone)
	close(w.done)
	_ = w.conn.SetReadDeadline(aLongTimeAgo)
}

// recoverPanic ends the player on a panic in its writer: a worker serves
// many players and must go on.
func (w *pushWriter) recoverPanic() {
	if v := recover(); v != nil {
		w.log.Error("play writer panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		if w.state.Load() != pushDone {
			w.end(fmt.Errorf("writer panicked: %v", v))
		}
		w.conn.Close()
	}
}

var aLongTimeAgo = time.Unix(1, 0)
