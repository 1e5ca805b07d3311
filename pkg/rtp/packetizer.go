package rtp

import (
	"fmt"

	pionrtp "github.com/pion/rtp"
)

// DefaultMTU is the packet size a Packetizer aims at without an MTU: it
// leaves room for IP, UDP and a tunnel header within Ethernet's 1500 bytes.
const DefaultMTU = 1400

// headerSize is the fixed RTP header, without CSRCs or extensions (the
// Packetizer adds neither).
const headerSize = 12

// minMTU leaves room for an H.265 FU header and some payload.
const minMTU = headerSize + 8

// Packetizer splits frames into RTP packets of one stream.
//
// Without a Payloader a frame is opaque (a PS-muxed frame, as GB28181
// sends): it is cut into pieces of MTU-12 bytes. With one, such as
// &codecs.H264Payloader{} or &codecs.H265Payloader{} from pion (which take
// Annex-B access units), the payloader decides the pieces. Either way every
// packet of a frame gets the frame's timestamp, consecutive sequence numbers,
// and the last one the marker bit.
type Packetizer struct {
	SSRC        uint32
	PayloadType uint8
	Sequence    uint16 // sequence number of the next packet
	MTU         int    // largest packet, RTP header included (default 1400)
	Payloader   pionrtp.Payloader
}

// Packetize appends the packets of one frame to dst. Without a Payloader the
// packets' payloads point into frame, so frame must stay unchanged until
// they are sent. An empty frame gives no packets.
func (z *Packetizer) Packetize(dst []*pionrtp.Packet, frame []byte, timestamp uint32) ([]*pionrtp.Packet, error) {
	mtu := z.MTU
	if mtu == 0 {
		mtu = DefaultMTU
	}
	if mtu < minMTU || mtu > MaxFrameSize {
		return dst, fmt.Errorf("rtp: packetize: MTU %d outside %d-%d", mtu, minMTU, MaxFrameSize)
	}
	limit := mtu - headerSize
	if z.Payloader != nil {
		pieces := z.Payloader.Payload(uint16(limit), frame)
		for i, b := range pieces {
			dst = append(dst, z.packet(b, timestamp, i == len(pieces)-1))
		}
		return dst, nil
	}
	for len(frame) > 0 {
		n := min(limit, len(frame))
		dst = append(dst, z.packet(frame[:n:n], timestamp, n == len(frame)))
		frame = frame[n:]
	}
	return dst, nil
}

func (z *Packetizer) packet(payload []byte, ts uint32, marker bool) *pionrtp.Packet {
	p := &pionrtp.Packet{
		Header: pionrtp.Header{
			Version:        2,
			Marker:         marker,
			PayloadType:    z.PayloadType,
			SequenceNumber: z.Sequence,
			Timestamp:      ts,
			SSRC:           z.SSRC,
		},
		Payload: payload,
	}
	z.Sequence++
	return p
}
