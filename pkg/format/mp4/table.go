package mp4

import (
	"math"
	"time"
)

// table is the compact sample table of one track, kept while writing so
// that Close can build a progressive moov without reading the file back.
// Durations and composition offsets are run-length coded as stts and ctts
// store them, so a steady stream costs about four bytes per sample (its
// size) plus eight per sync sample and twelve per fragment.
type table struct {
	sizes  []uint32    // stsz
	stts   []runEntry  // sample count, delta
	ctts   []runEntry  // sample count, offset
	anyCTS bool        // some composition offset != 0
	sync   []uint32    // 1-based numbers of sync samples (video only)
	chunks []chunkInfo // one per track run (trun): stsc and stco/co64

	decodeEnd uint64 // sum of sample durations, in the track's timescale
	presEnd   uint64 // max of decode time + offset + duration over samples
}

// runEntry is one run-length entry of stts or ctts.
type runEntry struct {
	count, value uint32
}

// chunkInfo is one track run: the file offset of its first byte and its
// number of samples.
type chunkInfo struct {
	offset uint64
	count  uint32
}

// add appends one sample, the next in decode order.
func (t *table) add(size, dur, cts uint32, sync, video bool) {
	t.sizes = append(t.sizes, size)
	t.stts = appendRun(t.stts, dur)
	t.ctts = appendRun(t.ctts, cts)
	if cts != 0 {
		t.anyCTS = true
	}
	if video && sync {
		t.sync = append(t.sync, uint32(len(t.sizes)))
	}
	if end := t.decodeEnd + uint64(cts) + uint64(dur); end > t.presEnd {
		t.presEnd = end
	}
	t.decodeEnd += uint64(dur)
}

func appendRun(runs []runEntry, v uint32) []runEntry {
	if n := len(runs); n > 0 && runs[n-1].value == v && runs[n-1].count < math.MaxUint32 {
		runs[n-1].count++
		return runs
	}
	return append(runs, runEntry{count: 1, value: v})
}

// allSync reports whether every sample is a sync sample.
func (t *table) allSync() bool { return len(t.sync) == len(t.sizes) }

// needsCo64 reports whether some chunk offset needs 64 bits.
func (t *table) needsCo64() bool {
	for _, c := range t.chunks {
		if c.offset > math.MaxUint32 {
			return true
		}
	}
	return false
}

// toTicks converts a non-negative duration to a count of 1/scale seconds,
// rounded to the nearest tick, without overflowing for long recordings.
func toTicks(d time.Duration, scale uint32) uint64 {
	if d <= 0 {
		return 0
	}
	s, r := uint64(d/time.Second), uint64(d%time.Second)
	return s*uint64(scale) + (r*uint64(scale)+uint64(time.Second)/2)/uint64(time.Second)
}

// fromTicks converts a count of 1/scale seconds to a duration.
func fromTicks(t uint64, scale uint32) time.Duration {
	s, r := t/uint64(scale), t%uint64(scale)
	return time.Duration(s)*time.Second + time.Duration(r*uint64(time.Second)/uint64(scale))
}

// rescaleUp converts t from timescale from to timescale to, rounding up.
func rescaleUp(t uint64, from, to uint32) uint64 {
	s, r := t/uint64(from), t%uint64(from)
	return s*uint64(to) + (r*uint64(to)+uint64(from)-1)/uint64(from)
}

// rescale converts t from timescale from to timescale to, rounding to
// the nearest.
func rescale(t uint64, from, to uint32) uint64 {
	s, r := t/uint64(from), t%uint64(from)
	return s*uint64(to) + (r*uint64(to)+uint64(from)/2)/uint64(from)
}
