package flv

import (
	"testing"

	"github.com/mediakit/mediakit/pkg/media"
)

// BenchmarkFrameTag builds the FLV tag of a 10 kB H.264 frame, as a
// publisher's first FLV reader does once per frame.
func BenchmarkFrameTag(b *testing.B) {
	track := &media.Track{Codec: media.CodecH264}
	nalu := make([]byte, 10_000-4)
	nalu[0] = 0x41
	payload := media.AppendAVCC(nil, nalu)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		f := &media.Frame{Track: track, DTS: 40_000_000, PTS: 80_000_000, Payload: payload}
		if tag := FrameTag(f); len(tag) != TagHeaderLen+5+len(payload)+PrevSizeLen {
			b.Fatalf("tag of %d bytes", len(tag))
		}
	}
}
