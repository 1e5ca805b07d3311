package media

import (
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// HEVCConfig is the parameter sets of an HEVCDecoderConfigurationRecord
// (ISO/IEC 14496-15 8.3.3), the H.265 sequence header of FLV and MP4.
type HEVCConfig struct {
	LengthSize    int
	VPS, SPS, PPS [][]byte
}

const hvccHeaderLen = 23

// ParseHEVCConfig decodes an HEVCDecoderConfigurationRecord. The returned
// slices alias buf.
func ParseHEVCConfig(buf []byte) (*HEVCConfig, error) {
	if len(buf) < hvccHeaderLen {
		return nil, fmt.Errorf("hvcC: %w", errShortConfig)
	}
	if buf[0] != 1 {
		return nil, fmt.Errorf("hvcC: unsupported version %d", buf[0])
	}
	c := &HEVCConfig{LengthSize: int(buf[21]&0x03) + 1}
	if c.LengthSize == 3 {
		return nil, fmt.Errorf("hvcC: invalid NAL length size 3")
	}
	arrays := int(buf[22])
	pos := hvccHeaderLen
	for i := 0; i < arrays; i++ {
		if pos+3 > len(buf) {
			return nil, fmt.Errorf("hvcC: %w", errShortConfig)
		}
		typ := h265.NALUType(buf[pos] & 0x3f)
		count := int(buf[pos+1])<<8 | int(buf[pos+2])
		pos += 3
		for j := 0; j < count; j++ {
			if pos+2 > len(buf) {
				return nil, fmt.Errorf("hvcC: %w", errShortConfig)
			}
			n := int(buf[pos])<<8 | int(buf[pos+1])
			pos += 2
			if pos+n > len(buf) {
				return nil, fmt.Errorf("hvcC: %w", errShortConfig)
			}
			nalu := buf[pos : pos+n]
			pos += n
			if n == 0 {
				continue
			}
			switch typ {
			case h265.NALUType_VPS_NUT:
				c.VPS = append(c.VPS, nalu)
			case h265.NALUType_SPS_NUT:
				c.SPS = append(c.SPS, nalu)
			case h265.NALUType_PPS_NUT:
				c.PPS = append(c.PPS, nalu)
			}
		}
	}
	return c, nil
}

// AppendHEVCConfig appends the HEVCDecoderConfigurationRecord of one VPS,
// SPS and PPS with 4-byte NAL lengths. Profile, tier, level, chroma format
// and bit depths come from the SPS.
func AppendHEVCConfig(dst, vps, sps, pps []byte) []byte {
	// profile_tier_level starts after the 2-byte NAL header and one byte of
	// sps_video_parameter_set_id / max_sub_layers / temporal_id_nesting; its
	// first 12 bytes are copied verbatim into the record.
	rbsp := h264.EmulationPreventionRemove(sps)
	var ptl [12]byte
	var subLayers, nested byte = 1, 0
	if len(rbsp) >= 15 {
		copy(ptl[:], rbsp[3:15])
		subLayers = (rbsp[2]>>1)&0x07 + 1
		nested = rbsp[2] & 0x01
	}
	var chroma, depthLuma, depthChroma byte = 1, 0, 0
	var s h265.SPS
	if err := s.Unmarshal(sps); err == nil {
		chroma = byte(s.ChromaFormatIdc)
		depthLuma = byte(s.BitDepthLumaMinus8)
		depthChroma = byte(s.BitDepthChromaMinus8)
	}
	dst = append(dst, 1)
	dst = append(dst, ptl[:]...)
	dst = append(dst,
		0xf0, 0x00, // reserved, min_spatial_segmentation_idc
		0xfc,                  // reserved, parallelismType
		0xfc|chroma&0x03,      // reserved, chromaFormat
		0xf8|depthLuma&0x07,   // reserved, bitDepthLumaMinus8
		0xf8|depthChroma&0x07, // reserved, bitDepthChromaMinus8
		0x00, 0x00,            // avgFrameRate
		subLayers<<3|nested<<2|0x03, // constantFrameRate 0, layers, nested, lengthSizeMinusOne 3
		3,
	)
	for _, p := range []struct {
		typ  h265.NALUType
		nalu []byte
	}{{h265.NALUType_VPS_NUT, vps}, {h265.NALUType_SPS_NUT, sps}, {h265.NALUType_PPS_NUT, pps}} {
		dst = append(dst, 0x80|byte(p.typ), 0, 1, byte(len(p.nalu)>>8), byte(len(p.nalu)))
		dst = append(dst, p.nalu...)
	}
	return dst
}
