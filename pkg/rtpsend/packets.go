package rtpsend

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"time"

	pionrtp "github.com/pion/rtp"

	"github.com/mediakit/mediakit/pkg/rtp"
)

// packetWriter cuts payloads into RTP packets of one stream and appends
// them, marshalled, each with an RFC 4571 length prefix: the batch form
// every link takes (TCP writes it as is, UDP and talk one packet at a
// time).
type packetWriter struct {
	pz   rtp.Packetizer
	pkts []*pionrtp.Packet
}

func newPacketWriter(ssrc uint32, pt int, payloader pionrtp.Payloader) packetWriter {
	return packetWriter{pz: rtp.Packetizer{
		SSRC: ssrc, PayloadType: uint8(pt), Sequence: uint16(rand.Uint32()), Payloader: payloader,
	}}
}

// emit appends the packets of one payload, all with timestamp ts.
func (w *packetWriter) emit(dst, payload []byte, ts uint32) ([]byte, error) {
	pkts, err := w.pz.Packetize(w.pkts[:0], payload, ts)
	defer func() { clear(pkts); w.pkts = pkts[:0] }()
	if err != nil {
		return dst, err
	}
	for _, p := range pkts {
		n := p.MarshalSize()
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
		at := len(dst)
		dst = slices.Grow(dst, n)[:at+n]
		if _, err := p.MarshalTo(dst[at:]); err != nil {
			return dst[:at-2], err
		}
	}
	return dst, nil
}

// eachPacket calls fn with each packet of a batch until fn fails.
func eachPacket(batch []byte, fn func(pkt []byte) error) error {
	for len(batch) >= 2 {
		n := int(binary.BigEndian.Uint16(batch))
		if 2+n > len(batch) {
			return nil
		}
		if err := fn(batch[2 : 2+n]); err != nil {
			return err
		}
		batch = batch[2+n:]
	}
	return nil
}

// ticks converts a stream time to a clock of rate Hz.
func ticks(d time.Duration, rate int64) int64 {
	return int64(d/time.Microsecond) * rate / 1e6
}
