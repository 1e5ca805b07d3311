package rtpsend

import (
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// maxADTSFrame is the largest frame ADTS's 13-bit length can describe.
const maxADTSFrame = 1<<13 - 1

// adts is the 7-byte ADTS header (no CRC) of one AAC track's frames, as
// mediacommon's ADTSPackets.Marshal writes it; appendFrame sets each
// frame's length in it (Marshal would allocate per frame).
type adts [7]byte

// newADTS derives the ADTS header from an AudioSpecificConfig.
func newADTS(asc []byte) (adts, error) {
	var c mpeg4audio.AudioSpecificConfig
	if err := c.Unmarshal(asc); err != nil {
		return adts{}, fmt.Errorf("rtpsend: AAC config %x: %w", asc, err)
	}
	typ := c.Type
	if typ < 1 || typ > 4 {
		typ = mpeg4audio.ObjectTypeAACLC // ADTS has no room for other object types
	}
	hdr, err := mpeg4audio.ADTSPackets{{Type: typ, SampleRate: c.SampleRate, ChannelConfig: c.ChannelConfig & 7}}.Marshal()
	if err != nil || len(hdr) != len(adts{}) {
		return adts{}, fmt.Errorf("rtpsend: AAC config %x: no ADTS header: %v", asc, err)
	}
	return adts(hdr), nil
}

// appendFrame appends au with its ADTS header. An AU too large for ADTS
// is left out.
func (h adts) appendFrame(dst, au []byte) []byte {
	n := len(h) + len(au)
	if n > maxADTSFrame {
		return dst
	}
	at := len(dst)
	dst = append(append(dst, h[:]...), au...)
	// aac_frame_length: the 13 bits from byte 3 bit 1 to byte 5 bit 5.
	dst[at+3] = dst[at+3]&^0x03 | byte(n>>11)
	dst[at+4] = byte(n >> 3)
	dst[at+5] = dst[at+5]&0x1f | byte(n&7)<<5
	return dst
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
