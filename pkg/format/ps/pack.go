package ps

// Start codes, pack headers and system headers (ISO/IEC 13818-1 §2.5.3).

// Start code values (the byte after 00 00 01) that the demuxer treats
// specially. Every value from 0xB9 up is a program stream start code; the
// ones below are not listed here and are skipped by their length.
const (
	codeEnd          = 0xB9 // MPEG_program_end_code
	codePack         = 0xBA
	codeSystemHeader = 0xBB
	codePSM          = 0xBC // program_stream_map
	codePrivate1     = 0xBD
	codePadding      = 0xBE
	codePrivate2     = 0xBF
	codeMin          = codeEnd // lowest program stream start code
)

// Header sizes.
const (
	startCodeLen   = 4
	packMPEG1Len   = 12
	packMPEG2Len   = 14 // plus up to 7 stuffing bytes
	packNeedLen    = 5  // bytes needed to tell MPEG-1 from MPEG-2
	systemFixedLen = 6  // start code and header_length
	// maxSystemHeaderLen bounds header_length: 6 fixed bytes and 3 per
	// stream; a larger value means the start code was a false one.
	maxSystemHeaderLen = 6 + 3*64
)

// isStartCode reports whether b begins with a program stream start code
// (00 00 01 followed by 0xB9 or more).
func isStartCode(b []byte) bool {
	return len(b) >= startCodeLen && b[0] == 0 && b[1] == 0 && b[2] == 1 && b[3] >= codeMin
}

// isStartCodePrefix reports whether b (at most 3 bytes) could be the start
// of a start code.
func isStartCodePrefix(b []byte) bool {
	switch len(b) {
	case 0:
		return true
	case 1:
		return b[0] == 0
	case 2:
		return b[0] == 0 && b[1] == 0
	case 3:
		return b[0] == 0 && b[1] == 0 && b[2] == 1
	}
	return isStartCode(b)
}

// packHeaderNeed returns the length of the pack header starting at b, or a
// length greater than len(b) while b is too short to tell. bad is set when
// b[4] is neither an MPEG-2 ('01') nor an MPEG-1 ('0010') pack.
func packHeaderNeed(b []byte) (need int, bad bool) {
	if len(b) < packNeedLen {
		return packNeedLen, false
	}
	switch {
	case b[4]>>6 == 1:
		if len(b) < packMPEG2Len {
			return packMPEG2Len, false
		}
		return packMPEG2Len + int(b[13]&7), false
	case b[4]>>4 == 2:
		return packMPEG1Len, false
	}
	return packNeedLen, true
}

// muxRate is program_mux_rate and rate_bound in units of 50 bytes/s:
// 20 Mbit/s, more than any camera sends, so no decoder model is violated.
const muxRate = 20_000_000 / 8 / 50

// appendPackHeader appends an MPEG-2 pack header with SCR scr (90 kHz, the
// extension 0) and no stuffing.
func appendPackHeader(dst []byte, scr int64) []byte {
	b, rate := scr&maxTS, muxRate
	return append(dst, 0, 0, 1, codePack,
		0x40|byte(b>>27)&0x38|0x04|byte(b>>28)&0x03,
		byte(b>>20),
		byte(b>>12)&0xF8|0x04|byte(b>>13)&0x03,
		byte(b>>5),
		byte(b<<3)&0xF8|0x04, // SCR_extension 0: its top two bits
		0x01,                 // rest of SCR_extension, marker
		byte(rate>>14), byte(rate>>6), byte(rate<<2)|0x03,
		0xF8, // reserved, pack_stuffing_length 0
	)
}

// appendSystemHeader appends a system header declaring streams, with
// P-STD buffer bounds of 400 KiB for video and 4 KiB for audio.
func appendSystemHeader(dst []byte, streams []Stream) []byte {
	audio, video := 0, 0
	for _, s := range streams {
		if IsVideoID(s.ID) {
			video++
		} else {
			audio++
		}
	}
	n, rate := 6+3*len(streams), muxRate
	dst = append(dst, 0, 0, 1, codeSystemHeader, byte(n>>8), byte(n),
		0x80|byte(rate>>15), byte(rate>>7), byte(rate<<1)|1,
		byte(min(audio, 63))<<2,      // audio_bound, fixed_flag 0, CSPS_flag 0
		0xE0|byte(min(video, 16)&31), // audio and video lock, marker, video_bound
		0xFF,                         // packet_rate_restriction_flag, reserved
	)
	for _, s := range streams {
		if IsVideoID(s.ID) {
			const size = 400 // × 1024 bytes
			dst = append(dst, s.ID, 0xE0|size>>8, size&0xFF)
		} else {
			const size = 32 // × 128 bytes
			dst = append(dst, s.ID, 0xC0|size>>8, size&0xFF)
		}
	}
	return dst
}
