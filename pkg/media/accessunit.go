package media

import (
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

var (
	h264AUD = []byte{byte(h264.NALUTypeAccessUnitDelimiter), 0xf0}
	h265AUD = []byte{byte(h265.NALUType_AUD_NUT) << 1, 1, 0x50}
)

// AccessUnitDelimiter returns an access unit delimiter NAL unit of codec
// c (H.265's for CodecH265, else H.264's). It is shared: do not modify.
func AccessUnitDelimiter(c Codec) []byte {
	if c == CodecH265 {
		return h265AUD
	}
	return h264AUD
}

// AppendAccessUnit appends the NAL units of the H.264 or H.265 frame f to
// dst, leaving out access unit delimiters (a muxer or payloader puts its
// own where it wants one) and, before a keyframe that does not carry them
// in band, inserting the track's parameter sets ahead of the frame's
// units. The units alias f.Payload and the track. n counts the units
// taken from the payload: 0 means f holds nothing to send.
func AppendAccessUnit(dst [][]byte, f *Frame) (_ [][]byte, n int) {
	c := f.Track.Codec
	start := len(dst)
	hasVPS, hasSPS, hasPPS := c != CodecH265, false, false
	f.NALUs(func(nalu []byte) bool {
		if len(nalu) == 0 {
			return true
		}
		if c == CodecH265 {
			switch h265.NALUType((nalu[0] >> 1) & 0x3f) {
			case h265.NALUType_AUD_NUT:
				return true
			case h265.NALUType_VPS_NUT:
				hasVPS = true
			case h265.NALUType_SPS_NUT:
				hasSPS = true
			case h265.NALUType_PPS_NUT:
				hasPPS = true
			}
		} else {
			switch h264.NALUType(nalu[0] & 0x1f) {
			case h264.NALUTypeAccessUnitDelimiter:
				return true
			case h264.NALUTypeSPS:
				hasSPS = true
			case h264.NALUTypePPS:
				hasPPS = true
			}
		}
		dst = append(dst, nalu)
		n++
		return true
	})
	t := f.Track
	if n == 0 || !f.Key || (hasVPS && hasSPS && hasPPS) || len(t.SPS) == 0 || len(t.PPS) == 0 {
		return dst, n
	}
	// Insert VPS (H.265), SPS and PPS before the frame's units; one the
	// frame repeats is harmless.
	var buf [3][]byte
	params := buf[:0]
	if c == CodecH265 && len(t.VPS) > 0 {
		params = append(params, t.VPS)
	}
	params = append(params, t.SPS, t.PPS)
	dst = append(dst, params...) // grow
	copy(dst[start+len(params):], dst[start:len(dst)-len(params)])
	copy(dst[start:], params)
	return dst, n
}

// AppendAnnexB appends NAL units to dst, each after a 4-byte start code
// (h264.AnnexB's Marshal does the same into a new buffer per call).
func AppendAnnexB(dst []byte, nalus [][]byte) []byte {
	for _, n := range nalus {
		dst = append(dst, 0, 0, 0, 1)
		dst = append(dst, n...)
	}
	return dst
}
