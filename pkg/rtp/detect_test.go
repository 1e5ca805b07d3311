package rtp

import (
	"bytes"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/mediakit/mediakit/internal/testutil"
)

// clipNALUs returns the NAL units of a raw clip.
func clipNALUs(t *testing.T, name string) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(testutil.Clip(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return testutil.SplitAnnexB(t, raw)
}

// TestDetectClipPackets runs Detect on every packet of the clips as pion
// packetizes them, and on every NAL unit as a single NAL unit packet: the
// content decides, whatever the payload type says (short of the static
// G.711 types). A few headers fit both codecs (x264's SEI, 06 05, is also
// an H.265 TSA_R header); those give the payload type's codec, or
// KindUnknown under a type that names neither.
func TestDetectClipPackets(t *testing.T) {
	for _, clip := range []struct {
		name string
		kind Kind
	}{{"h264.h264", KindH264}, {"h265.hevc", KindH265}} {
		aus := clipAUs(t, clip.name, clip.kind == KindH265)
		var payloads [][]byte
		for _, aggregate := range []bool{true, false} {
			for _, p := range clipPackets(t, clip.kind, aus, 1200, aggregate) {
				payloads = append(payloads, p.Payload)
			}
		}
		payloads = append(payloads, clipNALUs(t, clip.name)...)
		ambiguous := 0
		for _, b := range payloads {
			if !isH264(b) || !isH265(b) {
				for _, pt := range []uint8{96, 98, 99, 100, 111} {
					if got := Detect(pt, b); got != clip.kind {
						t.Fatalf("%s: Detect(%d, %x...) = %s", clip.name, pt, b[:4], got)
					}
				}
				continue
			}
			ambiguous++
			for pt, want := range map[uint8]Kind{96: KindUnknown, 98: KindH264, 99: KindH265, 111: KindUnknown} {
				if got := Detect(pt, b); got != want {
					t.Fatalf("%s: Detect(%d, %x...) = %s, want %s", clip.name, pt, b[:4], got, want)
				}
			}
		}
		if ambiguous*50 > len(payloads) {
			t.Fatalf("%s: %d of %d payloads fit both codecs", clip.name, ambiguous, len(payloads))
		}
		t.Logf("%s: %d payloads, %d fit both codecs", clip.name, len(payloads), ambiguous)
	}
}

// psPack is the start of a GB28181 PS frame: pack header, then the start
// of a video PES packet.
func psPack() []byte {
	pack := []byte{0, 0, 1, 0xba, 0x44, 0, 4, 0, 4, 1, 1, 0x89, 0xc3, 0xf8}
	pes := []byte{0, 0, 1, 0xe0, 0x10, 0, 0x80, 0x80, 5, 0x21, 0, 1, 0, 1, 0, 0, 0, 1, 0x67}
	return append(pack, pes...)
}

func random(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func TestDetect(t *testing.T) {
	ts := bytes.Repeat(append([]byte{0x47, 0x40, 0x11, 0x10}, make([]byte, 184)...), 7)
	tests := []struct {
		name    string
		pt      uint8
		payload []byte
		want    Kind
	}{
		{"PS pack header", 96, psPack(), KindPS},
		{"PS pack header, odd payload type", 111, psPack(), KindPS},
		{"PS system header", 96, []byte{0, 0, 1, 0xbb, 0, 12}, KindPS},
		{"PES video at offset 0", 96, []byte{0, 0, 1, 0xe0, 0, 0}, KindPS},
		{"PES audio at offset 0", 96, []byte{0, 0, 1, 0xc0, 0, 0}, KindPS},
		{"TS, 7 packets", 33, ts, KindTS},
		{"TS under a dynamic type", 96, ts, KindTS},
		{"TS with a damaged sync byte", 33, append(append([]byte{}, ts[:188]...), append([]byte{0x48}, ts[189:376]...)...), KindTS},
		{"PCMU", 0, []byte{0xff, 0xfe, 0x7f}, KindPCMU},
		{"PCMA", 8, []byte{0xd5, 0xd5, 0x55}, KindPCMA},
		{"AAC-hbr, two AUs", 97, aacPayload([]byte{1, 2, 3}, []byte{4, 5}), KindAAC},
		{"Opus by payload type", 100, []byte{0xfc, 0xff, 0xfe}, KindOpus},
		{"H.264 SPS", 96, []byte{0x67, 0x42, 0xc0, 0x1e}, KindH264},
		{"H.264 FU-A of an IDR", 96, []byte{0x7c, 0x85, 0x88, 0x84}, KindH264},
		{"H.265 FU of an IDR", 96, []byte{0x62, 0x01, 0x93, 0xaf}, KindH265},
		{"H.265 VPS", 96, []byte{0x40, 0x01, 0x0c, 0x01}, KindH265},
		// 0x28 0x01 is an H.265 IDR_N_LP and also an H.264 PPS header
		// (nal_ref_idc 1); only the payload type can tell.
		{"H.265 IDR_N_LP or H.264 PPS, hinted H.265", 99, []byte{0x28, 0x01, 0xaf, 0x1d}, KindH265},
		{"H.265 IDR_N_LP or H.264 PPS, hinted H.264", 98, []byte{0x28, 0x01, 0xaf, 0x1d}, KindH264},
		{"H.265 IDR_N_LP or H.264 PPS, no hint", 111, []byte{0x28, 0x01, 0xaf, 0x1d}, KindUnknown},
		{"H.264 SEI with nal_ref_idc set is not H.264", 111, []byte{0x26, 0x05, 0x10}, KindUnknown},
		{"H.265 IRAP with a temporal id is not H.265", 111, []byte{0x26, 0x02, 0x10}, KindUnknown},
		{"H.265 layer 1 is not taken", 111, []byte{0x02, 0x09, 0x10}, KindUnknown},
		{"garbage, PS payload type", 96, []byte{0xff, 0xff, 0xff, 0xff}, KindPS},
		{"garbage", 111, []byte{0xff, 0xff, 0xff, 0xff}, KindUnknown},
		{"empty", 111, nil, KindUnknown},
		{"empty, H.264 payload type", 98, nil, KindH264},
	}
	for _, tc := range tests {
		if got := Detect(tc.pt, tc.payload); got != tc.want {
			t.Errorf("%s: Detect(%d, %x) = %s, want %s", tc.name, tc.pt, tc.payload[:min(len(tc.payload), 8)], got, tc.want)
		}
	}
}

func TestDetector(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	h264 := clipPackets(t, KindH264, clipAUs(t, "h264.h264", false), 1200, true)
	h265 := clipPackets(t, KindH265, clipAUs(t, "h265.hevc", true), 1200, true)
	type packet struct {
		pt      uint8
		payload []byte
	}
	from := func(pt uint8, n int, gen func(i int) []byte) []packet {
		var out []packet
		for i := range n {
			out = append(out, packet{pt, gen(i)})
		}
		return out
	}
	tests := []struct {
		name    string
		packets []packet
		want    Kind
		within  int // decided after at most this many packets
	}{
		{"H.264 under PS's payload type", from(96, 40, func(i int) []byte { return h264[i].Payload }), KindH264, 16},
		{"H.264 under no known type", from(111, 40, func(i int) []byte { return h264[i].Payload }), KindH264, 4},
		{"H.265 under H.264's type", from(98, 40, func(i int) []byte { return h265[i].Payload }), KindH265, 4},
		{"H.265 from a later point", from(99, 40, func(i int) []byte { return h265[100+i].Payload }), KindH265, 4},
		{"PS from a pack header", from(96, 40, func(i int) []byte {
			if i%10 == 0 {
				return psPack()
			}
			return random(rng, 1400)
		}), KindPS, 1},
		{"PS joined mid-frame", from(96, 40, func(i int) []byte {
			if i%10 == 7 {
				return psPack()
			}
			return random(rng, 1400)
		}), KindPS, 8},
		{"PS type, no pack header seen", from(96, 40, func(int) []byte { return random(rng, 1400) }), KindPS, 16},
		{"TS", from(33, 40, func(int) []byte { return bytes.Repeat(append([]byte{0x47}, make([]byte, 187)...), 7) }), KindTS, 1},
		{"Opus", from(100, 40, func(int) []byte { return random(rng, 80) }), KindOpus, 16},
		{"G.711", from(8, 40, func(int) []byte { return random(rng, 160) }), KindPCMA, 1},
		{"AAC", from(97, 40, func(int) []byte { return aacPayload(random(rng, 300)) }), KindAAC, 1},
		{"unknown", from(111, 40, func(int) []byte { return random(rng, 100) }), KindUnknown, 16},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d Detector
			if d.Kind() != KindUnknown || d.Done() {
				t.Fatal("zero Detector has a kind")
			}
			decidedAt := 0
			for i, p := range tc.packets {
				k, done := d.Feed(p.pt, p.payload)
				if done && decidedAt == 0 {
					decidedAt = i + 1
					if k != tc.want {
						t.Fatalf("decided %s after %d packets, want %s", k, decidedAt, tc.want)
					}
				}
				if decidedAt != 0 && (k != tc.want || !done || d.Kind() != tc.want) {
					t.Fatalf("packet %d: changed its mind to %s", i, k)
				}
			}
			if decidedAt == 0 || decidedAt > tc.within {
				t.Fatalf("decided after %d packets, want at most %d", decidedAt, tc.within)
			}
			d.Reset()
			if d.Done() || d.Kind() != KindUnknown {
				t.Fatal("Reset kept the decision")
			}
		})
	}
}

func TestKindClockRate(t *testing.T) {
	for k, want := range map[Kind]uint32{KindPS: 90000, KindH265: 90000, KindOpus: 48000, KindPCMU: 8000, KindAAC: 0, KindUnknown: 0} {
		if got := k.ClockRate(); got != want {
			t.Errorf("%s: %d, want %d", k, got, want)
		}
	}
}
