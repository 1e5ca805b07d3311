package source

import (
	"encoding/binary"
	"fmt"
)

// sampleTables are a track's stbl tables in their stored form: runs and
// arrays of big-endian integers, decoded as the cursor walks them. The
// tables are decoded here rather than with go-mp4's reflection, which is
// slow for a million entries and would make a list as long as the count
// a box declares, whatever its size.
type sampleTables struct {
	stts, ctts, stss, stsc, chunks []byte // entries, after the header
	sizes                          []byte // stsz entries when sizes vary
	constSize                      uint32 // stsz sample_size, when all are equal
	count                          uint32 // stsz sample_count
	co64, hasStsz, hasStss         bool
}

// set keeps the table of box typ from its payload b.
func (st *sampleTables) set(typ string, b []byte) error {
	if len(b) < 8 {
		return fmt.Errorf("%d bytes: %w", len(b), errMP4)
	}
	n := binary.BigEndian.Uint32(b[4:8])
	body := b[8:]
	// entry size per table; stsz is special
	size := map[string]int{"stts": 8, "ctts": 8, "stss": 4, "stsc": 12, "stco": 4, "co64": 8}[typ]
	if typ == "stsz" {
		if len(b) < 12 {
			return fmt.Errorf("%d bytes: %w", len(b), errMP4)
		}
		st.hasStsz = true
		st.constSize = n
		st.count = binary.BigEndian.Uint32(b[8:12])
		if st.constSize == 0 {
			if uint64(st.count)*4 > uint64(len(b)-12) {
				return fmt.Errorf("%d sample sizes in %d bytes: %w", st.count, len(b)-12, errMP4)
			}
			st.sizes = b[12 : 12+int(st.count)*4]
		}
		return nil
	}
	if uint64(n)*uint64(size) > uint64(len(body)) {
		return fmt.Errorf("%d entries in %d bytes: %w", n, len(body), errMP4)
	}
	body = body[:int(n)*size]
	switch typ {
	case "stts":
		st.stts = body
	case "ctts":
		st.ctts = body
	case "stss":
		st.stss, st.hasStss = body, true
	case "stsc":
		st.stsc = body
	case "stco":
		st.chunks, st.co64 = body, false
	case "co64":
		st.chunks, st.co64 = body, true
	}
	return nil
}

// tableCursor walks a track's samples in decode order.
type tableCursor struct {
	t     *mp4Track
	st    *sampleTables
	total uint32 // samples to walk
	n     uint32 // next sample, from 0

	sttsI, cttsI, stssI, stscI int
	sttsLeft, cttsLeft         uint32
	dts                        int64 // media ticks
	delta                      uint32

	chunk     int // current chunk, from 0; -1 before the first
	chunkLeft uint32
	pos       uint64

	cur mp4Sample
	has bool
}

func newTableCursor(t *mp4Track, fileSize int64) (*tableCursor, error) {
	st := &t.tables
	c := &tableCursor{t: t, st: st, chunk: -1}
	if !st.hasStsz {
		return c, nil // no sample table: a fragmented file's moov
	}
	c.total = st.count
	if st.constSize > 0 && uint64(st.count)*uint64(st.constSize) > uint64(fileSize) {
		return nil, fmt.Errorf("stsz: %d samples of %d bytes do not fit in the file: %w", st.count, st.constSize, errMP4)
	}
	if st.constSize == 0 && st.sizes == nil {
		c.total = 0
	}
	// stts decides how many samples have a time.
	var timed uint64
	for i := 0; i+8 <= len(st.stts); i += 8 {
		timed += uint64(binary.BigEndian.Uint32(st.stts[i:]))
	}
	if timed < uint64(c.total) {
		c.total = uint32(timed)
	}
	if c.total > 0 && len(st.stsc) == 0 {
		return nil, fmt.Errorf("%d samples without stsc: %w", c.total, errMP4)
	}
	return c, nil
}

// peek fills cur with the next sample, unless it holds one or the track
// has ended. G.711 samples (a byte each in QuickTime files) that follow
// each other in a chunk are joined into frames of t.pcmGroup bytes.
func (c *tableCursor) peek() error {
	if c.has {
		return nil
	}
	if err := c.peekOne(); err != nil || !c.has || c.t.pcmGroup == 0 {
		return err
	}
	first := c.cur
	for c.chunkLeft > 0 && c.n < c.total && first.size < c.t.pcmGroup {
		c.has = false
		if err := c.peekOne(); err != nil {
			return err
		}
		if !c.has {
			break
		}
		// Samples of a chunk are contiguous: cur starts where first ends.
		first.size += c.cur.size
	}
	c.cur, c.has = first, true
	return nil
}

// peekOne fills cur with the next sample of the tables.
func (c *tableCursor) peekOne() error {
	if c.has || c.n >= c.total {
		return nil
	}
	st := c.st
	i := c.n
	size := st.constSize
	if size == 0 {
		size = binary.BigEndian.Uint32(st.sizes[4*i:])
	}

	for c.sttsLeft == 0 {
		// total never exceeds the samples of stts, so an entry is left
		c.sttsLeft = binary.BigEndian.Uint32(st.stts[c.sttsI*8:])
		c.delta = binary.BigEndian.Uint32(st.stts[c.sttsI*8+4:])
		c.sttsI++
	}
	dts := c.dts
	c.dts += int64(c.delta)
	c.sttsLeft--

	var cts int32
	for c.cttsLeft == 0 && c.cttsI*8 < len(st.ctts) {
		c.cttsLeft = binary.BigEndian.Uint32(st.ctts[c.cttsI*8:])
		c.cttsI++
	}
	if c.cttsLeft > 0 {
		// version 1 offsets are signed; version 0 writers put negative
		// ones there too
		cts = int32(binary.BigEndian.Uint32(st.ctts[(c.cttsI-1)*8+4:]))
		c.cttsLeft--
	}

	key := true
	if st.hasStss {
		for c.stssI*4 < len(st.stss) && binary.BigEndian.Uint32(st.stss[c.stssI*4:]) < i+1 {
			c.stssI++
		}
		key = c.stssI*4 < len(st.stss) && binary.BigEndian.Uint32(st.stss[c.stssI*4:]) == i+1
	}

	for c.chunkLeft == 0 {
		c.chunk++
		if c.chunk >= c.chunks() {
			return fmt.Errorf("stsc and stco place %d of %d samples: %w", i, c.total, errMP4)
		}
		for (c.stscI+1)*12 < len(st.stsc) && int(binary.BigEndian.Uint32(st.stsc[(c.stscI+1)*12:])) <= c.chunk+1 {
			c.stscI++
		}
		if int(binary.BigEndian.Uint32(st.stsc[c.stscI*12:])) <= c.chunk+1 {
			c.chunkLeft = binary.BigEndian.Uint32(st.stsc[c.stscI*12+4:])
		}
		if st.co64 {
			c.pos = binary.BigEndian.Uint64(st.chunks[c.chunk*8:])
		} else {
			c.pos = uint64(binary.BigEndian.Uint32(st.chunks[c.chunk*4:]))
		}
	}
	off := c.pos
	c.pos += uint64(size)
	c.chunkLeft--
	c.n++

	if off > 1<<62 {
		return fmt.Errorf("sample %d at byte %d: %w", i, off, errMP4)
	}
	t := c.t
	c.cur = mp4Sample{
		t:    t,
		off:  int64(off),
		size: size,
		dts:  ticks(dts, t.scale) + t.shift,
		cts:  ticks(int64(cts), t.scale),
		key:  key,
	}
	c.has = true
	return nil
}

func (c *tableCursor) chunks() int {
	if c.st.co64 {
		return len(c.st.chunks) / 8
	}
	return len(c.st.chunks) / 4
}
