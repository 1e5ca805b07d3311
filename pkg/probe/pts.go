package probe

import (
	"encoding/binary"
	"io"
	"os"
)

// Timestamp scans for durations. ffprobe gives an MPEG-TS or MPEG-PS file
// the span from the first PTS to the last PTS plus one frame, found by
// reading the file's head and its tail; these do the same on bounded
// windows, so probe time does not grow with the file.

// scanWindow is how much of the head and of the tail is scanned.
const scanWindow = 2 << 20

// ptsSpan is the timestamps seen for one kind (0 video, 1 audio), 90 kHz.
type ptsSpan struct {
	first, last int64
	ok          bool
}

type spans [2]ptsSpan

func (s *spans) add(kind int, pts int64, head bool) {
	sp := &s[kind]
	if !sp.ok {
		sp.first, sp.last, sp.ok = pts, pts, true
		return
	}
	if head && pts < sp.first {
		sp.first = pts
	}
	if pts > sp.last {
		sp.last = pts
	}
}

// pesPTS parses the PES packet header at b (b[0:3] = 00 00 01) and
// returns its stream's kind (0 video, 1 audio) and PTS.
func pesPTS(b []byte) (kind int, pts int64, ok bool) {
	if len(b) < 9 || b[0] != 0 || b[1] != 0 || b[2] != 1 {
		return 0, 0, false
	}
	switch sid := b[3]; {
	case sid >= 0xE0 && sid <= 0xEF:
		kind = 0
	case sid >= 0xC0 && sid <= 0xDF:
		kind = 1
	default:
		return 0, 0, false
	}
	h := b[6:]
	if h[0]&0xC0 == 0x80 { // MPEG-2 PES
		if h[1]&0x80 == 0 || len(h) < 8 {
			return 0, 0, false
		}
		pts, ok = readPTS(h[3:8])
		return kind, pts, ok
	}
	// MPEG-1 system stream packet: stuffing, STD buffer, then the PTS.
	i := 0
	for i < len(h) && i < 16 && h[i] == 0xFF {
		i++
	}
	if i+2 <= len(h) && h[i]&0xC0 == 0x40 {
		i += 2
	}
	if i+5 > len(h) || h[i]&0xE0 != 0x20 {
		return 0, 0, false
	}
	pts, ok = readPTS(h[i : i+5])
	return kind, pts, ok
}

func readPTS(p []byte) (int64, bool) {
	if p[0]&1 == 0 || p[2]&1 == 0 || p[4]&1 == 0 {
		return 0, false // marker bits
	}
	v := int64(p[0]>>1&7)<<30 | int64(p[1])<<22 | int64(p[2]>>1)<<15 | int64(p[3])<<7 | int64(p[4]>>1)
	return v, true
}

// scanTS adds the PTS of every PES that starts in the 188-byte packets
// of b.
func scanTS(b []byte, s *spans, head bool) {
	i := 0
	for i+188 <= len(b) {
		if b[i] != 0x47 || (i+376 <= len(b) && b[i+188] != 0x47) {
			i++ // resynchronise
			continue
		}
		p := b[i : i+188]
		i += 188
		if p[1]&0x40 == 0 { // no payload unit start
			continue
		}
		off := 4
		switch p[3] >> 4 & 3 {
		case 1:
		case 3:
			off += 1 + int(p[4])
		default:
			continue
		}
		if off+14 > len(p) {
			continue
		}
		if kind, pts, ok := pesPTS(p[off:]); ok {
			s.add(kind, pts, head)
		}
	}
}

// scanPS adds the PTS of every audio or video PES packet of an MPEG-PS
// byte range.
func scanPS(b []byte, s *spans, head bool) {
	for i := 0; i+20 <= len(b); i++ {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 || b[i+3] < 0xC0 || b[i+3] > 0xEF {
			continue
		}
		if kind, pts, ok := pesPTS(b[i:]); ok {
			s.add(kind, pts, head)
			i += 8 + int(binary.BigEndian.Uint16(b[i+4:])) - 1
		}
	}
}

// spanDuration is the duration of a file from its head and tail spans:
// the last PTS plus one frame (frameDur per kind, seconds) minus the
// first PTS, over both kinds; -1 when no timestamp was found.
func spanDuration(s spans, frameDur [2]float64) float64 {
	start, end := 0.0, 0.0
	found := false
	for k, sp := range s {
		if !sp.ok {
			continue
		}
		last := sp.last
		if last < sp.first { // 33-bit wrap
			last += 1 << 33
		}
		f, l := float64(sp.first)/90000, float64(last)/90000+frameDur[k]
		if !found || f < start {
			start = f
		}
		if !found || l > end {
			end = l
		}
		found = true
	}
	if !found {
		return -1
	}
	return end - start
}

// headTail reads up to scanWindow bytes from the head and from the tail of
// f (the tail only when it does not overlap the head).
func headTail(f *os.File, size int64) (head, tail []byte, err error) {
	n := min(size, scanWindow)
	head = make([]byte, n)
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, n), head); err != nil {
		return nil, nil, err
	}
	if size > scanWindow {
		off := max(size-scanWindow, scanWindow)
		tail = make([]byte, size-off)
		if _, err := io.ReadFull(io.NewSectionReader(f, off, size-off), tail); err != nil {
			return nil, nil, err
		}
	}
	return head, tail, nil
}

// flvLastTimestamp is ffmpeg's FLV duration when onMetaData has none: the
// timestamp of the last tag, found through the trailing PreviousTagSize
// fields (going back past tags stamped 0), in milliseconds; -1 if none.
func flvLastTimestamp(f io.ReaderAt, size int64) int64 {
	end := size
	var buf [11]byte
	for range 16 {
		if end < 13+4 {
			return -1
		}
		if _, err := f.ReadAt(buf[:4], end-4); err != nil {
			return -1
		}
		tagSize := int64(binary.BigEndian.Uint32(buf[:4]))
		if tagSize < 11 || tagSize > end-4-9 {
			return -1
		}
		start := end - 4 - tagSize
		if _, err := f.ReadAt(buf[:], start); err != nil {
			return -1
		}
		dataSize := int64(buf[1])<<16 | int64(buf[2])<<8 | int64(buf[3])
		if dataSize+11 != tagSize {
			return -1
		}
		ts := int64(buf[4])<<16 | int64(buf[5])<<8 | int64(buf[6]) | int64(buf[7])<<24
		if ts != 0 {
			return ts
		}
		end = start
	}
	return -1
}
