package probe

import (
	"bytes"
	"testing"

	"github.com/mediakit/mediakit/pkg/media"
)

// FuzzScan feeds arbitrary bytes to the timestamp scanners and the
// header readers probe adds (TS and PS PES headers, the FLV tail, MP4
// fragment headers): no panic, and durations stay finite.
func FuzzScan(f *testing.F) {
	pes := []byte{0, 0, 1, 0xE0, 0, 0, 0x80, 0x80, 5, 0x21, 0, 1, 0, 1}
	ts := append([]byte{0x47, 0x41, 0x00, 0x10}, pes...)
	ts = append(ts, make([]byte, 188-len(ts))...)
	f.Add(ts)
	f.Add(append([]byte{0, 0, 1, 0xBA}, pes...))
	f.Add([]byte("FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00\x09\x00\x00\x01\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x0c"))
	f.Add([]byte{0, 0, 0, 8, 'm', 'o', 'o', 'f', 0, 0, 0, 16, 't', 'r', 'u', 'n', 0, 0, 3, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s spans
		scanTS(b, &s, true, newAudioES())
		scanPS(b, &s, false, newAudioES())
		esBitRate(b, media.CodecAAC)
		esBitRate(b, media.CodecMP3)
		if d := spanDuration(s, [2]float64{0.04, 0.023}); d != d {
			t.Fatal("NaN duration")
		}
		pesPTS(b)
		flvLastTimestamp(bytes.NewReader(b), int64(len(b)))
		readMP4Info(bytes.NewReader(b), int64(len(b)))
	})
}
