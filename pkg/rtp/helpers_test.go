package rtp

import (
	"bytes"
	"testing"

	"github.com/mediakit/mediakit/internal/testutil"
	pionrtp "github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// annexB joins NAL units with 4-byte start codes.
func annexB(nalus [][]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = append(append(b, 0, 0, 0, 1), n...)
	}
	return b
}

// clipAU is one access unit of a test clip.
type clipAU struct {
	nalus [][]byte
	key   bool
}

func clipAUs(t testing.TB, name string, hevc bool) []clipAU {
	t.Helper()
	var out []clipAU
	for _, nalus := range testutil.ClipAccessUnits(t, name, hevc) {
		au := clipAU{nalus: nalus}
		for _, n := range nalus {
			if hevc {
				au.key = au.key || h265IRAP(n[0]>>1&0x3f)
			} else {
				au.key = au.key || n[0]&0x1f == h264IDR
			}
		}
		out = append(out, au)
	}
	return out
}

// payloaderFor returns pion's payloader for a video kind.
func payloaderFor(k Kind, aggregate bool) pionrtp.Payloader {
	if k == KindH265 {
		return &codecs.H265Payloader{SkipAggregation: !aggregate}
	}
	return &codecs.H264Payloader{DisableStapA: !aggregate}
}

// clipPackets packetizes a clip with pion's payloaders, 3600 ticks (25 fps)
// per access unit, and marshals and re-parses every packet so that each has
// a buffer of its own, as packets read from the network do.
func clipPackets(t testing.TB, k Kind, aus []clipAU, mtu int, aggregate bool) []*pionrtp.Packet {
	t.Helper()
	z := Packetizer{SSRC: 0x1234, PayloadType: 96, Sequence: 65000, MTU: mtu, Payloader: payloaderFor(k, aggregate)}
	var pkts []*pionrtp.Packet
	for i, au := range aus {
		var err error
		if pkts, err = z.Packetize(pkts, annexB(au.nalus), uint32(i)*3600); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range pkts {
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var q pionrtp.Packet
		if err := q.Unmarshal(b); err != nil {
			t.Fatal(err)
		}
		pkts[i] = &q
	}
	return pkts
}

func sameNALUs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
