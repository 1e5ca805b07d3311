package mpegts

import (
	"io"
	"slices"

	"github.com/mediakit/mediakit/pkg/internal/mpegcrc"
)

// This file is the demuxer's packet and PES core: it reads 188-byte
// packets (resyncing on the 0x47 sync byte), reassembles the PES packets
// of the program's streams and hands each complete one, with its PTS and
// DTS, to an emit function. It behaves as go-astits' demuxer does under
// mediacommon's reader (which Demuxer used before; TestDifferential
// compares the two): the same continuity handling (a gap or a repeated
// counter empties the PID's queue, the discontinuity indicator is
// honoured), a PES is complete at the next payload unit start or when
// its length says so, what is queued at the end of the input is handed
// out in PID order, and a PES without a PTS is dropped. Unlike the old
// reader it bounds each PES at MaxPES bytes, and it reads a PES whose
// PES_packet_length does not match its payload as ffmpeg does instead of
// dropping it: a length too short to hold the header is ignored (the PES
// ends at the next payload unit start), and a PES that ends before its
// length says is handed out as it is. What it drops or mends is counted
// (Losses).

const (
	tsPacketSize = 188
	tsSyncByte   = 0x47
	// readChunk is what the core asks its reader for at once.
	readChunk = 64 * tsPacketSize
)

// emitFunc gets a complete PES packet of a stream: its PTS, its DTS (its
// PTS when it has none) and its data, valid during the call.
type emitFunc func(pts, dts int64, data []byte) error

// pesQueue is what is queued for one PID.
type pesQueue struct {
	emit     emitFunc
	buf      []byte // concatenated payloads
	spare    []byte // the buffer of the previous PES, reused
	packets  int    // packets queued
	lastCC   byte
	firstLen int  // payload length of the first queued packet
	over     bool // more than MaxPES queued: drop this PES
	// unbounded: the PES_packet_length is too short for the header; the
	// PES ends at the next payload unit start.
	unbounded bool
	// lost: a continuity gap dropped the PES being queued (counted);
	// what follows up to the next unit start belongs to it.
	lost bool
	// seen: a PES started on this PID, so that bytes which start none
	// are lost data, not the tail of a PES from before the input began.
	seen bool
}

// Losses counts what the demuxer could not hand out as it was read.
type Losses struct {
	// Dropped PES packets: larger than the bound on one, broken by a
	// continuity-counter gap, with a header that does not parse or no
	// PTS, or payload that starts no PES packet.
	Dropped int
	// Mended PES packets: their PES_packet_length did not match their
	// payload; read up to the next payload unit start.
	Mended int
	// Cut PES packets: the end of the input came before the end their
	// length announces; handed out as they are.
	Cut int
	// Trailing bytes at the end of the input, short of a whole packet.
	Trailing int
}

// Add adds o's counts to l's: the losses of several demuxers (the
// segments of an HLS stream).
func (l *Losses) Add(o Losses) {
	l.Dropped += o.Dropped
	l.Mended += o.Mended
	l.Cut += o.Cut
	l.Trailing += o.Trailing
}

// fastCore demuxes the PES packets of the PIDs given to it.
type fastCore struct {
	r      io.Reader
	buf    []byte
	pos    int
	queues [8192]*pesQueue
	pids   []uint16 // of queues, ascending
	pmt    [8192]bool
	losses Losses
	// differs: a PES was read otherwise than go-astits reads it (mended,
	// or cut and handed out); the differential tests compare only what
	// does not.
	differs bool
	// after is called after each PES handed out; its error ends run.
	after func() error
}

func newFastCore(r io.Reader, streams map[uint16]emitFunc) *fastCore {
	c := &fastCore{r: r, buf: make([]byte, 0, readChunk+tsPacketSize)}
	for pid, emit := range streams {
		c.queues[pid&0x1fff] = &pesQueue{emit: emit}
		c.pids = append(c.pids, pid&0x1fff)
	}
	slices.Sort(c.pids)
	return c
}

// fill reads more input; it returns io.EOF at the end of the input.
func (c *fastCore) fill() error {
	if c.pos > 0 {
		n := copy(c.buf, c.buf[c.pos:])
		c.buf, c.pos = c.buf[:n], 0
	}
	for {
		n, err := c.r.Read(c.buf[len(c.buf):cap(c.buf)])
		c.buf = c.buf[:len(c.buf)+n]
		if n > 0 {
			return nil
		}
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF { //nolint:errorlint // as astits
				return io.EOF
			}
			return err
		}
	}
}

// run reads the input to its end (nil), a read error, or an error of an
// emit or after function.
func (c *fastCore) run() error {
	for {
		if len(c.buf)-c.pos < tsPacketSize {
			if err := c.fill(); err != nil {
				if err == io.EOF { //nolint:errorlint // fill's own
					c.losses.Trailing += len(c.buf) - c.pos
					return c.flushAll()
				}
				return err
			}
			continue
		}
		p := c.buf[c.pos : c.pos+tsPacketSize]
		if p[0] != tsSyncByte {
			// skip to the next sync byte within the packet, or past it
			k := tsPacketSize
			for i := 1; i < tsPacketSize; i++ {
				if p[i] == tsSyncByte {
					k = i
					break
				}
			}
			c.pos += k
			continue
		}
		c.pos += tsPacketSize
		if err := c.packet(p); err != nil {
			return err
		}
	}
}

// adaptationOK says whether go-astits parses the adaptation field of p
// (which it reads past its announced length, up to the end of the packet).
func adaptationOK(p []byte) bool {
	i := 4
	if i >= len(p) {
		return false
	}
	l := int(p[i])
	i++
	if l == 0 {
		return true
	}
	if i >= len(p) {
		return false
	}
	f := p[i]
	i++
	if f&0x10 != 0 { // PCR
		i += 6
	}
	if f&0x08 != 0 { // OPCR
		i += 6
	}
	if f&0x04 != 0 { // splice countdown
		i++
	}
	if i > len(p) {
		return false
	}
	if f&0x02 != 0 { // private data
		if i >= len(p) {
			return false
		}
		n := int(p[i])
		i += 1 + n
		if i > len(p) {
			return false
		}
	}
	if f&0x01 != 0 { // extension
		if i >= len(p) {
			return false
		}
		el := int(p[i])
		i++
		if el > 0 {
			if i >= len(p) {
				return false
			}
			ef := p[i]
			i++
			if ef&0x80 != 0 {
				i += 2
			}
			if ef&0x40 != 0 {
				i += 3
			}
			if ef&0x20 != 0 {
				i += 5 // the splice type byte is re-read as the DTS' first
			}
			if i > len(p) {
				return false
			}
		}
	}
	return true
}

// packet handles one 188-byte packet starting with the sync byte.
func (c *fastCore) packet(p []byte) error {
	if p[1]&0x80 != 0 { // transport error
		return nil
	}
	pid := uint16(p[1]&0x1f)<<8 | uint16(p[2])
	pusi := p[1]&0x40 != 0
	hasAF, hasPayload := p[3]&0x20 != 0, p[3]&0x10 != 0
	cc := p[3] & 0x0f
	off := 4
	disc := false
	if hasAF {
		if !adaptationOK(p) {
			return nil
		}
		off += 1 + int(p[4])
		disc = p[4] > 0 && p[5]&0x80 != 0
	}
	if !hasPayload {
		return nil
	}
	var payload []byte
	if off < tsPacketSize {
		payload = p[off:]
	}
	if pid == 0 {
		if pusi {
			c.pat(payload)
		}
		return nil
	}
	q := c.queues[pid]
	if q == nil || c.pmt[pid] {
		return nil
	}

	if q.packets > 0 && pid != 0x1fff && !disc && cc != (q.lastCC+1)&0x0f {
		if isPESStart(q.buf) || q.over {
			c.losses.Dropped++
			q.lost = true
		}
		q.reset()
	}
	if q.packets > 0 && cc == q.lastCC {
		return nil // a repeated packet
	}
	var out [2][]byte // PES to hand out, in order
	n := 0
	lost := q.lost
	if pusi {
		if q.packets > 0 && !q.over {
			out[n] = q.buf
			n++
		} else if q.over {
			c.losses.Dropped++
		}
		q.buf, q.spare = q.spare[:0], q.buf
		q.packets, q.over, q.unbounded, q.lost = 0, false, false, false
	}
	if q.packets == 0 {
		q.firstLen = len(payload)
	}
	q.packets++
	q.lastCC = cc
	if !q.over {
		if len(q.buf)+len(payload) > MaxPES {
			q.over = true
			q.buf = q.buf[:0]
		} else {
			q.buf = append(q.buf, payload...)
		}
	}
	if !q.over && !q.unbounded && q.firstLen >= 3 && isPESStart(q.buf) && c.pesComplete(q) {
		// go-astits hands out this PES instead of the one the unit
		// start ended; both are handed out (the buffer swap leaves
		// out[0] intact until the next packet).
		if n > 0 {
			c.differs = true
		}
		out[n] = q.buf
		n++
		q.buf, q.spare = q.spare[:0], q.buf
		q.packets = 0
	}
	for i := range n {
		if err := c.handOut(q, out[i], lost && i == 0, false); err != nil {
			return err
		}
	}
	return nil
}

func (q *pesQueue) reset() {
	q.buf = q.buf[:0]
	q.packets = 0
	q.over, q.unbounded = false, false
}

// flushAll hands out what is queued at the end of the input, in PID order.
func (c *fastCore) flushAll() error {
	for _, pid := range c.pids {
		q := c.queues[pid]
		if q.packets == 0 || c.pmt[pid] {
			continue
		}
		if q.over {
			c.losses.Dropped++
			q.reset()
			continue
		}
		b, lost := q.buf, q.lost
		q.reset()
		if err := c.handOut(q, b, lost, true); err != nil {
			return err
		}
	}
	return nil
}

// pat notes the PMT PIDs of a PAT section starting in payload: go-astits
// reads those PIDs as tables, never as PES.
func (c *fastCore) pat(payload []byte) {
	if len(payload) < 1 {
		return
	}
	b := payload[1:]
	if int(payload[0]) > len(b) {
		return
	}
	b = b[payload[0]:]
	if len(b) < 8 || b[0] != 0 {
		return
	}
	l := int(b[1]&0x0f)<<8 | int(b[2])
	if 3+l > len(b) || l < 9 {
		return
	}
	if mpegcrc.Checksum(b[:3+l-4]) != uint32(b[3+l-4])<<24|uint32(b[3+l-3])<<16|uint32(b[3+l-2])<<8|uint32(b[3+l-1]) {
		return // go-astits drops a table whose CRC does not match
	}
	entries := b[8 : 3+l-4]
	for ; len(entries) >= 4; entries = entries[4:] {
		if prog := uint16(entries[0])<<8 | uint16(entries[1]); prog > 0 {
			c.pmt[uint16(entries[2]&0x1f)<<8|uint16(entries[3])] = true
		}
	}
}

func isPESStart(b []byte) bool { return len(b) >= 3 && b[0] == 0 && b[1] == 0 && b[2] == 1 }

// pesHeader parses the header of the PES packet b as go-astits does: the
// offsets of its data and whether it has an optional header, its PTS/DTS
// indicator, PTS and DTS. ok is false where go-astits fails.
type pesHeader struct {
	length     int
	dataStart  int
	dataEnd    int
	optional   bool
	ptsDTS     byte
	pts, dts   int64
	headerOkay bool
}

func parseClock5(b []byte) int64 {
	return int64((uint64(b[0])>>1&0x7)<<30 | uint64(b[1])<<22 |
		(uint64(b[2])>>1&0x7f)<<15 | uint64(b[3])<<7 | uint64(b[4])>>1&0x7f)
}

func parsePESHeader(b []byte) (h pesHeader) {
	if len(b) < 6 {
		return h
	}
	id := b[3]
	h.length = int(b[4])<<8 | int(b[5])
	if h.length > 0 {
		h.dataEnd = 6 + h.length
	} else {
		h.dataEnd = len(b)
	}
	if id == 0xbe || id == 0xbf { // padding, private stream 2
		h.dataStart = 6
		h.headerOkay = true
		return h
	}
	h.optional = true
	if len(b) < 9 {
		return h
	}
	f1, f2, hl := b[6], b[7], int(b[8])
	_ = f1
	h.ptsDTS = f2 >> 6 & 3
	h.dataStart = 9 + hl
	i := 9
	switch h.ptsDTS {
	case 2:
		if i+5 > len(b) {
			return h
		}
		h.pts = parseClock5(b[i:])
		i += 5
	case 3:
		if i+10 > len(b) {
			return h
		}
		h.pts, h.dts = parseClock5(b[i:]), parseClock5(b[i+5:])
		i += 10
	}
	if f2&0x20 != 0 { // ESCR
		i += 6
	}
	if f2&0x10 != 0 { // ES rate
		i += 3
	}
	if f2&0x08 != 0 { // trick mode
		i++
	}
	if f2&0x04 != 0 { // additional copy info
		i++
	}
	if f2&0x02 != 0 { // CRC
		i += 2
	}
	if i > len(b) {
		return h
	}
	if f2&0x01 != 0 { // extension
		if i >= len(b) {
			return h
		}
		e := b[i]
		i++
		if e&0x80 != 0 { // private data
			i += 16
		}
		if e&0x40 != 0 { // pack header field: go-astits reads its length only
			i++
		}
		if e&0x20 != 0 { // program packet sequence counter
			i += 2
		}
		if e&0x10 != 0 { // P-STD buffer
			i += 2
		}
		if i > len(b) {
			return h
		}
		if e&0x01 != 0 { // extension 2
			if i >= len(b) {
				return h
			}
			i += 1 + int(b[i]&0x7f)
			if i > len(b) {
				return h
			}
		}
	}
	h.headerOkay = true
	return h
}

// pesComplete says whether q holds a whole PES packet of a known length.
// A length too short to hold the PES header is ignored, as ffmpeg does
// (go-astits drops the PES): q is marked unbounded and the PES ends at
// the next payload unit start.
func (c *fastCore) pesComplete(q *pesQueue) bool {
	h := parsePESHeader(q.buf)
	if !h.headerOkay || h.length == 0 {
		return false
	}
	if h.optional && h.dataEnd <= h.dataStart {
		q.unbounded = true
		c.differs = true
		return false
	}
	return len(q.buf) >= h.dataEnd
}

// handOut parses a PES packet and emits its data when it has a PTS. A
// PES whose length does not match its payload (too short for its header,
// or longer than what came before the next unit start or the end of the
// input, atEnd) is read up to the end of what was queued, as ffmpeg does.
// lost: the start of the PES in b was dropped already (a continuity gap).
func (c *fastCore) handOut(q *pesQueue, b []byte, lost, atEnd bool) error {
	if !isPESStart(b) {
		if q.seen && !lost && len(b) > 0 {
			c.losses.Dropped++ // payload that starts no PES
		}
		return nil
	}
	q.seen = true
	h := parsePESHeader(b)
	if h.headerOkay && h.optional && h.length > 0 && h.dataStart <= len(b) &&
		(h.dataEnd <= h.dataStart || h.dataEnd > len(b)) {
		switch {
		case h.dataEnd <= h.dataStart:
			c.losses.Mended++
			c.differs = true
		case atEnd:
			c.losses.Cut++ // the differential tests allow this one
		default:
			c.losses.Mended++
			c.differs = true
		}
		h.dataEnd = len(b)
	}
	if !h.headerOkay || h.dataEnd < h.dataStart || h.dataEnd > len(b) || !h.optional || h.ptsDTS < 2 {
		c.losses.Dropped++ // a broken header, or no PTS
		return nil
	}
	dts := h.pts
	if h.ptsDTS == 3 {
		dts = h.dts
	}
	if err := q.emit(h.pts, dts, b[h.dataStart:h.dataEnd]); err != nil {
		return err
	}
	if c.after != nil {
		return c.after()
	}
	return nil
}
