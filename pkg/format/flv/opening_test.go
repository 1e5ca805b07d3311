package flv

import (
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// TestOpening: the start is the lowest DTS of the first batch; audio
// stamped before it is left out until one audio frame is kept, video
// always kept.
func TestOpening(t *testing.T) {
	video, audio := clipTracks(t, "h264_aac.flv")
	ms := time.Millisecond
	v := func(dts time.Duration) *media.Frame {
		return &media.Frame{Track: video, DTS: dts * ms, PTS: dts * ms, Key: true}
	}
	a := func(dts time.Duration) *media.Frame { return &media.Frame{Track: audio, DTS: dts * ms, PTS: dts * ms} }
	for _, tc := range []struct {
		name  string
		first []*media.Frame
		start time.Duration
		then  []*media.Frame
		kept  []bool
	}{
		{"audio a little before the keyframe", []*media.Frame{v(2000), a(1980)}, 1980 * ms,
			[]*media.Frame{a(1990), v(2040)}, []bool{true, true}},
		{"audio lagging the video", []*media.Frame{v(2000), v(2040)}, 2000 * ms,
			[]*media.Frame{a(1850), a(1870), a(2010), a(1990), v(2080)}, []bool{false, false, true, true, true}},
		{"video before the start is kept", []*media.Frame{a(500)}, 500 * ms,
			[]*media.Frame{v(400), a(450), a(520)}, []bool{true, false, true}},
		{"an empty first batch", nil, 0, []*media.Frame{a(0), v(0)}, []bool{true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := NewOpening(tc.first)
			if o.Start != tc.start {
				t.Fatalf("start %v, want %v", o.Start, tc.start)
			}
			for i, f := range tc.then {
				if got := o.Keep(f); got != tc.kept[i] {
					t.Errorf("frame %d (%v at %v): kept %v, want %v", i, f.Track.Kind(), f.DTS, got, tc.kept[i])
				}
			}
		})
	}
}
