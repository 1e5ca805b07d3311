package pace

import (
	"sync"
	"testing"
	"time"
)

// TestWaitersShareATick: waiters of one phase that arm in the same period
// are released by the same tick, waiters of another phase by another,
// AtNext runs at a tick, and a waiter after a tick gets the next one.
func TestWaitersShareATick(t *testing.T) {
	var c Clock
	const period = 200 * time.Millisecond
	var a, b <-chan struct{}
	for range 5 { // a tick may pass between the two calls on a busy machine
		if a, b = c.Next(period, 3), c.Next(period, 3); a == b {
			break
		}
	}
	if a != b {
		t.Fatal("two waiters of one phase and period got different ticks five times")
	}
	if other := c.Next(period, 4); other == a {
		t.Fatal("waiters of two phases share a tick")
	}
	ran := make(chan struct{})
	c.AtNext(period, 3, func() { close(ran) })
	<-a
	select {
	case <-ran:
	case <-time.After(10 * period):
		t.Fatal("AtNext did not run at the next ticks")
	}
	next := c.Next(period, 3)
	if next == a {
		t.Fatal("a waiter after the tick got the tick that passed")
	}
	<-next
}

// TestNextTickAtThePhasesOffset: a phase's tick is due at a multiple of
// the period plus the phase's share of it, the first such time strictly
// after now.
func TestNextTickAtThePhasesOffset(t *testing.T) {
	const period = 80 * time.Millisecond
	base := time.Unix(1_700_000_000, 0) // a multiple of the period
	for _, tc := range []struct {
		now   time.Duration // after base
		phase Phase
		want  time.Duration // after base
	}{
		{0, 0, period},                // on a tick: the next one
		{1, 0, period},                // just after a tick
		{0, 1, 10 * time.Millisecond}, // phase 1 of 8: 10 ms in
		{10 * time.Millisecond, 1, 90 * time.Millisecond},
		{9 * time.Millisecond, 1, 10 * time.Millisecond},
		{30 * time.Millisecond, Phases / 2, 40 * time.Millisecond},
		{50 * time.Millisecond, Phases / 2, 120 * time.Millisecond},
		{75 * time.Millisecond, Phases - 1, 150 * time.Millisecond},
		{69 * time.Millisecond, Phases - 1, 70 * time.Millisecond},
	} {
		got := nextTick(base.Add(tc.now), period, tc.phase)
		if want := base.Add(tc.want); !got.Equal(want) {
			t.Errorf("phase %d at +%v: tick at +%v, want +%v", tc.phase, tc.now, got.Sub(base), tc.want)
		}
	}
}

// TestTicksNotBeforeTheirTime: a real wait on a phase ends no earlier
// than the tick nextTick gives for the time it started.
func TestTicksNotBeforeTheirTime(t *testing.T) {
	var c Clock
	const period = 80 * time.Millisecond
	for _, p := range []Phase{0, Phases / 2, Phases - 1} {
		start := time.Now()
		<-c.Next(period, p)
		if at, due := time.Now(), nextTick(start, period, p); at.Before(due) {
			t.Fatalf("phase %d ticked at %v, before %v", p, at, due)
		}
	}
}

// TestJoinFillsPhasesInOrder: a phase takes PhaseWaiters waiters before
// the next is opened, a waiter that leaves makes room in its phase, and
// once every phase is full waiters go to the least loaded.
func TestJoinFillsPhasesInOrder(t *testing.T) {
	var c Clock
	for i := range PhaseWaiters {
		if p := c.Join(); p != 0 {
			t.Fatalf("waiter %d joined phase %d, want 0 until it holds %d", i, p, PhaseWaiters)
		}
	}
	if p := c.Join(); p != 1 {
		t.Fatalf("waiter %d joined phase %d, want 1", PhaseWaiters, p)
	}
	c.Leave(0)
	if p := c.Join(); p != 0 {
		t.Fatalf("after a leave from phase 0, a waiter joined phase %d", p)
	}
	for range (Phases-1)*PhaseWaiters - 1 {
		c.Join()
	}
	for p := range Phase(Phases) {
		if n := c.members[p]; n != PhaseWaiters {
			t.Fatalf("phase %d holds %d waiters with all full, want %d", p, n, PhaseWaiters)
		}
	}
	c.Leave(5)
	c.Leave(5)
	c.Leave(2)
	for _, want := range []Phase{2, 5, 5, 0} {
		if p := c.Join(); p != want {
			t.Fatalf("with every phase full but for leaves, a waiter joined %d, want %d (the first with room, then the least loaded)", p, want)
		}
	}
}

// TestManyWaitersShareTicks: a thousand goroutines waiting on the clock
// are all released, on about as many ticks per phase as periods passed
// while they started (one each, without sharing), and leave it empty.
func TestManyWaitersShareTicks(t *testing.T) {
	var c Clock
	const period = 30 * time.Millisecond
	var wg sync.WaitGroup
	var chans sync.Map
	start := time.Now()
	for i := range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := c.Join()
			defer c.Leave(p)
			ch := c.Next(period, p)
			chans.Store(i, ch)
			<-ch
		}()
	}
	wg.Wait()
	distinct := map[<-chan struct{}]bool{}
	chans.Range(func(_, v any) bool {
		distinct[v.(<-chan struct{})] = true
		return true
	})
	// However slow the machine, each phase's waiters can only have
	// spread over the periods that passed until the last was released.
	if bound := Phases * (int(time.Since(start)/period) + 2); len(distinct) > bound {
		t.Fatalf("1000 waiters waited on %d ticks, more than %d phases' ticks in the periods that passed", len(distinct), bound)
	}
	if n := c.Joined(); n != 0 {
		t.Fatalf("waiters left, %d still joined: %v", n, c.members)
	}
}

// TestLeaveWithoutJoinPanics: an unbalanced Leave is the caller's bug.
func TestLeaveWithoutJoinPanics(t *testing.T) {
	var c Clock
	c.Leave(c.Join())
	defer func() {
		if recover() == nil {
			t.Fatal("a second Leave of the phase did not panic")
		}
	}()
	c.Leave(0)
}

func TestZeroPeriodDoesNotWait(t *testing.T) {
	var c Clock
	<-c.Next(0, 0)
	ran := false
	c.AtNext(0, 0, func() { ran = true })
	if !ran {
		t.Fatal("AtNext(0) did not run at once")
	}
}
