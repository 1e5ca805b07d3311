package pace

import (
	"sync"
	"testing"
	"time"
)

// TestWaitersShareATick: waiters that arm in the same period are released
// by the same tick, AtNext runs at a tick, and a waiter after a tick gets
// the next one.
func TestWaitersShareATick(t *testing.T) {
	var c Clock
	const period = 200 * time.Millisecond
	var a, b <-chan struct{}
	for range 5 { // a tick may pass between the two calls on a busy machine
		if a, b = c.Next(period), c.Next(period); a == b {
			break
		}
	}
	if a != b {
		t.Fatal("two waiters of one period got different ticks five times")
	}
	ran := make(chan struct{})
	c.AtNext(period, func() { close(ran) })
	<-a
	select {
	case <-ran:
	case <-time.After(10 * period):
		t.Fatal("AtNext did not run at the next ticks")
	}
	next := c.Next(period)
	if next == a {
		t.Fatal("a waiter after the tick got the tick that passed")
	}
	<-next
}

// TestTicksOnMultiplesOfThePeriod: a tick comes no later than one period
// after the wait starts (plus scheduling), at a multiple of the period.
func TestTicksOnMultiplesOfThePeriod(t *testing.T) {
	var c Clock
	const period = 50 * time.Millisecond
	for range 3 {
		start := time.Now()
		<-c.Next(period)
		at := time.Now()
		if at.Before(start.Truncate(period).Add(period)) {
			t.Fatalf("tick at %v, before the period's end after %v", at, start)
		}
	}
}

// TestManyWaitersShareTicks: a thousand goroutines waiting on the clock
// are all released, on about as many ticks as periods passed while they
// started (one each, without sharing).
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
			ch := c.Next(period)
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
	// However slow the machine, the waiters can only have spread over
	// the periods that passed until the last was released.
	if bound := int(time.Since(start)/period) + 2; len(distinct) > bound {
		t.Fatalf("1000 waiters waited on %d ticks in %d periods", len(distinct), bound-2)
	}
}

func TestZeroPeriodDoesNotWait(t *testing.T) {
	var c Clock
	<-c.Next(0)
	ran := false
	c.AtNext(0, func() { ran = true })
	if !ran {
		t.Fatal("AtNext(0) did not run at once")
	}
}
