package ps

// PES packets (ISO/IEC 13818-1 §2.4.3.6), in their MPEG-2 form and in the
// MPEG-1 form (ISO/IEC 11172-1 §2.4.3.3) that old cameras and ffmpeg's
// "mpeg" muxer still write.

// pesHeader is what the demuxer needs from a PES header.
type pesHeader struct {
	length   int // PES_packet_length: bytes after the length field; 0 = unbounded
	hasPTS   bool
	pts, dts int64 // dts == pts without a DTS
}

// Sizes of PES headers.
const (
	pesFixedLen    = 6  // start code, stream_id, PES_packet_length
	pesMaxStuffing = 16 // MPEG-1 stuffing bytes allowed before the rest of the header
	pesMaxPayload  = 0xFFFF
)

// pesHeaderNeed returns how many bytes the PES header starting at b (with
// at least the 6 fixed bytes) occupies, or, while b is too short to tell,
// a length greater than len(b). bad is set when the bytes cannot be a PES
// header of a stream with the optional header.
func pesHeaderNeed(b []byte) (need int, bad bool) {
	if len(b) < pesFixedLen+1 {
		return pesFixedLen + 1, false
	}
	length := int(b[4])<<8 | int(b[5])
	var n int
	if b[6]>>6 == 2 { // MPEG-2: '10' flags, flags, PES_header_data_length
		if len(b) < pesFixedLen+3 {
			return pesFixedLen + 3, false
		}
		n = pesFixedLen + 3 + int(b[8])
		switch b[7] >> 6 { // PTS_DTS_flags
		case 2:
			bad = b[8] < 5
		case 3:
			bad = b[8] < 10
		}
	} else {
		n, bad = mpeg1HeaderNeed(b)
		if n > len(b) || bad {
			return n, bad
		}
	}
	if length != 0 && n-pesFixedLen > length {
		return n, true
	}
	return n, bad
}

// mpeg1HeaderNeed is pesHeaderNeed for an MPEG-1 packet: stuffing 0xFF
// bytes, an optional STD_buffer field ('01'), then '0010' PTS, '0011'
// PTS and DTS, or 0x0F for neither.
func mpeg1HeaderNeed(b []byte) (need int, bad bool) {
	i := pesFixedLen
	for i < len(b) && b[i] == 0xFF {
		i++
		if i-pesFixedLen > pesMaxStuffing {
			return i, true
		}
	}
	if i >= len(b) {
		return i + 1, false
	}
	if b[i]>>6 == 1 { // STD_buffer_scale and size
		i += 2
		if i >= len(b) {
			return i + 1, false
		}
	}
	switch {
	case b[i]>>4 == 2:
		return i + 5, false
	case b[i]>>4 == 3:
		return i + 10, false
	case b[i] == 0x0F:
		return i + 1, false
	}
	return i + 1, true
}

// parsePESHeader reads a complete header, as pesHeaderNeed found it.
func parsePESHeader(b []byte) pesHeader {
	h := pesHeader{length: int(b[4])<<8 | int(b[5]), pts: -1, dts: -1}
	var ts []byte // PTS field, followed by the DTS field when flags say so
	withDTS := false
	if b[6]>>6 == 2 {
		switch b[7] >> 6 {
		case 2:
			ts = b[9:14]
		case 3:
			ts, withDTS = b[9:19], true
		}
	} else {
		i := pesFixedLen
		for b[i] == 0xFF {
			i++
		}
		if b[i]>>6 == 1 {
			i += 2
		}
		switch b[i] >> 4 {
		case 2:
			ts = b[i : i+5]
		case 3:
			ts, withDTS = b[i:i+10], true
		}
	}
	if ts != nil {
		h.hasPTS = true
		h.pts = readTS(ts)
		h.dts = h.pts
		if withDTS {
			h.dts = readTS(ts[5:])
		}
	}
	return h
}

// readTS reads a 33-bit timestamp in its 5-byte PES form. The marker bits
// are not checked: cameras get them wrong and the value is still right.
func readTS(b []byte) int64 {
	return int64(b[0]>>1&7)<<30 | int64(b[1])<<22 | int64(b[2]>>1)<<15 | int64(b[3])<<7 | int64(b[4]>>1)
}

// appendTS appends a 33-bit timestamp in its 5-byte PES form with the
// 4-bit prefix ('0010' PTS only, '0011' PTS then DTS, '0001' DTS).
func appendTS(dst []byte, prefix byte, ts int64) []byte {
	ts &= maxTS
	return append(dst,
		prefix<<4|byte(ts>>29)&0x0E|1,
		byte(ts>>22),
		byte(ts>>14)&0xFE|1,
		byte(ts>>7),
		byte(ts<<1)|1,
	)
}

// appendPESHeader appends an MPEG-2 PES header for payloadLen bytes of
// payload. pts < 0 writes no timestamps; dts is written when it is set and
// differs from pts. align sets data_alignment_indicator: the payload starts
// with an access unit.
func appendPESHeader(dst []byte, id byte, payloadLen int, pts, dts int64, align bool) []byte {
	hdl := 0
	flags := byte(0)
	switch {
	case pts < 0:
	case dts >= 0 && dts != pts:
		hdl, flags = 10, 0xC0
	default:
		hdl, flags = 5, 0x80
	}
	first := byte(0x80)
	if align {
		first |= 0x04
	}
	n := 3 + hdl + payloadLen
	dst = append(dst, 0, 0, 1, id, byte(n>>8), byte(n), first, flags, byte(hdl))
	switch hdl {
	case 5:
		dst = appendTS(dst, 2, pts)
	case 10:
		dst = appendTS(dst, 3, pts)
		dst = appendTS(dst, 1, dts)
	}
	return dst
}
