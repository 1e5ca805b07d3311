package rtp

import "encoding/binary"

// Detect guesses what an RTP payload carries from its first bytes and its
// payload type.
//
// Signatures that RTP payloads of other kinds cannot start with decide
// first: an MPEG-PS start code (00 00 01 followed by BA pack, BB system
// header, or a PES stream id), whole 188-byte TS packets starting with the
// 0x47 sync byte. Then
// the static G.711 types 0 and 8, then an RFC 3640 AU header section whose
// sizes add up exactly. Then H.264 and H.265 NAL unit headers, checked
// against the rules of each codec (forbidden bit, nal_ref_idc for H.264,
// layer id and temporal id for H.265, and the header inside STAP-A, AP and
// FU packets). When the header fits both codecs, or neither, the customary
// payload type decides (96 PS, 98 H.264, 99 H.265, 100 Opus, 33 TS); failing
// that the result is KindUnknown.
//
// A single packet can mislead: most packets of a PS stream continue a frame
// and start with arbitrary bytes. Use a Detector to decide over several.
func Detect(pt uint8, payload []byte) Kind {
	v := examine(pt, payload)
	switch {
	case v.sure != "":
		return v.sure
	case v.h264 && !v.h265:
		return KindH264
	case v.h265 && !v.h264:
		return KindH265
	}
	h := hint(pt)
	if v.h264 && v.h265 && !h.IsVideo() {
		return KindUnknown
	}
	return h
}

// DefaultDetectPackets is how many packets a Detector looks at at most.
const DefaultDetectPackets = 16

// detectMinVotes packets in a row that fit one video codec only decide at
// once.
const detectMinVotes = 4

// Detector decides the kind of a stream over its first packets. Feed it
// packets in arrival order until it reports done; later calls return the
// same kind. The zero value is ready to use.
type Detector struct {
	// MaxPackets bounds how many packets are looked at (default 16).
	MaxPackets int

	n, h264, h265 int
	pt            uint8
	done          bool
	kind          Kind
}

// Feed looks at one more packet and returns the best guess so far and
// whether it is final. A PS, TS, G.711 or AAC signature is final at once;
// H.264 or H.265 is final after a few packets that fit one codec and not the
// other. After MaxPackets packets the guess becomes final: the video codec
// that at least half of the packets fit (and more than the other), else the
// payload type's customary kind, else KindUnknown.
func (d *Detector) Feed(pt uint8, payload []byte) (Kind, bool) {
	if d.done {
		return d.kind, true
	}
	d.n++
	d.pt = pt
	v := examine(pt, payload)
	if v.sure != "" {
		return d.finish(v.sure)
	}
	if v.h264 {
		d.h264++
	}
	if v.h265 {
		d.h265++
	}
	// A customary non-video payload type (PS above all, whose
	// continuation packets start with arbitrary bytes) is only overruled
	// by the majority at the end.
	if h := hint(pt); h == KindUnknown || h.IsVideo() {
		switch {
		case d.h264 >= detectMinVotes && d.h264 == d.n && d.h265 < d.h264:
			return d.finish(KindH264)
		case d.h265 >= detectMinVotes && d.h265 == d.n && d.h264 < d.h265:
			return d.finish(KindH265)
		}
	}
	max := d.MaxPackets
	if max <= 0 {
		max = DefaultDetectPackets
	}
	if d.n >= max {
		return d.finish(d.guess())
	}
	return d.guess(), false
}

// Kind is the current guess, final once Done.
func (d *Detector) Kind() Kind {
	if d.done {
		return d.kind
	}
	if d.n == 0 {
		return KindUnknown
	}
	return d.guess()
}

// Done reports whether the kind is final.
func (d *Detector) Done() bool { return d.done }

// Reset forgets every packet, for a new stream.
func (d *Detector) Reset() { *d = Detector{MaxPackets: d.MaxPackets} }

func (d *Detector) finish(k Kind) (Kind, bool) {
	d.done, d.kind = true, k
	return k, true
}

func (d *Detector) guess() Kind {
	lead, votes, other := KindH264, d.h264, d.h265
	if d.h265 > d.h264 {
		lead, votes, other = KindH265, d.h265, d.h264
	}
	if votes > other && votes*2 >= d.n {
		return lead
	}
	// No majority, or every voting packet fits both codecs: the payload
	// type decides.
	return hint(d.pt)
}

// verdict is what one payload says: a certain kind, or which video codecs
// its NAL header fits.
type verdict struct {
	sure       Kind
	h264, h265 bool
}

func examine(pt uint8, b []byte) verdict {
	switch {
	case isPS(b):
		return verdict{sure: KindPS}
	case isTS(b):
		return verdict{sure: KindTS}
	case pt == PayloadTypePCMU:
		return verdict{sure: KindPCMU}
	case pt == PayloadTypePCMA:
		return verdict{sure: KindPCMA}
	case isAACHbr(b):
		return verdict{sure: KindAAC}
	}
	return verdict{h264: isH264(b), h265: isH265(b)}
}

// isPS: a start code then a pack header (BA), system header (BB), program
// end (B9) or PES stream id (BC-FF). RTP payloads of H.264 or H.265 never
// start with 00 00 01 (NAL type 0 is not used; H.265 temporal id 0 is
// forbidden), so the prefix alone is telling.
func isPS(b []byte) bool {
	return len(b) >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 1 && b[3] >= 0xb9
}

// isTS: whole 188-byte packets, the first starting with the 0x47 sync byte
// (ZLMediaKit's test). The later sync bytes are not checked so that one
// damaged packet does not turn a TS stream into H.264, whose SPS header
// 0x47 would be.
func isTS(b []byte) bool {
	return len(b) > 0 && len(b)%188 == 0 && b[0] == 0x47
}

// isAACHbr: an RFC 3640 AAC-hbr payload (13-bit size, 3-bit index) whose AU
// sizes add up to exactly the rest of the packet, with zero indexes (no
// interleaving).
func isAACHbr(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	bits := int(binary.BigEndian.Uint16(b))
	if bits == 0 || bits%16 != 0 {
		return false
	}
	end := 2 + bits/8
	if end >= len(b) {
		return false
	}
	total := 0
	for i := 2; i < end; i += 2 {
		h := binary.BigEndian.Uint16(b[i:])
		if h&7 != 0 || h>>3 == 0 {
			return false
		}
		total += int(h >> 3)
	}
	return total == len(b)-end
}

// isH264 checks an RFC 6184 payload header. Only the NAL types a real
// stream sends are taken: slices (1, 5), SEI, SPS, PPS, AUD, end of
// sequence or stream, filler (6-12), with the nal_ref_idc rules of H.264
// section 7.4.1, and STAP-A (24) and FU-A (28) around them. Data partitions
// (2-4) and the extension types are left out because H.265 headers often
// look like them.
func isH264(b []byte) bool {
	if len(b) < 2 || b[0]&0x80 != 0 {
		return false
	}
	nri, t := b[0]>>5&3, b[0]&0x1f
	switch t {
	case 24: // STAP-A: the units must fill the packet exactly
		b = b[1:]
		if len(b) == 0 {
			return false
		}
		for len(b) > 0 {
			if len(b) < 3 {
				return false
			}
			n := int(binary.BigEndian.Uint16(b))
			if n == 0 || n > len(b)-2 || b[2]&0x80 != 0 || !h264TypeOK(b[2]&0x1f, b[2]>>5&3) {
				return false
			}
			b = b[2+n:]
		}
		return true
	case 28: // FU-A: reserved bit clear, not both start and end
		fu := b[1]
		return fu&0x20 == 0 && fu&0xc0 != 0xc0 && h264TypeOK(fu&0x1f, nri)
	}
	return h264TypeOK(t, nri)
}

func h264TypeOK(t, nri byte) bool {
	switch t {
	case 1:
		return true
	case 5, 7, 8: // IDR, SPS, PPS: nal_ref_idc shall not be 0
		return nri != 0
	case 6, 9, 10, 11, 12: // SEI, AUD, end of seq/stream, filler: shall be 0
		return nri == 0
	}
	return false
}

// isH265 checks an RFC 7798 payload header: forbidden bit clear, layer id 0
// (no multi-layer streams here), temporal id + 1 not 0, a NAL type in use
// (0-9, 16-21, 32-40) with the temporal id rules of H.265 section 7.4.2.2,
// and the same for the header inside AP (48) and FU (49) packets.
func isH265(b []byte) bool {
	if len(b) < 3 {
		return false
	}
	t, tid, ok := h265Header(b[0], b[1])
	if !ok {
		return false
	}
	switch t {
	case 48: // AP: at least two units, filling the packet exactly
		b = b[2:]
		units := 0
		for len(b) > 0 {
			if len(b) < 4 {
				return false
			}
			n := int(binary.BigEndian.Uint16(b))
			if n < 2 || n > len(b)-2 {
				return false
			}
			ut, utid, ok := h265Header(b[2], b[3])
			if !ok || !h265TypeOK(ut, utid) {
				return false
			}
			b = b[2+n:]
			units++
		}
		return units >= 2
	case 49: // FU: not both start and end
		fu := b[2]
		return fu&0xc0 != 0xc0 && h265TypeOK(fu&0x3f, tid)
	}
	return h265TypeOK(t, tid)
}

// h265Header splits a NAL unit header into type and TemporalId + 1, and
// checks the forbidden bit, layer id 0 and TemporalId + 1 > 0.
func h265Header(b0, b1 byte) (t, tid byte, ok bool) {
	layer := (b0&1)<<5 | b1>>3
	tid = b1 & 7
	return b0 >> 1 & 0x3f, tid, b0&0x80 == 0 && layer == 0 && tid != 0
}

func h265TypeOK(t, tid byte) bool {
	switch {
	case t <= 1 || (t >= 6 && t <= 9): // TRAIL, RADL, RASL
		return true
	case t <= 5: // TSA, STSA: TemporalId > 0
		return tid >= 2
	case t >= 16 && t <= 21: // IRAP: TemporalId 0
		return tid == 1
	case t == 32 || t == 33 || t == 36 || t == 37: // VPS, SPS, EOS, EOB: TemporalId 0
		return tid == 1
	case t == 34 || t == 35 || (t >= 38 && t <= 40): // PPS, AUD, FD, SEI
		return true
	}
	return false
}
