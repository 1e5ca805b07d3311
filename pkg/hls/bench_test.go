package hls

import (
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// BenchmarkSegmenter measures the cost per frame of a 2 Mbit/s-like
// stream: 10 kB H.264 frames at 30 fps (a keyframe every 2 s) and 300-byte
// AAC frames at 44.1 kHz, segmented every 2 s. One op is one frame.
func BenchmarkSegmenter(b *testing.B) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x47, 0xfe, 0xc8}
	pps := []byte{0x68, 0xce, 0x38, 0x80}
	video := &media.Track{Codec: media.CodecH264, SPS: sps, PPS: pps, FPS: 30}
	audio, err := media.NewAACTrack([]byte{0x12, 0x10})
	if err != nil {
		b.Fatal(err)
	}
	idr := make([]byte, 10_000)
	idr[0] = 0x65
	slice := make([]byte, 10_000)
	slice[0] = 0x41
	idrPayload := media.AppendAVCC(nil, idr)
	slicePayload := media.AppendAVCC(nil, slice)
	aac := make([]byte, 300)

	// Ten seconds of frames in DTS order, replayed with growing timestamps.
	const span = 10 * time.Second
	type item struct {
		dts   time.Duration
		video bool
		key   bool
	}
	var sched []item
	vi, ai := 0, 0
	for {
		vt := time.Duration(vi) * time.Second / 30
		at := time.Duration(ai) * time.Second * 1024 / 44100
		if vt >= span && at >= span {
			break
		}
		if vt <= at {
			sched = append(sched, item{vt, true, vi%60 == 0})
			vi++
		} else {
			sched = append(sched, item{at, false, true})
			ai++
		}
	}
	frames := make([]*media.Frame, b.N)
	var bytesIn int64
	for i := range frames {
		it := sched[i%len(sched)]
		dts := it.dts + time.Duration(i/len(sched))*span
		f := &media.Frame{Track: audio, DTS: dts, PTS: dts, Key: true, Payload: aac}
		if it.video {
			f = &media.Frame{Track: video, DTS: dts, PTS: dts, Key: it.key, Payload: slicePayload}
			if it.key {
				f.Payload = idrPayload
			}
		}
		bytesIn += int64(len(f.Payload))
		frames[i] = f
	}
	var out int64
	segments := 0
	s, err := NewSegmenter([]*media.Track{video, audio}, 2*time.Second, func(seg *Segment) {
		out += int64(len(seg.Data))
		segments++
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, f := range frames {
		if err := s.WriteFrame(f); err != nil {
			b.Fatal(err)
		}
	}
	s.Flush()
	b.StopTimer()
	if b.N > 0 {
		b.SetBytes(bytesIn / int64(b.N))
	}
	if bytesIn > 0 {
		b.ReportMetric(float64(out)/float64(bytesIn)*100-100, "%overhead")
	}
	_ = segments
}
