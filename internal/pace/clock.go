// Package pace wakes many goroutines on one shared clock.
//
// A server that paces each publisher's reads, or each stream's player
// wake-ups, with a timer of its own wakes the Go scheduler once per stream
// per window, at times spread over the window; between them the
// processors go idle and poll the network again. On a shared clock the
// goroutines due in the same window are woken together and run back to
// back.
//
// Not all in one tick, though: a thousand streams woken at once queue
// most of a window's work in front of anything that becomes runnable
// after them (an API call, a new player, a publisher's handshake), which
// then waits for all of it. So the clock ticks in up to Phases phases
// spread evenly over the period, each waiter in one of them, and a phase
// holds PhaseWaiters waiters before the next is opened: a few hundred
// waiters share one or two ticks, as they did on one clock, and a
// thousand are spread over all, so that what arrives in between waits
// behind one phase's work.
package pace

import (
	"fmt"
	"sync"
	"time"
)

// Phases is the most ticks a period is divided into.
const Phases = 8

// PhaseWaiters is how many waiters a phase holds before the next phase
// is opened. A tick costs a wake-up from idle; a phase of this size runs
// a few milliseconds of work at a thousand streams.
const PhaseWaiters = 128

// Phase is a waiter's place in the period: its ticks come Phase/Phases of
// a period after the period's multiples.
type Phase uint8

// Clock ticks, in each phase, at multiples of a period (counted from the
// zero Time, as time.Truncate counts; for a period that divides a second,
// the same as from the Unix epoch) plus the phase's offset, and only while somebody waits for that
// phase: at most one timer per phase, whatever the number of waiters. The
// zero Clock is ready to use.
type Clock struct {
	mu      sync.Mutex
	ticks   [Phases]tick
	members [Phases]int // waiters joined, by phase
}

// tick is one phase's next tick.
type tick struct {
	ch    chan struct{} // closed at the tick; nil: no tick armed
	funcs []func()      // run at the tick
}

// Join returns the phase for a new waiter, which keeps it until Leave:
// the first phase with fewer than PhaseWaiters waiters, or, when all are
// full, the one with the fewest.
func (c *Clock) Join() Phase {
	c.mu.Lock()
	defer c.mu.Unlock()
	best := 0
	for p, n := range c.members {
		if n < PhaseWaiters {
			best = p
			break
		}
		if n < c.members[best] {
			best = p
		}
	}
	c.members[best]++
	return Phase(best)
}

// Leave gives back a phase Join returned. Like a sync.WaitGroup's
// counter going negative, leaving a phase nobody holds is a bug in the
// caller, and panics: ignored, it would hide an unbalanced Join as well.
func (c *Clock) Leave(p Phase) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.members[p%Phases] == 0 {
		panic(fmt.Sprintf("pace: Leave of phase %d, which no waiter holds", p%Phases))
	}
	c.members[p%Phases]--
}

// Joined is the number of waiters joined and not left.
func (c *Clock) Joined() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.members {
		n += m
	}
	return n
}

// Next returns a channel closed at the next tick of period in phase p.
// A period <= 0 returns a closed channel.
func (c *Clock) Next(period time.Duration, p Phase) <-chan struct{} {
	if period <= 0 {
		return closed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.arm(period, p).ch
}

// AtNext runs fn at the next tick of period in phase p, on the clock's
// goroutine: fn must not block. A period <= 0 runs it at once.
func (c *Clock) AtNext(period time.Duration, p Phase, fn func()) {
	if period <= 0 {
		fn()
		return
	}
	c.mu.Lock()
	t := c.arm(period, p)
	t.funcs = append(t.funcs, fn)
	c.mu.Unlock()
}

// arm schedules phase p's next tick unless one is armed (under mu) and
// returns it. A tick armed for another period serves this waiter too:
// one clock serves one period, except for the first ticks after the
// period was changed.
func (c *Clock) arm(period time.Duration, p Phase) *tick {
	t := &c.ticks[p%Phases]
	if t.ch != nil {
		return t
	}
	now := time.Now()
	due := nextTick(now, period, p)
	ch := make(chan struct{})
	t.ch = ch
	time.AfterFunc(due.Sub(now), func() { c.fire(t, ch) })
	return t
}

// nextTick is phase p's first tick of period after now: a multiple of
// period (time.Truncate's) plus p/Phases of it.
func nextTick(now time.Time, period time.Duration, p Phase) time.Time {
	due := now.Truncate(period).Add(period * time.Duration(p%Phases) / Phases)
	if !due.After(now) {
		due = due.Add(period)
	}
	return due
}

// fire closes ch and runs the functions armed with it.
func (c *Clock) fire(t *tick, ch chan struct{}) {
	c.mu.Lock()
	funcs := t.funcs
	t.ch, t.funcs = nil, nil
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
