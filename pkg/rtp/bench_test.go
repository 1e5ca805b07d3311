package rtp

import (
	"testing"
	"time"

	pionrtp "github.com/pion/rtp"
)

// BenchmarkReceiverPush measures one Push per op: in order, with every
// fifth pair swapped, and with 1 % loss (each gap held until the window
// gives up on it).
func BenchmarkReceiverPush(b *testing.B) {
	for _, bc := range []struct {
		name string
		seq  func(i int) uint16
		drop func(i int) bool
	}{
		{"in-order", func(i int) uint16 { return uint16(i) }, func(int) bool { return false }},
		{"reordered", func(i int) uint16 {
			if i%10 == 0 {
				return uint16(i + 1)
			} else if i%10 == 1 {
				return uint16(i - 1)
			}
			return uint16(i)
		}, func(int) bool { return false }},
		{"loss-1pct", func(i int) uint16 { return uint16(i) }, func(i int) bool { return i%100 == 50 }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			// A ring of packets, larger than what the receiver holds.
			pkts := make([]pionrtp.Packet, 1024)
			for i := range pkts {
				pkts[i] = pionrtp.Packet{
					Header:  pionrtp.Header{Version: 2, PayloadType: 96, SSRC: 1},
					Payload: make([]byte, 1200),
				}
			}
			var r Receiver
			emitted := 0
			emit := func(*pionrtp.Packet, int) { emitted++ }
			at := t0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if bc.drop(i) {
					continue
				}
				p := &pkts[i%len(pkts)]
				p.SequenceNumber = bc.seq(i)
				p.Timestamp = uint32(i) * 90
				at = at.Add(time.Millisecond)
				r.Push(p, at, emit)
			}
		})
	}
}

// BenchmarkFrameReader reads 1200-byte RTP packets in RFC 4571 framing.
func BenchmarkFrameReader(b *testing.B) {
	var stream []byte
	for i := range 64 {
		stream = AppendFrame(stream, rtpBytes(b, uint16(i), 1188))
	}
	fr := NewFrameReader(&repeatReader{data: stream})
	b.SetBytes(1202)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fr.ReadPacket(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDepacketizeH264 depacketizes the H.264 clip at MTU 1200, one
// packet per op.
func BenchmarkDepacketizeH264(b *testing.B) {
	pkts := clipPackets(b, KindH264, clipAUs(b, "h264.h264", false), 1200, true)
	d, _ := NewDepacketizer(KindH264)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := pkts[i%len(pkts)]
		if i%len(pkts) == 0 {
			d.Reset()
		}
		if _, err := d.Push(p); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
