package pushwrite

import (
	"runtime"
	"sync"
)

// Pool runs the writes of many players on a few goroutines, one per
// processor. A player woken by its stream is queued on its worker; the
// worker writes what the player has without blocking, so a thousand
// players of a stream cost a thousand system calls per window and not a
// thousand goroutine wake-ups as well. A player whose socket is full
// leaves the pool for a goroutine of its own until it has caught up
// (Writer). The zero Pool is ready to use; its workers start with the
// first player.
type Pool struct {
	mu      sync.Mutex
	workers []*poolWorker // started with the first player
	next    int           // round robin over workers
	closed  bool
	quit    chan struct{}
	wg      sync.WaitGroup
}

type poolWorker struct {
	mu    sync.Mutex
	queue []*Writer
	spare []*Writer
	wake  chan struct{} // holds one wake-up
}

// worker returns the worker for a new player, starting the workers on
// first use, or nil once the pool is closed.
func (p *Pool) worker() *poolWorker {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if p.workers == nil {
		p.quit = make(chan struct{})
		for range runtime.GOMAXPROCS(0) {
			w := &poolWorker{wake: make(chan struct{}, 1)}
			p.workers = append(p.workers, w)
			p.wg.Go(func() { p.run(w) })
		}
	}
	w := p.workers[p.next%len(p.workers)]
	p.next++
	return w
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
	select {
	case pw.wake <- struct{}{}:
	default:
	}
}

func (p *Pool) run(pw *poolWorker) {
	for {
		select {
		case <-pw.wake:
		case <-p.quit:
			return
		}
		pw.mu.Lock()
		batch := pw.queue
		pw.queue = pw.spare[:0]
		pw.mu.Unlock()
		for _, w := range batch {
			w.serve()
		}
		clear(batch)
		pw.mu.Lock()
		pw.spare = batch[:0]
		pw.mu.Unlock()
	}
}
