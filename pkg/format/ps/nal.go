package ps

// NAL unit headers of H.264 and H.265, as far as the demuxer needs them
// to find access units, and the codec guesses for streams without a PSM.

// nalKind is the role of a NAL unit in access unit detection.
type nalKind uint8

const (
	nalInvalid    nalKind = iota // forbidden_zero_bit set: not a NAL unit
	nalOther                     // stays in the current access unit
	nalPrefix                    // AUD, parameter set and other units that start an access unit after a slice
	nalSEI                       // prefix SEI: a prefix unit some cameras send after the slices
	nalFirstSlice                // slice that starts a picture
	nalSlice                     // any other slice
)

// nalHeaderNeed is how many bytes from the NAL header on classifyNAL
// reads: the header and the first byte of the slice header.
func nalHeaderNeed(t StreamType) int {
	if t == StreamH265 {
		return 3
	}
	return 2
}

// classifyNAL classifies the NAL unit whose header starts b
// (len(b) >= nalHeaderNeed(t)). key reports an H.264 IDR or H.265 IRAP
// slice.
func classifyNAL(t StreamType, b []byte) (k nalKind, key bool) {
	if b[0]&0x80 != 0 {
		return nalInvalid, false
	}
	if t == StreamH265 {
		return classifyH265(b)
	}
	switch typ := b[0] & 0x1F; {
	case typ >= 1 && typ <= 5: // slices; first_mb_in_slice is ue(v), 0 codes as a single 1 bit
		if b[1]&0x80 != 0 {
			return nalFirstSlice, typ == 5
		}
		return nalSlice, typ == 5
	case typ == 6:
		return nalSEI, false
	case typ == 7, typ == 8, typ == 9, typ >= 14 && typ <= 18: // SPS, PPS, AUD, prefix, subset SPS, reserved
		return nalPrefix, false
	}
	return nalOther, false
}

func classifyH265(b []byte) (nalKind, bool) {
	typ := b[0] >> 1 & 0x3F
	layer := b[0]&1<<5 | b[1]>>3
	if b[1]&7 == 0 { // nuh_temporal_id_plus1 may not be 0
		return nalInvalid, false
	}
	if layer != 0 { // units of other layers travel with the base layer's picture
		return nalOther, false
	}
	switch {
	case typ <= 31: // slice segments; first_slice_segment_in_pic_flag leads the header
		key := typ >= 16 && typ <= 23
		if b[2]&0x80 != 0 {
			return nalFirstSlice, key
		}
		return nalSlice, key
	case typ == 39:
		return nalSEI, false
	case typ >= 32 && typ <= 35, typ >= 41 && typ <= 44, typ >= 48 && typ <= 55: // VPS, SPS, PPS, AUD, reserved
		return nalPrefix, false
	}
	return nalOther, false
}

// guessVideo guesses the codec of a video stream without a PSM from the
// header of its first NAL unit (b has at least 2 bytes). H.265 headers
// have nuh_layer_id 0 and nuh_temporal_id_plus1 1 in practice, so an even
// first byte followed by 0x01 with a slice or parameter set type means
// H.265; H.264 headers of slices and parameter sets have an odd first
// byte (nal_ref_idc and type 1, 5, 7 or 8). 0x06 is left to H.264, where
// it is a SEI, rather than to H.265's rare TSA_R.
func guessVideo(b []byte) StreamType {
	if b[0]&0x80 != 0 {
		return StreamUnknown
	}
	typ := b[0] >> 1 & 0x3F
	if b[0]&1 == 0 && b[1] == 1 && b[0] != 0x06 && (typ <= 21 || typ >= 32 && typ <= 40) {
		return StreamH265
	}
	return StreamH264
}

// guessAudio guesses the codec of an audio stream without a PSM from its
// first frame: ADTS is AAC, two consecutive MPEG audio headers (or one
// that fills the frame) are MPEG audio, anything else is G.711 A-law, the
// GB28181 default.
func guessAudio(b []byte) StreamType {
	if isADTS(b) {
		return StreamAAC
	}
	if t := mpegAudioType(b); t != StreamUnknown {
		return t
	}
	return StreamG711A
}

// isADTS reports whether b starts with an ADTS header whose frame length
// is plausible and, when b holds more than one frame, is followed by
// another sync word. G.711 silence (0xFF 0xFF in μ-law) has layer bits 11
// and does not match.
func isADTS(b []byte) bool {
	if len(b) < 7 || b[0] != 0xFF || b[1]&0xF6 != 0xF0 || b[2]>>2&0xF >= 13 {
		return false
	}
	n := int(b[3]&3)<<11 | int(b[4])<<3 | int(b[5])>>5
	hdr := 7
	if b[1]&1 == 0 { // protection_absent 0: CRC follows
		hdr = 9
	}
	if n < hdr {
		return false
	}
	if n+2 <= len(b) {
		return b[n] == 0xFF && b[n+1]&0xF6 == 0xF0
	}
	return true
}

// MPEG audio bit rates in kbit/s by [MPEG-1?][layer 1..3][index].
var mpegAudioBitrates = [2][3][15]int{
	{ // MPEG-2 and 2.5
		{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256},
		{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160},
		{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160},
	},
	{ // MPEG-1
		{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448},
		{0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384},
		{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320},
	},
}

// mpegAudioFrameLen returns the length of the MPEG audio frame whose
// header starts b, and whether it is MPEG-1 (else MPEG-2 or 2.5), or 0
// when b does not start with a valid header.
func mpegAudioFrameLen(b []byte) (n int, mpeg1 bool) {
	if len(b) < 4 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return 0, false
	}
	version := b[1] >> 3 & 3 // 0: 2.5, 2: 2, 3: 1
	layer := 4 - int(b[1]>>1&3)
	rateIdx, srIdx := b[2]>>4, b[2]>>2&3
	if version == 1 || layer == 4 || rateIdx == 0 || rateIdx == 15 || srIdx == 3 {
		return 0, false
	}
	sr := [3]int{44100, 48000, 32000}[srIdx]
	switch version {
	case 2:
		sr /= 2
	case 0:
		sr /= 4
	}
	mpeg1 = version == 3
	v := 0
	if mpeg1 {
		v = 1
	}
	rate := mpegAudioBitrates[v][layer-1][rateIdx] * 1000
	pad := int(b[2] >> 1 & 1)
	switch {
	case layer == 1:
		return (12*rate/sr + pad) * 4, mpeg1
	case layer == 3 && !mpeg1:
		return 72*rate/sr + pad, mpeg1
	}
	return 144*rate/sr + pad, mpeg1
}

// mpegAudioType returns StreamMPEG1Audio or StreamMPEG2Audio when b starts
// with a whole MPEG audio frame followed by another header (or by the end
// of b, or by less than a header). A single header is not enough: μ-law
// samples near silence are 0xFx bytes and look like one.
func mpegAudioType(b []byte) StreamType {
	n, mpeg1 := mpegAudioFrameLen(b)
	if n < 4 || n > len(b) {
		return StreamUnknown
	}
	if len(b)-n >= 4 { // a partial header at the end cannot be checked
		if next, _ := mpegAudioFrameLen(b[n:]); next == 0 {
			return StreamUnknown
		}
	}
	if mpeg1 {
		return StreamMPEG1Audio
	}
	return StreamMPEG2Audio
}
