package rtp

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	pionrtp "github.com/pion/rtp"
)

// TestPipeline runs clips through everything an ingest does: packetize,
// frame for TCP, lose and reorder packets on the way, read the frames, put
// packets back in order, depacketize, and after a loss wait for a keyframe.
// Every access unit that comes out must be whole and in order, and only
// units from a loss to the next keyframe may be missing.
func TestPipeline(t *testing.T) {
	for _, clip := range []struct {
		name string
		kind Kind
	}{{"h264.h264", KindH264}, {"h265.hevc", KindH265}} {
		aus := clipAUs(t, clip.name, clip.kind == KindH265)
		pkts := clipPackets(t, clip.kind, aus, 1000, true)
		for _, tc := range []struct {
			name string
			drop func(i int) bool
			swap func(i int) bool // swap packet i with i+1 on the way
		}{
			{"clean", func(int) bool { return false }, func(int) bool { return false }},
			{"reordered pairs", func(int) bool { return false }, func(i int) bool { return i%5 == 1 }},
			{"one loss", func(i int) bool { return i == 37 }, func(int) bool { return false }},
			{"losses and reordering", func(i int) bool { return i%97 == 13 || (i >= 300 && i < 304) }, func(i int) bool { return i%7 == 3 }},
		} {
			t.Run(fmt.Sprintf("%s/%s", clip.kind, tc.name), func(t *testing.T) {
				// The lost access units: from each dropped packet's unit
				// up to the next keyframe.
				lostAU := map[int]bool{}
				for i, p := range pkts {
					if !tc.drop(i) {
						continue
					}
					for k := int(p.Timestamp / 3600); k < len(aus) && (k == int(p.Timestamp/3600) || !aus[k].key); k++ {
						lostAU[k] = true
					}
				}
				order := make([]int, 0, len(pkts))
				for i := range pkts {
					order = append(order, i)
				}
				for i := 0; i+1 < len(order); i++ {
					if tc.swap(i) {
						order[i], order[i+1] = order[i+1], order[i]
						i++
					}
				}
				var stream []byte
				for _, i := range order {
					if tc.drop(i) {
						continue
					}
					b, err := pkts[i].Marshal()
					if err != nil {
						t.Fatal(err)
					}
					stream = AppendFrame(stream, b)
				}

				fr := NewFrameReader(bytes.NewReader(stream))
				dep, err := NewDepacketizer(clip.kind)
				if err != nil {
					t.Fatal(err)
				}
				var r Receiver
				var got []AccessUnit
				waitKey := false
				emit := func(p *pionrtp.Packet, lost int) {
					if lost != 0 {
						dep.Reset()
						waitKey = true
					}
					out, err := dep.Push(p)
					if err != nil {
						t.Fatalf("seq %d: %v", p.SequenceNumber, err)
					}
					for _, au := range out {
						if waitKey && !au.Key {
							continue
						}
						waitKey = false
						got = append(got, au)
					}
				}
				for n := 0; ; n++ {
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
					r.Push(p, ms(n), emit)
				}
				r.Flush(emit)
				got = append(got, dep.Flush()...)

				want := len(aus) - len(lostAU)
				if len(got) != want {
					t.Fatalf("%d access units, want %d", len(got), want)
				}
				prev := -1
				for _, au := range got {
					k := int(au.Timestamp / 3600)
					if k <= prev || lostAU[k] || !bytes.Equal(au.Data, annexB(aus[k].nalus)) || au.Key != aus[k].key {
						t.Fatalf("access unit %d (after %d) is wrong", k, prev)
					}
					prev = k
				}
				s := r.Stats()
				drops := 0
				for i := range pkts {
					if tc.drop(i) {
						drops++
					}
				}
				if s.Lost != uint64(drops) {
					t.Fatalf("stats %+v, dropped %d", s, drops)
				}
			})
		}
	}
}
