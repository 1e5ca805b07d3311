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

// TestStatsClockRestart: a 6 s, 25 fps track played twice, its clock
// restarting (`cat a.ts a.ts`): the jump is a backward jump, not a GOP,
// and duration, frame rate and bitrate follow the 12 s of media.
func TestStatsClockRestart(t *testing.T) {
	tr := &media.Track{Codec: media.CodecH264, FPS: 25}
	cases := []struct {
		name   string
		passes int
	}{{"once", 1}, {"twice", 2}, {"three times", 3}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newTrackStats(tr)
			for range c.passes {
				for i := range 150 {
					dts := time.Duration(i) * 40 * time.Millisecond
					s.add(&media.Frame{Track: tr, DTS: dts, PTS: dts, Key: i%25 == 0, Payload: make([]byte, 1000)})
				}
			}
			r := s.result()
			want := 6 * float64(c.passes)
			if r.GOPMinFrames != 25 || r.GOPMaxFrames != 25 || r.GOPMinSeconds != 1 || r.GOPMaxSeconds != 1 || r.GOPAvgSeconds != 1 {
				t.Errorf("GOP %d-%d frames, %v/%v/%v s; want 25 frames, 1 s", r.GOPMinFrames, r.GOPMaxFrames,
					r.GOPMinSeconds, r.GOPAvgSeconds, r.GOPMaxSeconds)
			}
			if r.BackwardJumps != int64(c.passes-1) || r.MeasuredFPS != 25 || r.Duration != want {
				t.Errorf("backward jumps %d, fps %v, duration %v; want %d, 25, %v", r.BackwardJumps, r.MeasuredFPS, r.Duration, c.passes-1, want)
			}
			// 25 frames of 1000 bytes a second
			if r.BitrateMin != 200000 || r.BitrateMax != 200000 || r.BitrateAvg != 200000 {
				t.Errorf("bitrate %d/%d/%d, want 200000", r.BitrateMin, r.BitrateAvg, r.BitrateMax)
			}
			// whole seconds only: the last one (frames at 5.0-5.96 s of
			// the last pass) is complete here, but the series cannot know
			if len(r.BitrateSeries) != 6*c.passes-1 || r.BitrateSeriesStep != 1 {
				t.Errorf("series %v step %d, want %d seconds", r.BitrateSeries, r.BitrateSeriesStep, 6*c.passes-1)
			}
			for i, v := range r.BitrateSeries {
				if v != 200 {
					t.Errorf("series[%d] = %d kbit/s, want 200", i, v)
				}
			}
		})
	}
}

// TestBitrateSeriesBounded: an input longer than maxSeriesPoints seconds
// gets a series of at most that many entries, each the mean of its
// bucket.
func TestBitrateSeriesBounded(t *testing.T) {
	cases := []struct {
		seconds, wantLen, wantStep int
	}{
		{1, 1, 1},
		{3600, 3600, 1},
		{3601, 1801, 2},
		{10000, 3334, 3},
	}
	for _, c := range cases {
		vals := make([]int64, c.seconds)
		for i := range vals {
			vals[i] = int64(100 + i%2*100) // 100, 200, 100, ...
		}
		got, step := buckets(vals, maxSeriesPoints)
		if len(got) != c.wantLen || step != c.wantStep {
			t.Errorf("%d s: %d entries of %d s, want %d of %d", c.seconds, len(got), step, c.wantLen, c.wantStep)
		}
		if c.wantStep == 2 && (got[0] != 150 || got[len(got)-1] != 100) {
			t.Errorf("%d s: buckets %v ... %v, want means 150 ... 100", c.seconds, got[:2], got[len(got)-1])
		}
	}
	// a real track: two hours of 25 fps
	tr := &media.Track{Codec: media.CodecH264, FPS: 25}
	s := newTrackStats(tr)
	for i := range 2 * 3600 * 25 {
		dts := time.Duration(i) * 40 * time.Millisecond
		s.add(&media.Frame{Track: tr, DTS: dts, PTS: dts, Key: i%25 == 0, Payload: make([]byte, 100)})
	}
	if r := s.result(); len(r.BitrateSeries) > maxSeriesPoints || r.BitrateSeriesStep != 2 || r.BitrateSeries[0] != 20 {
		t.Errorf("2 h: %d entries of %d s, first %d kbit/s", len(r.BitrateSeries), r.BitrateSeriesStep, r.BitrateSeries[0])
	}
}
