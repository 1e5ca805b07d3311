package ps

import "time"

// Clock puts one PS stream's frames on a continuous timeline: it unwraps
// the 33-bit 90 kHz PTS, carries on at the last pace for frames without
// one (ISO 13818-1 asks for a PTS only every 0.7 s, and some muxers stamp
// no more), and places the DTS before the PTS by the reorder delay. The
// zero value is ready; one Clock per stream id.
type Clock struct {
	// Unwrap, if set, extends a 33-bit PTS to 64 bits (a caller's policy
	// for jumps); nil follows every wrap and jump as it is.
	Unwrap func(pts int64) int64

	seen       bool
	lastRaw    int64
	ext        int64
	last, step time.Duration
}

// Stamp returns frame f's PTS and DTS on the timeline; ok is false for a
// frame without a PTS before any frame with one (nothing to carry on from).
func (c *Clock) Stamp(f Frame) (pts, dts time.Duration, ok bool) {
	if f.PTS < 0 {
		if !c.seen {
			return 0, 0, false
		}
		step := c.step
		if step <= 0 {
			step = 40 * time.Millisecond
		}
		c.last += step
		return c.last, c.last, true
	}
	pts = ticks90k(c.unwrap(f.PTS))
	if c.seen && pts > c.last && pts-c.last < time.Second {
		c.step = pts - c.last
	}
	c.last, c.seen = pts, true
	dts = pts
	if f.DTS >= 0 && f.DTS != f.PTS {
		// DTS trails PTS by the reorder delay, modulo 33 bits.
		if back := (f.PTS - f.DTS) & (1<<33 - 1); back < 5*90000 {
			dts = pts - ticks90k(back)
		}
	}
	return pts, dts, true
}

func (c *Clock) unwrap(raw int64) int64 {
	if c.Unwrap != nil {
		return c.Unwrap(raw)
	}
	if !c.seen {
		c.ext = raw
	} else {
		d := (raw - c.lastRaw) & (1<<33 - 1)
		if d >= 1<<32 {
			d -= 1 << 33 // backwards
		}
		c.ext += d
	}
	c.lastRaw = raw
	return c.ext
}

// ticks90k converts 90 kHz ticks to a duration, split so that unwrapped
// clocks cannot overflow.
func ticks90k(v int64) time.Duration {
	return time.Duration(v/90000)*time.Second + time.Duration(v%90000)*time.Second/90000
}

// OpusPayload strips the MPEG-TS Opus control header (0x7f 0xe0+, size,
// trim fields; ETSI TS 102 366) that some PS muxers keep from TS, leaving
// the Opus packet; a payload without one is returned as it is, nil for a
// header cut short.
func OpusPayload(b []byte) []byte {
	if len(b) < 2 || b[0] != 0x7f || b[1]&0xe0 != 0xe0 {
		return b
	}
	flags := b[1]
	i := 2
	for i < len(b) && b[i] == 0xff {
		i++
	}
	i++ // the size's last byte
	if flags&0x10 != 0 {
		i += 2 // trim start
	}
	if flags&0x08 != 0 {
		i += 2 // trim end
	}
	if i > len(b) {
		return nil
	}
	return b[i:]
}
