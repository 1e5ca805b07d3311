package httpfmp4

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

// BenchmarkFMP4Frame measures building the shared bytes of one frame
// for .live.mp4 (a moof+mdat fragment) against .live.flv (an FLV tag),
// for a 10 KB video frame (2 Mbit/s at 25 fps) and a 371-byte AAC frame
// (128 kbit/s at 44.1 kHz). Each iteration builds a new frame's bytes,
// as the first reader of each frame does; "fmp4-mediacommon" writes the
// same fragment with mediacommon's fmp4.Part.Marshal, the alternative to
// appendFragment. cpu-ns/op is the process's CPU time (garbage collection
// included) per frame, which a machine shared with other work disturbs
// less than ns/op.
//
//	go test -run '^$' -bench BenchmarkFMP4Frame -benchmem ./pkg/httpfmp4/
func BenchmarkFMP4Frame(b *testing.B) {
	video, audio := clipTracks(b)
	var seq atomic.Uint32
	m, err := newStreamMux([]*media.Track{video, audio}, &seq, discard)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		track   *media.Track
		payload []byte
		step    time.Duration
	}{
		{"video", video, media.AppendAVCC(nil, append([]byte{0x41}, make([]byte, 10<<10-1)...)), 40 * time.Millisecond},
		{"audio", audio, make([]byte, 371), 23 * time.Millisecond},
	} {
		st, _, _ := m.state(c.track)
		frame := func(i int) *media.Frame {
			d := time.Duration(i) * c.step
			return &media.Frame{Track: c.track, DTS: d, PTS: d, Key: true, Payload: c.payload}
		}
		b.Run(c.name+"/flv", func(b *testing.B) {
			b.SetBytes(int64(len(c.payload)))
			defer reportCPU(b)()
			for i := 0; b.Loop(); i++ {
				if len(flv.FrameTag(frame(i))) == 0 {
					b.Fatal("no tag")
				}
			}
		})
		b.Run(c.name+"/fmp4", func(b *testing.B) {
			b.SetBytes(int64(len(c.payload)))
			defer reportCPU(b)()
			for i := 0; b.Loop(); i++ {
				if len(m.fragment(frame(i), st)) == 0 {
					b.Fatal("no fragment")
				}
			}
		})
		b.Run(c.name+"/fmp4-mediacommon", func(b *testing.B) {
			b.SetBytes(int64(len(c.payload)))
			defer reportCPU(b)()
			for i := 0; b.Loop(); i++ {
				f := frame(i)
				s := sample{trackID: st.id, baseTime: ticks(f.DTS, st.timescale), duration: 1024}
				if len(marshalPart(b, uint32(i), &s, f.Payload)) == 0 {
					b.Fatal("no fragment")
				}
			}
		})
	}
}

// reportCPU starts measuring the process's CPU time; the function it
// returns reports it per iteration as cpu-ns/op.
func reportCPU(b *testing.B) func() {
	start := processCPU()
	return func() {
		if used := processCPU() - start; used > 0 && b.N > 0 {
			b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}
