// Package pushwrite writes players' streams to their connections, either
// from a few goroutines shared by every player (Push) or from one
// goroutine per player (Run).
package pushwrite

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// Batcher turns a batch of frames into the bytes of one write: a
// session's encoder and framing. The bytes of frames are usually shared,
// once-built ones; only what the session adds is its own.
type Batcher interface {
	// Batch appends the bytes of frames to bufs and returns it, or
	// returns bufs unchanged when there is nothing to write. Slices
	// appended must stay valid until Written.
	Batch(bufs net.Buffers, frames []*media.Frame) net.Buffers
	// Written tells that the batch went out: its scratch may be reused.
	Written()
}

// A Writer's state in push mode: who owns it, if anyone.
const (
	stateIdle    int32 = iota // nobody: the next wake-up queues it
	stateQueued               // on its worker's queue
	stateRunning              // a worker or its catch-up goroutine writes
	stateDirty                // running, and woken again meanwhile: look again before going idle
	stateDone                 // ended; done is closed
)

// Writer writes one engine reader's frames to a connection. In push mode
// it has no goroutine of its own while the player keeps up: its stream's
// wake-ups queue it on a Pool worker, which writes what is new with a
// non-blocking writev. When the socket cannot take a whole batch, a
// goroutine of its own writes the rest, waiting for the socket within
// the write timeout, and goes on until the player has caught up.
type Writer struct {
	conn         net.Conn
	reader       *engine.Reader
	batcher      Batcher
	writeTimeout time.Duration

	frames []*media.Frame
	bufs   net.Buffers
	out    net.Buffers
	sent   atomic.Int64

	// Push mode.
	raw    *rawWriter
	worker *poolWorker
	log    *slog.Logger
	onEnd  func(error)
	state  atomic.Int32
	done   chan struct{}
	err    error // set before done is closed
}

// New returns a writer of r's frames to conn. A write that does not
// complete within writeTimeout ends it.
func New(conn net.Conn, r *engine.Reader, b Batcher, writeTimeout time.Duration) *Writer {
	return &Writer{
		conn:         conn,
		reader:       r,
		batcher:      b,
		writeTimeout: writeTimeout,
		// Small to start with: an idle player holds these, and append
		// grows them for the GOP burst when a player joins.
		frames: make([]*media.Frame, 0, 64),
		bufs:   make(net.Buffers, 0, 16),
	}
}

// FrameCap is the capacity of the writer's batch of frames.
func (w *Writer) FrameCap() int { return cap(w.frames) }

// Sent is the number of bytes written.
func (w *Writer) Sent() int64 { return w.sent.Load() }

// Run writes on the calling goroutine until the stream ends (io.EOF) or
// a write fails, waiting in the reader for frames.
func (w *Writer) Run() error {
	for {
		var err error
		w.frames, err = w.reader.Next(w.frames[:0])
		if err != nil {
			return err
		}
		w.bufs = w.batcher.Batch(w.bufs[:0], w.frames)
		if len(w.bufs) > 0 {
			_ = w.conn.SetWriteDeadline(time.Now().Add(w.writeTimeout))
			w.out = w.bufs
			if err := w.writeOut(); err != nil {
				return err
			}
		}
		w.written()
	}
}

// writeOut writes w.out, waiting for the socket as long as the deadline
// set allows.
func (w *Writer) writeOut() error {
	n, err := w.out.WriteTo(w.conn)
	w.count(int(n))
	return err
}

func (w *Writer) count(n int) {
	w.sent.Add(int64(n))
	w.reader.AddBytesOut(n)
}

// written drops the batch's references, so delivered frames can be
// collected.
func (w *Writer) written() {
	clear(w.frames)
	clear(w.bufs)
	w.batcher.Written()
	if w.raw != nil {
		w.raw.release()
	}
}

// Push starts writing from p's workers and reports true, or reports false
// when the connection has no socket to write to without blocking (TLS,
// or not Linux) or p is closed: then use Run. The writer ends with the
// stream (io.EOF), a failed write or the reader's close; then onEnd runs,
// on whichever goroutine ended it, and Done is closed. onEnd must not
// block.
func (w *Writer) Push(p *Pool, log *slog.Logger, onEnd func(error)) bool {
	raw := newRawWriter(w.conn)
	if raw == nil {
		return false
	}
	worker := p.worker(w.reader.Key())
	if worker == nil {
		return false // the pool is closed
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w.raw, w.worker, w.log, w.onEnd, w.done = raw, worker, log, onEnd, make(chan struct{})
	// Writes before this one may have left a deadline. The raw writes do
	// not look at it (they never wait), and catchUp sets its own; cleared
	// so that its timer does not stay armed for every player.
	_ = w.conn.SetWriteDeadline(time.Time{})
	w.state.Store(stateRunning) // held until the wake function is set
	if err := w.reader.SetWake(context.Background(), w.schedule); err != nil {
		w.end(err)
		return true
	}
	// What the stream has already (the GOP cache), on this goroutine.
	func() {
		defer w.recoverPanic()
		w.loop()
	}()
	return true
}

// Done is closed when a pushed writer has ended.
func (w *Writer) Done() <-chan struct{} { return w.done }

// Err is why a pushed writer ended, once Done is closed: io.EOF at the
// end of the stream.
func (w *Writer) Err() error { return w.err }

// Ended reports whether a pushed writer has ended or is ending: set
// before onEnd runs, so a session whose read onEnd interrupted sees it.
func (w *Writer) Ended() bool { return w.state.Load() == stateDone }

// schedule is the stream's wake function: it must not block.
func (w *Writer) schedule() {
	for {
		switch s := w.state.Load(); s {
		case stateIdle:
			if w.state.CompareAndSwap(stateIdle, stateQueued) {
				w.worker.enqueue(w)
				return
			}
		case stateRunning:
			if w.state.CompareAndSwap(stateRunning, stateDirty) {
				return
			}
		default: // queued, dirty or done: nothing to add
			return
		}
	}
}

// serve runs on a pool worker.
func (w *Writer) serve() {
	if !w.state.CompareAndSwap(stateQueued, stateRunning) {
		return
	}
	defer w.recoverPanic()
	w.loop()
}

// loop writes batches until nothing is new (the writer goes idle), the
// socket is full (a goroutine takes over) or the writer ends. The caller
// owns the writer (state running or dirty).
func (w *Writer) loop() {
	for {
		var err error
		w.frames, err = w.reader.Poll(w.frames[:0])
		if err != nil {
			w.end(err)
			return
		}
		if len(w.frames) == 0 {
			if w.state.CompareAndSwap(stateRunning, stateIdle) {
				return
			}
			w.state.Store(stateRunning) // woken meanwhile: look again
			continue
		}
		w.bufs = w.batcher.Batch(w.bufs[:0], w.frames)
		if len(w.bufs) > 0 {
			w.out = w.bufs
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
		w.written()
	}
}

// catchUp writes what the socket could not take, on a goroutine of the
// player's own, then goes back to writing without blocking.
func (w *Writer) catchUp() {
	defer w.recoverPanic()
	_ = w.conn.SetWriteDeadline(time.Now().Add(w.writeTimeout))
	if err := w.writeOut(); err != nil {
		w.end(err)
		return
	}
	// The raw writes ignore deadlines; cleared so that its timer does not
	// stay armed while the player keeps up.
	_ = w.conn.SetWriteDeadline(time.Time{})
	w.written()
	w.loop()
}

// end records why the writer ended and tells the session.
func (w *Writer) end(err error) {
	w.err = err
	w.state.Store(stateDone)
	defer close(w.done) // even if onEnd panics: sessions wait for it
	if w.onEnd != nil {
		w.onEnd(err)
	}
}

// recoverPanic ends the player on a panic in its writer: a worker serves
// many players and must go on.
func (w *Writer) recoverPanic() {
	if v := recover(); v != nil {
		w.log.Error("play writer panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		w.conn.Close()
		if w.state.Load() != stateDone {
			w.end(fmt.Errorf("writer panicked: %v", v))
		}
	}
}
