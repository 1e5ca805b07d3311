package flv

import (
	"fmt"

	"github.com/mediakit/mediakit/pkg/media"
)

// vpcCLen is a VPCodecConfigurationRecord without codec initialization
// data, with the FullBox version and flags that Enhanced RTMP keeps (as
// ffmpeg writes it).
const vpcCLen = 12

// parseVP9Config decodes a vpcC record (FullBox header included).
func parseVP9Config(rec []byte) (media.VP9Params, error) {
	if len(rec) < vpcCLen {
		return media.VP9Params{}, fmt.Errorf("flv: vpcC of %d bytes is too short", len(rec))
	}
	if rec[0] != 1 {
		return media.VP9Params{}, fmt.Errorf("flv: vpcC version %d is not 1", rec[0])
	}
	return media.VP9Params{
		Profile:           rec[4],
		BitDepth:          rec[6] >> 4,
		ChromaSubsampling: (rec[6] >> 1) & 0x07,
		FullRange:         rec[6]&0x01 != 0,
	}, nil
}

// appendVP9Config appends a vpcC record for p.
func appendVP9Config(dst []byte, p media.VP9Params) []byte {
	bitDepth := p.BitDepth
	if bitDepth == 0 {
		bitDepth = 8
	}
	b := bitDepth<<4 | (p.ChromaSubsampling&0x07)<<1
	if p.FullRange {
		b |= 1
	}
	// level 0 is "unknown"; colour description 2 is "unspecified".
	return append(dst, 1, 0, 0, 0, p.Profile, 0, b, 2, 2, 2, 0, 0)
}
