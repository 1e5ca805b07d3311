package pushwrite

import (
	"hash/maphash"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/mediakit/mediakit/pkg/engine"
)

// Pool runs the writes of many players on a few goroutines, one per
// processor. A player woken by its stream is queued on its worker; the
// worker writes what the player has without blocking, so a thousand
// players of a stream cost a thousand system calls per window and not a
// thousand goroutine wake-ups as well. A player whose socket is full
// leaves the pool for a goroutine of its own until it has caught up
// (Writer). The players of one stream share a worker (Pool.worker). The
// zero Pool is ready to use; its workers start with the first player.
type Pool struct {
	mu      sync.Mutex
	workers []*poolWorker // started with the first player
	seed    maphash.Seed  // picks a stream's worker
	closed  bool
	quit    chan struct{}
	wg      sync.WaitGroup
}

type poolWorker struct {
	mu    sync.Mutex
	queue []*Writer // woken players of the worker's streams
	given []*Writer // players handed over by a worker that is behind
	spare [2][]*Writer
	wake  chan struct{} // holds one wake-up
	next  *poolWorker   // takes half of a batch while this one is behind; nil with one worker
	// behind is set when spillMin or more of the worker's own players were
	// waiting after its last batch. Nothing is handed to a worker that is
	// behind, and players handed over are never handed on, so a player
	// waits at most one more batch for it.
	behind atomic.Bool
	handed atomic.Int64 // writers handed to next: for tests
}

// spillMin is the queue a worker has to find waiting after a batch to
// count as behind, and the least batch it splits. A worker that keeps up
// finds its queue empty, or holding the few players woken while it
// wrote; 1000 players of one stream at a 100 ms window take it about
// 8 ms per wake-up (1.6 CPU s for 200 wake-ups in BENCHMARKS.md's run),
// far from the next one. The figure is a judgement, not tuned beyond the
// fan-out benchmark.
const spillMin = 64

// worker returns the worker for a new player of the stream key, starting
// the workers on first use, or nil once the pool is closed. Every player
// of a stream goes to the same worker: a wake-up of the stream then wakes
// one goroutine, not every worker, and one processor writes the stream's
// frames to all of its players while they are in its cache. Spread over
// all workers, 1000 players of one stream cost about 1.1x the CPU
// (BENCHMARKS.md, "One worker per stream"). Streams spread over the
// workers, and a worker that falls behind shares its batches (run).
func (p *Pool) worker(key engine.Key) *poolWorker {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if p.workers == nil {
		p.quit = make(chan struct{})
		p.seed = maphash.MakeSeed()
		for range runtime.GOMAXPROCS(0) {
			p.workers = append(p.workers, &poolWorker{wake: make(chan struct{}, 1)})
		}
		if n := len(p.workers); n > 1 {
			for i, w := range p.workers {
				w.next = p.workers[(i+1)%n]
			}
		}
		for _, w := range p.workers {
			p.wg.Go(func() { p.run(w) })
		}
	}
	return p.workers[maphash.Comparable(p.seed, key)%uint64(len(p.workers))]
}

// Close stops the workers; call it once no player can be queued. It may
// be called more than once.
func (p *Pool) Close() {
	p.mu.Lock()
	stop := !p.closed && p.workers != nil
	p.closed = true
	p.mu.Unlock()
	if stop {
		close(p.quit)
		p.wg.Wait()
	}
}

// enqueue queues w on its worker.
func (pw *poolWorker) enqueue(w *Writer) {
	pw.mu.Lock()
	pw.queue = append(pw.queue, w)
	pw.mu.Unlock()
	pw.signal()
}

// give queues ws, players handed over by a worker that is behind.
func (pw *poolWorker) give(ws []*Writer) {
	pw.mu.Lock()
	pw.given = append(pw.given, ws...)
	pw.mu.Unlock()
	pw.signal()
}

func (pw *poolWorker) signal() {
	select {
	case pw.wake <- struct{}{}:
	default:
	}
}

// run serves the worker's queue. A worker that finds a long queue waiting
// when it finishes a batch is behind (a stream of many players woken more
// often than one processor can write them, as with no write batching),
// so it hands half of its next batch to the next worker unless that one
// is behind too: a stream's players use more processors only when one
// cannot keep up.
func (p *Pool) run(pw *poolWorker) {
	for {
		select {
		case <-pw.wake:
		case <-p.quit:
			return
		}
		own, given, serve := pw.take()
		for _, w := range given { // they have waited a batch already
			w.serve()
		}
		for _, w := range own[:serve] {
			w.serve()
		}
		pw.done(own, given)
	}
}

// take returns the players handed to the worker, its own queued players
// and how many of those it serves: all, or the first half when it is
// behind and the next worker is not, which gets the rest.
func (pw *poolWorker) take() (own, given []*Writer, serve int) {
	pw.mu.Lock()
	own, pw.queue = pw.queue, pw.spare[0][:0]
	given, pw.given = pw.given, pw.spare[1][:0]
	pw.mu.Unlock()
	serve = len(own)
	if pw.behind.Load() && pw.next != nil && !pw.next.behind.Load() && len(own) >= spillMin {
		serve = len(own) / 2
		pw.next.give(own[serve:])
		pw.handed.Add(int64(len(own) - serve))
	}
	return own, given, serve
}

// done recycles a served batch and notes whether the worker is behind.
func (pw *poolWorker) done(own, given []*Writer) {
	clear(own)
	clear(given)
	pw.mu.Lock()
	pw.spare = [2][]*Writer{own[:0], given[:0]}
	waiting := len(pw.queue)
	pw.mu.Unlock()
	pw.behind.Store(waiting >= spillMin)
}
