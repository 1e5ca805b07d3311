package hls

import (
	"bytes"
	"encoding/hex"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// TestTSMuxerAACProgramConfig: AAC whose layout only a program config
// element gives (channel configuration 0; ffmpeg's 6.1) gets the element
// at the start of every ADTS frame's raw_data_block, as ADTS has no
// other place for it: every frame, since a live player may join at any.
// The frames of a plain config are left as they are.
func TestTSMuxerAACProgramConfig(t *testing.T) {
	for _, tc := range []struct {
		name, asc string
		pce       bool
	}{
		{"PCE 6.1", "118004c848002000c440044c61766356e500", true},
		{"LC stereo", "1210", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asc, _ := hex.DecodeString(tc.asc)
			tr, err := media.NewAACTrack(asc)
			if err != nil {
				t.Fatal(err)
			}
			conf, err := media.ParseAACConfig(asc)
			if err != nil {
				t.Fatal(err)
			}
			var frames []*media.Frame
			for i := range 5 {
				at := time.Duration(i) * 21 * time.Millisecond
				frames = append(frames, &media.Frame{Track: tr, DTS: at, PTS: at, Key: true, Payload: []byte{0x21, 0x10, 0x04, byte(i)}})
			}
			var ts bytes.Buffer
			w, err := NewTSWriter(&ts, []*media.Track{tr})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range frames {
				if _, err := w.WriteFrame(f); err != nil {
					t.Fatal(err)
				}
			}
			units := demuxUnits(t, ts.Bytes())
			if len(units) != len(frames) {
				t.Fatalf("%d units, want %d", len(units), len(frames))
			}
			for i, u := range units {
				// "A pts asc au": the demuxer hands the raw_data_block.
				var au string
				if f := bytes.Fields([]byte(u)); len(f) == 4 {
					au = string(f[3])
				}
				want := hex.EncodeToString(frames[i].Payload)
				if tc.pce {
					want = hex.EncodeToString(conf.PCE) + want
				}
				if au != want {
					t.Errorf("frame %d: raw_data_block %s, want %s", i, au, want)
				}
			}
		})
	}
}
