package es

import (
	"testing"

	"github.com/mediakit/mediakit/pkg/media"
)

// discardSink takes frames and keeps nothing.
type discardSink struct{}

func (discardSink) SetTracks([]*media.Track) error { return nil }
func (discardSink) SetMetadata(media.Metadata)     {}
func (discardSink) WriteFrame(*media.Frame) error  { return nil }

// BenchmarkWriteVideo measures the Annex-B to AVCC path per access unit
// of the H.264 clip.
func BenchmarkWriteVideo(b *testing.B) {
	clip := loadRaw(b, "h264.h264")
	aus := make([][]byte, len(clip.aus))
	size := 0
	for i, au := range clip.aus {
		aus[i] = annexB(au...)
		size += len(aus[i])
	}
	in := NewIngest(discardSink{}, Options{ExpectVideo: true})
	b.SetBytes(int64(size / len(aus)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		au := aus[i%len(aus)]
		ts := ms(40 * i)
		if err := in.WriteVideo(media.CodecH264, ts, ts, au); err != nil {
			b.Fatal(err)
		}
	}
}
