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
	once      sync.Once
	closeOnce sync.Once
	workers   []*poolWorker
	next      int  // round robin over workers, under mu
	closed    bool // under mu
	mu        sync.Mutex
	wg        sync.WaitGroup
	quit      chan struct{}
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
	p.once.Do(func() {
		p.quit = make(chan struct{})
		n := runtime.GOMAXPROCS(0)
		for range n {
			w := &poolWorker{wake: make(chan struct{}, 1)}
			p.workers = append(p.workers, w)
			p.wg.Add(1)
			go p.run(w)
		}
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	w := p.workers[p.next%len(p.workers)]
	p.next++
	return w
}

// Close stops the workers; call it once no player can be queued. It may
// be called more than once.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.once.Do(func() {}) // never started: nothing to stop
	p.closeOnce.Do(func() {
		if p.quit != nil {
			close(p.quit)
			p.wg.Wait()
		}
	})
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
	defer p.wg.Done()
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
