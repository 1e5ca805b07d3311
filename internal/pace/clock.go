// Package pace wakes many goroutines on one shared clock.
//
// A server that paces each publisher's reads, or each stream's player
// wake-ups, with a timer of its own wakes the Go scheduler once per stream
// per window, at times spread over the window; between them the
// processors go idle and poll the network again. On a shared clock the
// goroutines due in the same window are woken together, by one timer, and
// run back to back.
package pace

import (
	"sync"
	"time"
)

// Clock ticks at multiples of a period since the Unix epoch, and only
// while somebody waits for a tick: one timer, whatever the number of
// waiters. The zero Clock is ready to use.
type Clock struct {
	mu    sync.Mutex
	ch    chan struct{} // closed at the next tick; nil: no tick armed
	funcs []func()      // run at the next tick
}

// Next returns a channel closed at the next tick of period: the next
// multiple of period since the epoch. A period <= 0 returns a closed
// channel.
func (c *Clock) Next(period time.Duration) <-chan struct{} {
	if period <= 0 {
		return closed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.arm(period)
	return c.ch
}

// AtNext runs fn at the next tick of period, on the clock's goroutine:
// fn must not block. A period <= 0 runs it at once.
func (c *Clock) AtNext(period time.Duration, fn func()) {
	if period <= 0 {
		fn()
		return
	}
	c.mu.Lock()
	c.arm(period)
	c.funcs = append(c.funcs, fn)
	c.mu.Unlock()
}

// arm schedules the next tick unless one is armed (under mu). A tick
// armed for another period serves this waiter too: one clock serves one
// period, except for the first ticks after the period was changed.
func (c *Clock) arm(period time.Duration) {
	if c.ch != nil {
		return
	}
	now := time.Now()
	due := now.Truncate(period).Add(period)
	ch := make(chan struct{})
	c.ch = ch
	time.AfterFunc(due.Sub(now), func() { c.tick(ch) })
}

// tick closes ch and runs the functions armed with it.
func (c *Clock) tick(ch chan struct{}) {
	c.mu.Lock()
	funcs := c.funcs
	c.ch, c.funcs = nil, nil
	c.mu.Unlock()
	close(ch)
	for _, fn := range funcs {
		fn()
	}
}

var closed = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()
