package rtp

import (
	"bytes"
	"io"
	"testing"

	pionrtp "github.com/pion/rtp"
)

func TestPacketizer(t *testing.T) {
	frame := make([]byte, 5000)
	for i := range frame {
		frame[i] = byte(i * 7)
	}
	tests := []struct {
		name   string
		mtu    int
		frame  []byte
		sizes  []int // payload sizes
		errors bool
	}{
		{"default MTU", 0, frame, []int{1388, 1388, 1388, 836}, false},
		{"exact multiple", 112, frame[:300], []int{100, 100, 100}, false},
		{"one packet", 1400, frame[:10], []int{10}, false},
		{"largest MTU", MaxFrameSize, frame, []int{5000}, false},
		{"empty frame", 1400, nil, nil, false},
		{"MTU too small", 19, frame, nil, true},
		{"MTU too large", MaxFrameSize + 1, frame, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			z := Packetizer{SSRC: 9, PayloadType: 96, Sequence: 65534, MTU: tc.mtu}
			prev := []*pionrtp.Packet{{}}
			pkts, err := z.Packetize(prev, tc.frame, 12345)
			if (err != nil) != tc.errors {
				t.Fatalf("error %v", err)
			}
			if pkts[0] != prev[0] {
				t.Fatal("dst not appended to")
			}
			if tc.errors {
				if len(pkts) != 1 || z.Sequence != 65534 {
					t.Fatal("packets made despite the error")
				}
				return
			}
			pkts = pkts[1:]
			if len(pkts) != len(tc.sizes) {
				t.Fatalf("%d packets, want %d", len(pkts), len(tc.sizes))
			}
			var joined []byte
			for i, p := range pkts {
				mtu := tc.mtu
				if mtu == 0 {
					mtu = DefaultMTU
				}
				if len(p.Payload) != tc.sizes[i] || p.MarshalSize() > mtu {
					t.Fatalf("packet %d: %d payload bytes, %d in all", i, len(p.Payload), p.MarshalSize())
				}
				h := p.Header
				if h.Version != 2 || h.SSRC != 9 || h.PayloadType != 96 || h.Timestamp != 12345 ||
					h.SequenceNumber != uint16(65534+i) || h.Marker != (i == len(pkts)-1) {
					t.Fatalf("packet %d: header %+v", i, h)
				}
				joined = append(joined, p.Payload...)
			}
			if !bytes.Equal(joined, tc.frame) {
				t.Fatal("payloads do not add up to the frame")
			}
			if z.Sequence != uint16(65534+len(pkts)) {
				t.Fatalf("next sequence number %d", z.Sequence)
			}
		})
	}
}

// TestPacketizerPSRoundTrip sends PS-like frames through the packetizer,
// the TCP framing, the receiver and the PS depacketizer.
func TestPacketizerPSRoundTrip(t *testing.T) {
	z := Packetizer{SSRC: 1, PayloadType: PayloadTypePS, Sequence: 65000}
	var frames [][]byte
	var stream []byte
	for i := range 50 {
		f := append(psPack(), bytes.Repeat([]byte{byte(i)}, 100+i*331)...)
		frames = append(frames, f)
		pkts, err := z.Packetize(nil, f, uint32(i*3600))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkts {
			b, err := p.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			stream = AppendFrame(stream, b)
		}
	}
	fr := NewFrameReader(bytes.NewReader(stream))
	d, _ := NewDepacketizer(KindPS)
	var r Receiver
	var got []AccessUnit
	emit := func(p *pionrtp.Packet, lost int) {
		if lost != 0 {
			t.Fatalf("lost %d", lost)
		}
		out, err := d.Push(p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out...)
	}
	for i := 0; ; i++ {
		b, err := fr.ReadPacket()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		p := new(pionrtp.Packet)
		if err := p.Unmarshal(bytes.Clone(b)); err != nil {
			t.Fatal(err)
		}
		r.Push(p, ms(i), emit)
	}
	r.Flush(emit)
	if len(got) != len(frames) {
		t.Fatalf("%d frames, want %d", len(got), len(frames))
	}
	for i := range frames {
		if !bytes.Equal(got[i].Data, frames[i]) || got[i].Timestamp != uint32(i*3600) {
			t.Fatalf("frame %d differs", i)
		}
	}
}
