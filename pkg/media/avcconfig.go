package media

import (
	"errors"
	"fmt"
)

var errShortConfig = errors.New("record too short")

// AVCConfig is an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3),
// the H.264 sequence header of FLV and MP4.
type AVCConfig struct {
	LengthSize int // bytes of each NAL unit length prefix: 1, 2 or 4
	SPS        [][]byte
	PPS        [][]byte
}

// ParseAVCConfig decodes an AVCDecoderConfigurationRecord. The returned
// slices alias buf.
func ParseAVCConfig(buf []byte) (*AVCConfig, error) {
	if len(buf) < 7 {
		return nil, fmt.Errorf("avcC: %w", errShortConfig)
	}
	if buf[0] != 1 {
		return nil, fmt.Errorf("avcC: unsupported version %d", buf[0])
	}
	c := &AVCConfig{LengthSize: int(buf[4]&0x03) + 1}
	if c.LengthSize == 3 {
		return nil, fmt.Errorf("avcC: invalid NAL length size 3")
	}
	var err error
	pos := 6
	c.SPS, pos, err = readParamSets(buf, pos, int(buf[5]&0x1f))
	if err != nil {
		return nil, fmt.Errorf("avcC: SPS: %w", err)
	}
	if pos >= len(buf) {
		return nil, fmt.Errorf("avcC: %w", errShortConfig)
	}
	c.PPS, _, err = readParamSets(buf, pos+1, int(buf[pos]))
	if err != nil {
		return nil, fmt.Errorf("avcC: PPS: %w", err)
	}
	return c, nil
}

// readParamSets reads count units with 16-bit length prefixes from buf[pos:].
func readParamSets(buf []byte, pos, count int) ([][]byte, int, error) {
	out := make([][]byte, 0, count)
	for i := 0; i < count; i++ {
		if pos+2 > len(buf) {
			return nil, 0, errShortConfig
		}
		n := int(buf[pos])<<8 | int(buf[pos+1])
		pos += 2
		if n == 0 || pos+n > len(buf) {
			return nil, 0, errShortConfig
		}
		out = append(out, buf[pos:pos+n])
		pos += n
	}
	return out, pos, nil
}

// AppendAVCConfig appends the AVCDecoderConfigurationRecord of one SPS and
// one PPS with 4-byte NAL lengths.
func AppendAVCConfig(dst, sps, pps []byte) []byte {
	var profile, compat, level byte
	if len(sps) >= 4 {
		profile, compat, level = sps[1], sps[2], sps[3]
	}
	dst = append(dst, 1, profile, compat, level, 0xff, 0xe1)
	dst = append(dst, byte(len(sps)>>8), byte(len(sps)))
	dst = append(dst, sps...)
	dst = append(dst, 1, byte(len(pps)>>8), byte(len(pps)))
	dst = append(dst, pps...)
	return dst
}
