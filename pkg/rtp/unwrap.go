package rtp

import "time"

// Unwrapper defaults. They match the engine's timeline, which takes a
// backward step over 1 s or a forward one over 10 s for a clock restart.
const (
	DefaultMaxForward  = 10 * time.Second
	DefaultMaxBackward = time.Second
)

// Unwrapper extends wrapping timestamps (32-bit RTP timestamps, or with
// Bits 33 MPEG PTS/DTS) to int64 ticks that keep counting across the wrap.
//
// Each value is taken as the nearest one to the previous value modulo
// 2^Bits, so a small backward step (B-frames, a reordered packet) gives a
// slightly smaller result, not a jump of a whole cycle. A step forward over
// MaxForward or backward over MaxBackward is a discontinuity (the sender
// restarted its clock, or a stream was spliced): Unwrap reports it and the
// result continues from the previous value, so the caller decides what the
// gap is worth.
//
// The zero value unwraps 32-bit timestamps of a 90 kHz clock.
type Unwrapper struct {
	Bits        uint          // width of the wrapping value, 1-63 (default 32)
	ClockRate   uint32        // ticks per second (default 90000)
	MaxForward  time.Duration // default 10 s
	MaxBackward time.Duration // default 1 s

	started bool
	last    uint64 // previous value, as given
	ext     int64  // previous result
}

// Unwrap returns ts extended to int64 and whether it is discontinuous with
// the previous value. The first value is returned as it is. Bits above
// Bits are ignored.
func (u *Unwrapper) Unwrap(ts uint64) (ext int64, discontinuity bool) {
	bits := u.Bits
	if bits == 0 || bits > 63 {
		bits = 32
	}
	mask := uint64(1)<<bits - 1
	ts &= mask
	if !u.started {
		u.started, u.last, u.ext = true, ts, int64(ts)
		return u.ext, false
	}
	delta := int64((ts - u.last) & mask)
	if delta >= 1<<(bits-1) {
		delta -= 1 << bits
	}
	u.last = ts
	if delta > u.ticks(u.MaxForward, DefaultMaxForward) || -delta > u.ticks(u.MaxBackward, DefaultMaxBackward) {
		return u.ext, true
	}
	u.ext += delta
	return u.ext, false
}

// Reset forgets the previous value; the next one is taken as it is.
func (u *Unwrapper) Reset() { u.started = false }

func (u *Unwrapper) ticks(d, def time.Duration) int64 {
	if d <= 0 {
		d = def
	}
	rate := int64(u.ClockRate)
	if rate == 0 {
		rate = DefaultClockRate
	}
	return int64(d/time.Millisecond) * rate / 1000
}
