package mp4_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/format/mp4"
	"github.com/mediakit/mediakit/pkg/media"
)

// BenchmarkWriteFrame writes a 25 fps stream of 10 kB H.264 frames (a
// keyframe every 25) to a temporary file, starting a new file every 3000
// frames (2 minutes, 30 MB) so the file stays small; the Close of each
// file is part of the cost.
func BenchmarkWriteFrame(b *testing.B) {
	tracks, _ := flvFrames(b, "h264_only.flv") // for its SPS and PPS
	track := tracks[0]
	nalu := make([]byte, 10_000-4)
	nalu[0] = 0x41
	payload := media.AppendAVCC(nil, nalu)
	key := media.AppendAVCC(nil, append([]byte{0x65}, nalu[1:]...))
	const perFile = 3000
	frames := make([]media.Frame, perFile)
	for i := range frames {
		ts := time.Duration(i) * 40 * time.Millisecond
		frames[i] = media.Frame{Track: track, DTS: ts, PTS: ts, Key: i%25 == 0, Payload: payload}
		if frames[i].Key {
			frames[i].Payload = key
		}
	}
	path := filepath.Join(b.TempDir(), "bench.mp4")
	var f *os.File
	var w *mp4.Writer
	open := func() {
		var err error
		if f, err = os.Create(path); err != nil {
			b.Fatal(err)
		}
		if w, err = mp4.NewWriter(f, tracks, mp4.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	closeFile := func() {
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	open()
	i := 0
	for b.Loop() {
		if i == perFile {
			closeFile()
			open()
			i = 0
		}
		if err := w.WriteFrame(&frames[i]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	closeFile()
}
