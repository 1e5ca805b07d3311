package probe

import (
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// TestStatsGapsAndJumps feeds a 25 fps track with one 1 s gap and one
// 200 ms backward jump.
func TestStatsGapsAndJumps(t *testing.T) {
	tr := &media.Track{Codec: media.CodecH264, FPS: 25}
	s := newTrackStats(tr)
	dts := time.Duration(0)
	for i := range 100 {
		switch i {
		case 50:
			dts += time.Second
		case 70:
			dts -= 200 * time.Millisecond
		default:
			dts += 40 * time.Millisecond
		}
		s.add(&media.Frame{Track: tr, DTS: dts, PTS: dts, Key: i%25 == 0, Payload: make([]byte, 1000)})
	}
	r := s.result()
	if r.Gaps != 1 || r.WorstGap != 1 || r.BackwardJumps != 1 || r.WorstBackward != 0.2 {
		t.Errorf("gaps %d worst %v, backward %d worst %v", r.Gaps, r.WorstGap, r.BackwardJumps, r.WorstBackward)
	}
	if r.Keyframes != 4 || r.GOPMinFrames != 25 || r.GOPMaxFrames != 25 || r.HasBFrames {
		t.Errorf("%+v", r)
	}
}
