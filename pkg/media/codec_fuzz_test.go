package media

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
)

// FuzzCodecHeaders feeds what publishers send for AV1, VP9 and MP3 (a
// temporal unit, a keyframe, a frame) to the parsers that build their
// tracks and split AV1 for RTP: no panic, tracks with a size or a sample
// rate, and AV1's two payload forms converting into each other. Seeds
// beyond these are in testdata/fuzz/FuzzCodecHeaders.
func FuzzCodecHeaders(f *testing.F) {
	// a temporal unit: temporal delimiter, the sequence header OBU of
	// pkg/format/flv's tests (320x240), a frame OBU (size fields on all)
	f.Add([]byte{0x12, 0x00, 0x0a, 0x0b, 0x00, 0x00, 0x00, 0x42, 0xab, 0xbf, 0xc3, 0x70, 0x0b, 0xe0, 0x01, 0x32, 0x02, 0x10, 0x00})
	// a VP9 profile 0 keyframe header for 320x240
	f.Add([]byte{0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0e, 0xf6, 0x00})
	// an MPEG-1 layer III frame header: 128 kb/s, 44.1 kHz, joint stereo
	f.Add([]byte{0xff, 0xfb, 0x90, 0x64, 0x00})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		if obus, err := AV1OBUs(b); err == nil {
			keep := slices.DeleteFunc(slices.Clone(obus), func(o []byte) bool {
				return len(o) == 0 || av1.OBUType(o[0]>>3&0x0f) == 8 // tile lists are not carried
			})
			if len(keep) > 0 {
				lo, err := AV1LowOverhead(obus)
				if err != nil {
					t.Fatalf("the OBUs AV1OBUs made from %x: AV1LowOverhead: %v", b, err)
				}
				again, err := AV1OBUs(lo)
				if err != nil || !slices.EqualFunc(again, keep, bytes.Equal) {
					t.Fatalf("%x -> %x -> %x (%v), want %x", b, lo, again, err, keep)
				}
			}
		}
		if sh := AV1SequenceHeaderOf(b); sh != nil {
			if !bytes.Contains(b, sh) {
				t.Fatalf("sequence header %x is not in %x", sh, b)
			}
			if tr, err := NewAV1Track(sh); err == nil && (tr.Codec != CodecAV1 || tr.Width < 0 || tr.Height < 0 || tr.FPS < 0) {
				t.Fatalf("AV1 track %+v", tr)
			}
		}
		if tr, err := NewVP9TrackFromKeyframe(b); err == nil && (tr.Codec != CodecVP9 || tr.Width <= 0 || tr.Height <= 0) {
			t.Fatalf("VP9 track %+v", tr)
		}
		if tr, err := NewMP3Track(b); err == nil && (tr.Channels != 1 && tr.Channels != 2) {
			t.Fatalf("MP3 track %+v", tr)
		}
		if d := MP3FrameDuration(b); d < 0 || d > time.Second {
			t.Fatalf("MP3 frame of %v", d)
		}
		if !bytes.Equal(b, in) {
			t.Fatal("the input was modified")
		}
	})
}
