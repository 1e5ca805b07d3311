package ps

import (
	"bytes"
	"fmt"
)

// A stream assembles the PES payloads of one stream_id into access units,
// by the rules in the package documentation.

// mark records where the payload of a PES packet starts in a stream's
// buffer and its timestamps, so that an access unit found later in the
// bytes takes the timestamps of the packet it commences in.
type mark struct {
	off      int // index in stream.buf
	pts, dts int64
	hasPTS   bool
	used     bool // given to an access unit
}

// maxMarks bounds the marks kept: only packets that start in the few bytes
// not yet scanned need one, so more means empty packets in a row.
const maxMarks = 16

// keepCap is the buffer capacity a stream keeps between frames; a larger
// buffer (grown for a keyframe) is released once the frame is out, so 48
// streams that each once had a large frame do not pin 48 large buffers.
const keepCap = 256 << 10

var startCode3 = []byte{0, 0, 1}

type stream struct {
	d   *Demuxer
	id  byte
	typ StreamType // StreamUnknown until the PSM says or the payload tells

	// buf[base:] holds the current access unit and, for H.264 and H.265,
	// the bytes after it not yet scanned; while !open, the bytes being
	// searched for the start of one.
	buf  []byte
	base int
	open bool // an access unit is being assembled

	// The current access unit.
	pts, dts int64
	key      bool
	vcl      bool // holds a slice

	discard  bool // drop the rest of the current PES packet
	dropping bool // s.pts is the PTS of a dropped frame whose packets are still coming

	marks []mark
	scan  int // index in buf from which to look for start codes
}

func newStream(d *Demuxer, id byte) *stream {
	return &stream{d: d, id: id, pts: -1, dts: -1}
}

// nalMode reports whether access units are found by NAL unit syntax: for
// H.264, H.265, and video streams whose codec is still to be guessed.
func (s *stream) nalMode() bool {
	return s.typ.nalCodec() || s.typ == StreamUnknown && IsVideoID(s.id)
}

// beginPES starts the payload of a PES packet.
func (s *stream) beginPES(h pesHeader) {
	s.discard = false
	if s.nalMode() {
		m := mark{off: len(s.buf), pts: h.pts, dts: h.dts, hasPTS: h.hasPTS}
		switch {
		case len(s.marks) > 0 && s.marks[len(s.marks)-1].off == m.off: // the last packet was empty
			s.marks[len(s.marks)-1] = m
		case len(s.marks) == maxMarks:
			copy(s.marks, s.marks[1:])
			s.marks[len(s.marks)-1] = m
		default:
			s.marks = append(s.marks, m)
		}
		return
	}
	if h.hasPTS && (h.pts != s.pts || !s.open && !s.dropping) {
		s.finish()
		s.open, s.dropping = true, false
		s.pts, s.dts, s.key = h.pts, h.dts, IsAudioID(s.id)
		return
	}
	if !s.open { // the rest of a frame that was dropped or whose start was lost
		s.discard = true
	}
}

// write appends PES payload bytes.
func (s *stream) write(b []byte) {
	if len(b) == 0 {
		return
	}
	if s.discard {
		s.d.stats.Dropped += uint64(len(b))
		return
	}
	s.buf = append(s.buf, b...)
	size := len(s.buf) - s.base
	if s.nalMode() {
		s.scanNALs()
		// The few bytes from the scan position on may start the next one.
		size = max(s.scan-1, s.base) - s.base
	}
	switch {
	case s.open && size > s.d.maxFrameSize():
		s.overflow(fmt.Errorf("ps: stream 0x%02x: %w: over %d bytes, dropped", s.id, ErrFrameTooLarge, s.d.maxFrameSize()))
	case s.d.buffered() > s.d.maxBuffered():
		s.overflow(fmt.Errorf("ps: stream 0x%02x: %w: streams together over %d bytes, frame dropped", s.id, ErrFrameTooLarge, s.d.maxBuffered()))
	}
	s.compact()
}

// overflow drops the access unit that grew too large. For H.264 and H.265
// the search for the next access unit goes on in the same bytes; for other
// codecs the rest of the frame is dropped as it comes.
func (s *stream) overflow(err error) {
	if s.open {
		s.tooLarge(err)
	}
	s.open = false // counted by tooLarge, not again by drop
	if s.nalMode() {
		keep := max(s.scan-1, s.base)
		s.d.stats.Dropped += uint64(keep - s.base)
		s.base, s.vcl = keep, false
		return
	}
	s.drop()
	s.discard, s.dropping = true, true
}

func (s *stream) tooLarge(err error) {
	s.d.stats.Oversize++
	s.d.stats.DroppedFrames++
	s.d.fail(err)
}

// scanNALs looks for access unit boundaries in the bytes appended since
// the last call.
func (s *stream) scanNALs() {
	for {
		s.scan = max(s.scan, s.base)
		i := bytes.Index(s.buf[s.scan:], startCode3)
		if i < 0 {
			s.scan = max(s.scan, len(s.buf)-2) // a start code may straddle the next write
			break
		}
		pos := s.scan + i
		hdr := pos + len(startCode3)
		if s.typ == StreamUnknown {
			if len(s.buf) < hdr+2 {
				s.scan = pos
				break
			}
			s.typ = guessVideo(s.buf[hdr:])
			if s.typ == StreamUnknown {
				s.scan = hdr
				continue
			}
		}
		if len(s.buf) < hdr+nalHeaderNeed(s.typ) {
			s.scan = pos
			break
		}
		kind, key := classifyNAL(s.typ, s.buf[hdr:])
		s.scan = hdr
		if kind != nalInvalid {
			s.nal(pos, kind, key)
		}
	}
	if !s.open {
		// Nothing before the scan position can start an access unit any
		// more, but for the zero byte of a 4-byte start code.
		if cut := s.scan - 1; cut > s.base {
			s.d.stats.Dropped += uint64(cut - s.base)
			s.base = cut
		}
	}
	s.pruneMarks()
}

// nal handles the NAL unit whose start code 00 00 01 is at buf[pos].
func (s *stream) nal(pos int, kind nalKind, key bool) {
	start := pos // first byte of the access unit, if one starts here
	if pos > s.base && s.buf[pos-1] == 0 {
		start = pos - 1
	}
	in := s.markAt(pos) // the packet the start code lies in
	aligned := in != nil && (in.off == pos || in.off == start)
	newPTS := in != nil && in.hasPTS && !in.used && in.pts != s.pts
	if !s.open {
		if kind == nalPrefix || kind == nalSEI || kind == nalFirstSlice || aligned && in.hasPTS && !in.used {
			s.d.stats.Dropped += uint64(start - s.base)
			s.base = start
			s.begin(start)
		}
	} else if s.vcl {
		boundary := kind == nalPrefix || kind == nalFirstSlice
		// Cameras mark their frames by a new PTS at the start of a packet
		// even when the slice header does not; and a SEI after the slices
		// starts the next access unit only when its packet has a timestamp
		// for one, since cameras also send SEI after the slices.
		if !boundary && newPTS {
			boundary = aligned || kind == nalSEI
		}
		if boundary {
			s.emit(start)
			s.begin(start)
		}
	}
	if s.open && (kind == nalFirstSlice || kind == nalSlice) {
		s.vcl = true
		s.key = s.key || key
	}
}

// begin opens an access unit at buf[start] with the timestamps of the
// packet its first byte lies in, unless an earlier access unit took them.
// The first byte of a 4-byte start code counts, as in ISO/IEC 13818-1:
// when a packet ends with it, the access unit commences in that packet.
func (s *stream) begin(start int) {
	s.open, s.vcl, s.key = true, false, false
	s.pts, s.dts = -1, -1
	if m := s.markAt(start); m != nil && m.hasPTS && !m.used {
		s.pts, s.dts = m.pts, m.dts
		m.used = true
	}
}

// markAt returns the mark of the packet holding buf[i], or nil.
func (s *stream) markAt(i int) *mark {
	for j := len(s.marks) - 1; j >= 0; j-- {
		if s.marks[j].off <= i {
			return &s.marks[j]
		}
	}
	return nil
}

// pruneMarks forgets packets that lie wholly before the scan position,
// keeping the one the next access unit could start in.
func (s *stream) pruneMarks() {
	j := 0
	for j+1 < len(s.marks) && s.marks[j+1].off <= s.scan-1 {
		j++
	}
	if j > 0 {
		s.marks = s.marks[:copy(s.marks, s.marks[j:])]
	}
}

// emit hands out buf[base:end] as the current access unit, unless it is
// over the size limit (which write checks only at the end of its bytes).
func (s *stream) emit(end int) {
	switch n := end - s.base; {
	case n > s.d.maxFrameSize():
		s.tooLarge(fmt.Errorf("ps: stream 0x%02x: %w: %d bytes, dropped", s.id, ErrFrameTooLarge, n))
		s.d.stats.Dropped += uint64(n)
	case n > 0:
		data := s.buf[s.base:end:end]
		if !s.d.Borrow {
			data = bytes.Clone(data)
		}
		s.d.emitFrame(s, data)
	}
	s.base = end
	s.open = false
}

// finish emits the current access unit, whatever it holds.
func (s *stream) finish() {
	if s.open {
		s.emit(len(s.buf))
	}
	s.drop()
}

// drop discards what is buffered, counting a partial access unit.
func (s *stream) drop() {
	if n := len(s.buf) - s.base; n > 0 {
		s.d.stats.Dropped += uint64(n)
		if s.open {
			s.d.stats.DroppedFrames++
		}
	}
	s.buf, s.base, s.scan = s.buf[:0], 0, 0
	s.marks = s.marks[:0]
	s.open, s.vcl = false, false
	if cap(s.buf) > keepCap {
		s.buf = nil
	}
}

// reset forgets everything but the stream's type, after packet loss.
func (s *stream) reset() {
	s.drop()
	s.discard, s.dropping = false, false
}

// compact moves the buffered bytes to the front of buf, and lets a large
// buffer go once it holds little.
func (s *stream) compact() {
	if s.base == 0 {
		return
	}
	n := len(s.buf) - s.base
	if cap(s.buf) > keepCap && n < keepCap/2 {
		s.buf = append(make([]byte, 0, max(n, 4096)), s.buf[s.base:]...)
	} else {
		s.buf = s.buf[:copy(s.buf, s.buf[s.base:])]
	}
	for i := range s.marks {
		s.marks[i].off -= s.base
	}
	s.scan = max(s.scan-s.base, 0)
	s.base = 0
}

// setType applies the stream type a PSM declares. A new type ends the
// current access unit: its bytes were framed by the old codec's rules.
func (s *stream) setType(t StreamType) {
	if t == s.typ {
		return
	}
	s.finish()
	s.discard, s.dropping = false, false
	s.typ = t
}
