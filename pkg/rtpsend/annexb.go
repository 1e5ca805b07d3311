package rtpsend

import "github.com/mediakit/mediakit/pkg/media"

// NAL unit types that matter when a frame leaves the engine's AVCC form.
const (
	h264SPS, h264PPS, h264AUD = 7, 8, 9
	h265VPS, h265SPS          = 32, 33
	h265PPS, h265AUD          = 34, 35
)

var startCode = []byte{0, 0, 0, 1}

// nalType returns a NAL unit's type for codec c.
func nalType(c media.Codec, nalu []byte) int {
	if c == media.CodecH265 {
		return int(nalu[0]>>1) & 0x3f
	}
	return int(nalu[0] & 0x1f)
}

// accessUnit appends the NAL units of video frame f to dst, without
// access unit delimiters (a muxer or payloader adds its own where it
// wants one), and, before a keyframe that does not carry them, the
// parameter sets of f's track. The units alias f.Payload and the track.
func accessUnit(dst [][]byte, f *media.Frame) [][]byte {
	c := f.Track.Codec
	vps, sps, pps := c != media.CodecH265, false, false
	start := len(dst)
	f.NALUs(func(nalu []byte) bool {
		if len(nalu) == 0 {
			return true
		}
		switch t := nalType(c, nalu); {
		case c == media.CodecH264 && t == h264AUD, c == media.CodecH265 && t == h265AUD:
			return true
		case c == media.CodecH264 && t == h264SPS, c == media.CodecH265 && t == h265SPS:
			sps = true
		case c == media.CodecH264 && t == h264PPS, c == media.CodecH265 && t == h265PPS:
			pps = true
		case c == media.CodecH265 && t == h265VPS:
			vps = true
		}
		dst = append(dst, nalu)
		return true
	})
	if !f.Key || (vps && sps && pps) {
		return dst
	}
	// Prepend the track's parameter sets (a repeated one is harmless).
	var params [][]byte
	for _, p := range [][]byte{f.Track.VPS, f.Track.SPS, f.Track.PPS} {
		if len(p) > 0 {
			params = append(params, p)
		}
	}
	dst = append(dst, params...)
	copy(dst[start+len(params):], dst[start:len(dst)-len(params)])
	copy(dst[start:], params)
	return dst
}

// appendAnnexB appends the NAL units with 4-byte start codes.
func appendAnnexB(dst []byte, nalus [][]byte) []byte {
	for _, n := range nalus {
		dst = append(dst, startCode...)
		dst = append(dst, n...)
	}
	return dst
}
