package ps

import (
	"fmt"
	"testing"
)

// placed is a frame and where its bytes lie in the program stream.
type placed struct {
	Frame
	start, end int
}

// muxPlaced muxes frames and records their places.
func muxPlaced(m *Muxer, frames []Frame) ([]byte, []placed) {
	var b []byte
	var out []placed
	for _, f := range frames {
		start := len(b)
		b = m.AppendFrame(b, f, f.Key)
		out = append(out, placed{f, start, len(b)})
	}
	return b, out
}

type frameKey struct {
	id  byte
	pts int64
}

// checkDelivered checks that every frame got is one of frames, unchanged,
// and that the frames for which must returns true are all there.
func checkDelivered(t *testing.T, got []Frame, frames []placed, must func(i int) bool) {
	t.Helper()
	byKey := map[frameKey]placed{}
	for _, p := range frames {
		byKey[frameKey{p.StreamID, p.PTS}] = p
	}
	seen := map[frameKey]bool{}
	for _, g := range got {
		k := frameKey{g.StreamID, g.PTS}
		p, ok := byKey[k]
		if !ok {
			t.Fatalf("frame of stream 0x%02x with PTS %d (%d bytes) was never sent", g.StreamID, g.PTS, len(g.Data))
		}
		if diff := diffFrame(g, p.Frame); diff != "" {
			t.Fatalf("frame of stream 0x%02x at PTS %d: %s", g.StreamID, g.PTS, diff)
		}
		if seen[k] {
			t.Fatalf("frame of stream 0x%02x at PTS %d delivered twice", g.StreamID, g.PTS)
		}
		seen[k] = true
	}
	for i, p := range frames {
		if must(i) && !seen[frameKey{p.StreamID, p.PTS}] {
			t.Errorf("frame %d (stream 0x%02x, PTS %d, key %v, bytes %d-%d) lost", i, p.StreamID, p.PTS, p.Key, p.start, p.end)
		}
	}
}

// nextOfStream returns the index of the next frame of the same stream
// after i, or -1.
func nextOfStream(frames []placed, i int) int {
	for j := i + 1; j < len(frames); j++ {
		if frames[j].StreamID == frames[i].StreamID {
			return j
		}
	}
	return -1
}

// TestLossReset drops bytes from the middle of a camera-like stream and
// calls Reset, as an RTP receiver does on a sequence gap. Every frame
// delivered must be intact; every frame whose bytes all arrived after the
// gap must be delivered, as must those before it that were complete,
// except the last of each stream (still held back, and dropped by Reset
// since nothing says it was complete).
func TestLossReset(t *testing.T) {
	c := clip{video: StreamH264, audio: StreamAAC, frames: 60, gop: 20, maxVideo: 6000}
	m := NewMuxer(c.streams())
	m.MaxPESPayload = 1400
	ps, frames := muxPlaced(m, c.generate(5))
	for _, gap := range []int{1, 100, 1400, 5000, 30000} {
		for cut := 500; cut+gap < len(ps); cut += len(ps) / 17 {
			t.Run(fmt.Sprintf("gap %d at %d", gap, cut), func(t *testing.T) {
				d := NewDemuxer()
				got := writePieces(t, d, ps[:cut], 1400)
				d.Reset()
				got = append(got, demuxPieces(t, d, ps[cut+gap:], 1400)...)
				checkDelivered(t, got, frames, func(i int) bool {
					if frames[i].start >= cut+gap {
						return true
					}
					// Complete before the gap, and the start of the next
					// frame of the stream (which ends it) too.
					next := nextOfStream(frames, i)
					return next >= 0 && frames[next].start+128 <= cut
				})
				if st := d.Stats(); st.Resets != 1 || st.Garbage > uint64(2*1400) {
					t.Errorf("%+v", st)
				}
			})
		}
	}
}

// TestLossWithoutReset drops bytes without telling the demuxer. The frame
// being assembled may be damaged, but the demuxer finds its way back: every
// frame from one maximal PES packet after the gap on is delivered intact.
func TestLossWithoutReset(t *testing.T) {
	c := clip{video: StreamH265, audio: StreamG711A, frames: 80, gop: 20, maxVideo: 6000}
	m := NewMuxer(c.streams())
	m.MaxPESPayload = 1400
	ps, frames := muxPlaced(m, c.generate(6))
	for _, gap := range []int{1, 3, 100, 1400} {
		for cut := 1000; cut+gap+70000 < len(ps); cut += 9999 {
			t.Run(fmt.Sprintf("gap %d at %d", gap, cut), func(t *testing.T) {
				d := NewDemuxer()
				damaged := append(ps[:cut:cut], ps[cut+gap:]...)
				var got []Frame
				for _, f := range demuxPieces(t, d, damaged, 1400) {
					for _, p := range frames {
						if p.StreamID == f.StreamID && p.PTS == f.PTS && p.start >= cut+gap+pesMaxPayload+6 {
							got = append(got, f)
						}
					}
				}
				checkDelivered(t, got, frames, func(i int) bool { return frames[i].start >= cut+gap+pesMaxPayload+6 })
			})
		}
	}
}
