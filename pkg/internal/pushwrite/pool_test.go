package pushwrite

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/mediakit/mediakit/pkg/engine"
)

func TestPoolWorkerPerStream(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	p := &Pool{}
	defer p.Close()

	key := engine.NewKey("", "live", "cam")
	first := p.worker(key)
	for i := range 100 {
		if w := p.worker(key); w != first {
			t.Fatalf("player %d of %v went to another worker than the first", i, key)
		}
	}

	used := map[*poolWorker]int{}
	for i := range 400 {
		used[p.worker(engine.NewKey("", "live", fmt.Sprint("cam", i)))]++
	}
	if len(used) != len(p.workers) {
		t.Fatalf("400 streams used %d of %d workers", len(used), len(p.workers))
	}
	for _, n := range used {
		if n < 50 { // 100 each on average
			t.Errorf("a worker got %d of 400 streams", n)
		}
	}
}

func TestPoolWorkerBehindSharesBatch(t *testing.T) {
	a, b := &poolWorker{wake: make(chan struct{}, 1)}, &poolWorker{wake: make(chan struct{}, 1)}
	a.next, b.next = b, a
	queue := func(pw *poolWorker, n int) {
		for range n {
			pw.enqueue(&Writer{})
		}
	}

	queue(a, 100)
	if batch, mine := a.take(); len(mine) != 100 || len(batch) != 100 {
		t.Fatalf("keeping up: served %d of %d, want all 100", len(mine), len(batch))
	}
	if len(b.queue) != 0 {
		t.Fatalf("keeping up: handed %d writers over", len(b.queue))
	}

	queue(a, spillMin)
	if a.done(nil); !a.behind.Load() {
		t.Fatalf("%d writers waiting after a batch: not behind", spillMin)
	}
	queue(a, 100-spillMin)
	batch, mine := a.take()
	if len(mine) != 50 || len(batch) != 100 {
		t.Fatalf("behind: served %d of %d, want 50 of 100", len(mine), len(batch))
	}
	if len(b.queue) != 50 || len(b.wake) != 1 {
		t.Fatalf("behind: the next worker got %d writers (wake-up pending: %v), want 50", len(b.queue), len(b.wake) == 1)
	}
	for i, w := range b.queue {
		if w != batch[50+i] {
			t.Fatalf("handed-over writer %d is not the batch's %d", i, 50+i)
		}
	}
	if a.done(batch); a.behind.Load() {
		t.Fatal("an empty queue after a batch: behind")
	}

	a.behind.Store(true)
	queue(a, spillMin-1)
	if _, mine := a.take(); len(mine) != spillMin-1 {
		t.Fatalf("a batch under %d was split: served %d", spillMin, len(mine))
	}
	b.queue = nil
	b.behind.Store(true)
	queue(a, 100)
	if _, mine := a.take(); len(mine) != 100 || len(b.queue) != 0 {
		t.Fatalf("handed %d writers to a worker that is behind too (served %d of 100)", len(b.queue), len(mine))
	}
	a.next = nil
	queue(a, 100)
	if _, mine := a.take(); len(mine) != 100 {
		t.Fatalf("a lone worker handed over writers: served %d of 100", len(mine))
	}
}
