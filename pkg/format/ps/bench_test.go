package ps

import "testing"

// benchStream is 20 s of a 1 Mbit/s camera (2.6 MB): H.264 at 25 fps
// with a keyframe every 2 s (frames of about 4 KB, keyframes 40 KB) and
// AAC at 50 frames/s, muxed as cameras do.
func benchStream(b *testing.B) ([]Frame, []byte) {
	b.Helper()
	c := clip{video: StreamH264, audio: StreamAAC, frames: 500, gop: 50, maxVideo: 24000}
	frames := c.generate(1)
	for i := range frames {
		if frames[i].Key && IsVideoID(frames[i].StreamID) {
			frames[i].Data = h264AU(randFor(i), true, 40000)
		}
	}
	return frames, muxAll(NewMuxer(c.streams()), frames)
}

// BenchmarkDemux demuxes the stream in 1400-byte pieces, as RTP payloads.
func BenchmarkDemux(b *testing.B) {
	_, ps := benchStream(b)
	b.SetBytes(int64(len(ps)))
	b.ReportAllocs()
	n := 0
	emit := func(Frame) { n++ }
	for b.Loop() {
		d := NewDemuxer()
		for p := ps; len(p) > 0; {
			k := min(1400, len(p))
			if err := d.Write(p[:k], emit); err != nil {
				b.Fatal(err)
			}
			p = p[k:]
		}
		d.Flush(emit)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "frames/s")
}

// BenchmarkMux muxes the same frames into a reused buffer.
func BenchmarkMux(b *testing.B) {
	frames, _ := benchStream(b)
	size := 0
	for _, f := range frames {
		size += len(f.Data)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		m := NewMuxer([]Stream{{ID: 0xE0, Type: StreamH264}, {ID: 0xC0, Type: StreamAAC}})
		for _, f := range frames {
			buf = m.AppendFrame(buf[:0], f, f.Key)
		}
	}
}
