package hls

import (
	"bytes"
	"slices"
)

const tsPacketSize = 188

// defaultPMTPID is astits' PMT PID, used until a PAT says otherwise.
const defaultPMTPID = 0x1000

// tsSink is the io.Writer under the MPEG-TS muxer. It collects the packets
// of the current segment and rewrites the program tables:
//
//   - every segment starts with PAT and PMT (copies of the last ones, with
//     continuing continuity counters), so that it decodes on its own;
//   - repetitions of unchanged tables inside a segment are dropped. The
//     muxer writes them before every random access point of its PCR track,
//     which for an audio-led stream means before every audio frame (376
//     bytes per 23 ms AAC frame, more than the audio). An HLS segment is
//     always read from its start, so one copy per segment is enough.
//
// The muxer writes whole packets per frame but in several Write calls, so
// packets are inspected as they complete.
type tsSink struct {
	buf     []byte
	scanned int // bytes of buf already inspected
	hint    int // capacity for the next segment's buffer

	pmtPID          int
	pat, pmt        []byte // last kept tables, whole packets
	patCC, pmtCC    uint8
	tablesInSegment bool
	keepNextPMT     bool
}

func (t *tsSink) init() {
	t.pmtPID = defaultPMTPID
	t.hint = 64 << 10
}

// Write implements io.Writer; it never fails.
func (t *tsSink) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	t.inspectAll()
	return len(p), nil
}

// reserve and commit let the muxer build PES packets in the segment's
// buffer (packetWriter) instead of copying them in with Write.
func (t *tsSink) reserve(n int) []byte {
	t.buf = slices.Grow(t.buf, n)
	return t.buf[len(t.buf):len(t.buf)]
}

func (t *tsSink) commit(n int) {
	t.buf = t.buf[:len(t.buf)+n]
	t.inspectAll()
}

func (t *tsSink) inspectAll() {
	for len(t.buf)-t.scanned >= tsPacketSize {
		t.inspect()
	}
}

func packetPID(pkt []byte) int { return int(pkt[1]&0x1f)<<8 | int(pkt[2]) }

// inspect looks at the packet at t.scanned, which is complete.
func (t *tsSink) inspect() {
	pkt := t.buf[t.scanned : t.scanned+tsPacketSize]
	if pkt[0] != 0x47 {
		t.scanned += tsPacketSize
		return
	}
	switch pid := packetPID(pkt); {
	case pid == 0:
		keep := !t.tablesInSegment || !samePayload(pkt, t.pat)
		t.keepNextPMT = keep
		if !keep {
			t.remove()
			return
		}
		t.tablesInSegment = true
		t.pat = append(t.pat[:0], pkt...)
		t.pmtPID = patPMTPID(pkt, t.pmtPID)
		setCC(pkt, &t.patCC)
		t.scanned += tsPacketSize
	case pid == t.pmtPID:
		keep := t.keepNextPMT || !samePayload(pkt, t.pmt)
		t.keepNextPMT = false
		if !keep {
			t.remove()
			return
		}
		t.pmt = append(t.pmt[:0], pkt...)
		setCC(pkt, &t.pmtCC)
		t.scanned += tsPacketSize
	default:
		t.scanned += tsPacketSize
	}
}

// remove deletes the packet at t.scanned; what follows it is less than a
// packet.
func (t *tsSink) remove() {
	t.buf = append(t.buf[:t.scanned], t.buf[t.scanned+tsPacketSize:]...)
}

// samePayload compares two table packets ignoring the continuity counter.
func samePayload(a, b []byte) bool {
	return len(b) == tsPacketSize && a[1] == b[1] && a[2] == b[2] && a[3]&0xf0 == b[3]&0xf0 &&
		bytes.Equal(a[4:], b[4:])
}

// setCC stamps the next continuity counter of its PID on a kept table
// packet, so that dropped repetitions leave no gap.
func setCC(pkt []byte, cc *uint8) {
	pkt[3] = pkt[3]&0xf0 | *cc
	*cc = (*cc + 1) & 0x0f
}

// patPMTPID returns the PMT PID of the first program of a single-packet PAT.
func patPMTPID(pkt []byte, def int) int {
	if pkt[1]&0x40 == 0 { // payload_unit_start_indicator
		return def
	}
	p := pkt[4:]
	if pkt[3]&0x20 != 0 { // adaptation field
		if len(p) < 1 || int(p[0])+1 > len(p) {
			return def
		}
		p = p[1+int(p[0]):]
	}
	if len(p) < 1 || int(p[0])+1 > len(p) {
		return def
	}
	sec := p[1+int(p[0]):]
	if len(sec) < 12 || sec[0] != 0 {
		return def
	}
	end := 3 + (int(sec[1]&0x0f)<<8 | int(sec[2])) - 4 // before CRC
	if end > len(sec) {
		return def
	}
	for i := 8; i+4 <= end; i += 4 {
		if prog := int(sec[i])<<8 | int(sec[i+1]); prog != 0 {
			return int(sec[i+2]&0x1f)<<8 | int(sec[i+3])
		}
	}
	return def
}

// begin starts a segment: it writes the last tables, if the muxer has
// written any yet (it always writes them before its first frame).
func (t *tsSink) begin() {
	t.tablesInSegment = false
	t.keepNextPMT = false
	if t.buf == nil {
		t.buf = make([]byte, 0, t.hint)
	}
	if t.pat == nil || t.pmt == nil {
		return
	}
	t.buf = append(t.buf, t.pat...)
	setCC(t.buf[len(t.buf)-tsPacketSize:], &t.patCC)
	t.buf = append(t.buf, t.pmt...)
	setCC(t.buf[len(t.buf)-tsPacketSize:], &t.pmtCC)
	t.tablesInSegment = true
	t.scanned = len(t.buf)
}

// take returns the segment's bytes and starts a new buffer. The returned
// slice is never touched again.
func (t *tsSink) take() []byte {
	data := t.buf[:t.scanned:t.scanned]
	if rest := t.buf[t.scanned:]; len(rest) > 0 {
		// Cannot happen: the muxer writes whole packets per frame.
		data = append(data[:len(data):len(data)], rest...)
	}
	if cap(t.buf)-len(data) > len(data)/4 {
		data = append([]byte(nil), data...) // do not pin much unused capacity
	}
	// Segments of a stream are alike in size: the next buffer rarely grows.
	t.hint = len(data) + len(data)/16
	if t.hint < 4<<10 {
		t.hint = 4 << 10
	}
	t.buf = nil
	t.scanned = 0
	return data
}
