package rtpsend

import (
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// adtsRates are the sampling_frequency_index values (ISO/IEC 14496-3
// table 1.18).
var adtsRates = []int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

// maxADTSFrame is the largest frame ADTS's 13-bit length can describe.
const maxADTSFrame = 1<<13 - 1

// adts holds the fixed fields of the ADTS headers of one AAC track.
type adts struct {
	profile, rateIndex, channels byte
}

// newADTS derives the ADTS header fields from an AudioSpecificConfig.
func newADTS(asc []byte) (adts, error) {
	var c mpeg4audio.AudioSpecificConfig
	if err := c.Unmarshal(asc); err != nil {
		return adts{}, fmt.Errorf("rtpsend: AAC config %x: %w", asc, err)
	}
	profile := byte(1) // AAC LC: ADTS has no room for other object types
	if c.Type >= 1 && c.Type <= 4 {
		profile = byte(c.Type - 1)
	}
	for i, r := range adtsRates {
		if r == c.SampleRate {
			return adts{profile: profile, rateIndex: byte(i), channels: c.ChannelConfig & 7}, nil
		}
	}
	return adts{}, fmt.Errorf("rtpsend: AAC config %x: sample rate %d has no ADTS index", asc, c.SampleRate)
}

// appendFrame appends au with its 7-byte ADTS header (no CRC). An AU too
// large for ADTS is left out.
func (h adts) appendFrame(dst, au []byte) []byte {
	n := len(au) + 7
	if n > maxADTSFrame {
		return dst
	}
	dst = append(dst,
		0xff, 0xf1, // syncword, MPEG-4, layer 0, no CRC
		h.profile<<6|h.rateIndex<<2|h.channels>>2,
		(h.channels&3)<<6|byte(n>>11),
		byte(n>>3),
		byte(n&7)<<5|0x1f, // buffer fullness 0x7ff: variable rate
		0xfc,              // one raw data block
	)
	return append(dst, au...)
}

// aacPayloader puts one AAC access unit in RFC 3640 AAC-hbr payloads
// (13-bit size, 3-bit index): one AU header, and an AU larger than a
// packet in fragments that each repeat the header with the whole size
// (section 3.2.3). It implements pion's rtp.Payloader.
type aacPayloader struct{}

func (aacPayloader) Payload(mtu uint16, au []byte) [][]byte {
	if len(au) == 0 || len(au) > maxADTSFrame || int(mtu) <= 4 {
		return nil
	}
	hdr := [4]byte{0, 16, byte(len(au) >> 5), byte(len(au)&0x1f) << 3}
	var out [][]byte
	for len(au) > 0 {
		n := min(len(au), int(mtu)-4)
		p := make([]byte, 0, 4+n)
		p = append(append(p, hdr[:]...), au[:n]...)
		out = append(out, p)
		au = au[n:]
	}
	return out
}
