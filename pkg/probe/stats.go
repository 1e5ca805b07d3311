package probe

import (
	"math"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// Bounds on what frame statistics keep, so a long or hostile input
// cannot grow memory without limit.
const (
	maxDeltaBins  = 4096
	maxSecondBins = 1 << 20
	// maxSeriesPoints bounds FrameStats.BitrateSeries: a longer input's
	// seconds are averaged in buckets of several.
	maxSeriesPoints = 3600
	// maxTextPoints bounds the series in the text report, one line.
	maxTextPoints = 30
)

// FrameStats is what --frames/--gop measures for one track.
type FrameStats struct {
	Frames    int64 `json:"frames"`
	Keyframes int64 `json:"keyframes"`
	// GOP: distance between consecutive keyframes (video only), in frames
	// and in seconds of DTS. Zero when fewer than two keyframes were seen.
	GOPMinFrames  int64   `json:"gop_min_frames"`
	GOPAvgFrames  float64 `json:"gop_avg_frames"`
	GOPMaxFrames  int64   `json:"gop_max_frames"`
	GOPMinSeconds float64 `json:"gop_min_seconds"`
	GOPAvgSeconds float64 `json:"gop_avg_seconds"`
	GOPMaxSeconds float64 `json:"gop_max_seconds"`
	// Gaps: DTS steps larger than twice the most common step (and 10 ms
	// more than it); BackwardJumps: DTS going back. Worst in seconds.
	Gaps          int64   `json:"timestamp_gaps"`
	WorstGap      float64 `json:"worst_gap_seconds"`
	BackwardJumps int64   `json:"backward_jumps"`
	WorstBackward float64 `json:"worst_backward_seconds"`
	// BFrames counts frames whose PTS differs from their DTS.
	BFrames     int64   `json:"pts_ne_dts_frames"`
	HasBFrames  bool    `json:"b_frames"`
	MeasuredFPS float64 `json:"measured_fps"`
	DeclaredFPS float64 `json:"declared_fps,omitempty"`
	// Duration is the sum of the forward DTS steps plus one typical step;
	// a backward jump (a restarted clock) counts as a step like the one
	// before it. MeasuredFPS is the steps over their sum.
	Duration float64 `json:"duration_seconds"`
	// Bitrate per whole second of media (on the timeline of Duration, so
	// a restarted clock does not fold two seconds into one), bits per
	// second: min and max over the seconds that have media, leaving out
	// the last, partial one unless it is the only one; avg is all bytes
	// over Duration.
	BitrateMin int64 `json:"bitrate_min"`
	BitrateAvg int64 `json:"bitrate_avg"`
	BitrateMax int64 `json:"bitrate_max"`
	// BitrateSeries is the bitrate over time in kbit/s, one entry per
	// BitrateSeriesStep seconds (1, or more for inputs longer than 3600
	// s: at most 3600 entries), the last partial second left out as
	// above; a second without media is 0.
	BitrateSeries     []int64 `json:"bitrate_series,omitempty"`
	BitrateSeriesStep int     `json:"bitrate_series_step_seconds,omitempty"`
}

type trackStats struct {
	video       bool
	declaredFPS float64

	frames, keys, bframes int64
	last                  time.Duration
	started               bool
	pos                   time.Duration // sum of the forward DTS steps
	steps                 int64         // DTS steps, a backward jump counting as one
	lastStep              time.Duration // the last forward step

	lastKeyIdx  int64
	lastKeyDTS  time.Duration
	haveKey     bool
	jumped      bool // DTS went back since the last keyframe
	gops        int64
	gopFrames   [3]int64 // min, sum, max
	gopSeconds  [3]time.Duration
	deltas      map[int64]int64 // ms step -> count
	maxDelta    time.Duration
	backs       int64
	worstBack   time.Duration
	secondBytes []int64 // bytes per second of pos
	totalBytes  int64
}

func newTrackStats(t *media.Track) *trackStats {
	return &trackStats{
		video:       t.Kind() == media.KindVideo,
		declaredFPS: t.FPS,
		deltas:      map[int64]int64{},
	}
}

func (s *trackStats) add(f *media.Frame) {
	if s.started {
		d := f.DTS - s.last
		if d < 0 {
			s.backs++
			s.worstBack = max(s.worstBack, -d)
			s.jumped = true
			// the clock restarted: on the timeline this frame follows
			// the last one by a step like the one before
			s.pos += s.lastStep
			s.steps++
		} else {
			s.lastStep = d
			ms := d.Milliseconds()
			if _, ok := s.deltas[ms]; ok || len(s.deltas) < maxDeltaBins {
				s.deltas[ms]++
			}
			s.maxDelta = max(s.maxDelta, d)
			s.pos += d
			s.steps++
		}
	}
	s.started = true
	s.last = f.DTS
	if f.PTS != f.DTS {
		s.bframes++
	}
	if s.video && f.Key {
		// a GOP across a backward jump has no length: the jump is
		// counted as one, and the next GOP starts at this keyframe
		if n, d := s.frames-s.lastKeyIdx, f.DTS-s.lastKeyDTS; s.haveKey && !s.jumped && d > 0 {
			if s.gops == 0 {
				s.gopFrames = [3]int64{n, 0, n}
				s.gopSeconds = [3]time.Duration{d, 0, d}
			}
			s.gopFrames[0], s.gopFrames[2] = min(s.gopFrames[0], n), max(s.gopFrames[2], n)
			s.gopFrames[1] += n
			s.gopSeconds[0], s.gopSeconds[2] = min(s.gopSeconds[0], d), max(s.gopSeconds[2], d)
			s.gopSeconds[1] += d
			s.gops++
		}
		s.lastKeyIdx, s.lastKeyDTS, s.haveKey, s.jumped = s.frames, f.DTS, true, false
	}
	if f.Key {
		s.keys++
	}
	s.frames++
	s.totalBytes += int64(len(f.Payload))
	if sec := int(s.pos / time.Second); sec < maxSecondBins {
		if sec >= len(s.secondBytes) {
			s.secondBytes = append(s.secondBytes, make([]int64, sec+1-len(s.secondBytes))...)
		}
		s.secondBytes[sec] += int64(len(f.Payload))
	}
}

func (s *trackStats) result() *FrameStats {
	r := &FrameStats{Frames: s.frames, Keyframes: s.keys, BFrames: s.bframes, HasBFrames: s.bframes > 0,
		BackwardJumps: s.backs, WorstBackward: s.worstBack.Seconds(), DeclaredFPS: s.declaredFPS}
	if !s.video {
		r.Keyframes = s.frames
	}
	if s.gops > 0 {
		r.GOPMinFrames, r.GOPMaxFrames = s.gopFrames[0], s.gopFrames[2]
		r.GOPAvgFrames = round3(float64(s.gopFrames[1]) / float64(s.gops))
		r.GOPMinSeconds, r.GOPMaxSeconds = round3(s.gopSeconds[0].Seconds()), round3(s.gopSeconds[2].Seconds())
		r.GOPAvgSeconds = round3(s.gopSeconds[1].Seconds() / float64(s.gops))
	}
	// the most common step
	var mode, modeN int64
	for ms, n := range s.deltas {
		if n > modeN || (n == modeN && ms < mode) {
			mode, modeN = ms, n
		}
	}
	for ms, n := range s.deltas {
		if ms > 2*mode && ms > mode+10 {
			r.Gaps += n
		}
	}
	if r.Gaps > 0 {
		r.WorstGap = s.maxDelta.Seconds()
	}
	span := s.pos.Seconds()
	if s.steps > 0 && span > 0 {
		r.MeasuredFPS = round3(float64(s.steps) / span)
	}
	r.Duration = round3(span + float64(mode)/1000)
	// whole seconds; the last, partial one only when it is the only one
	secs := s.secondBytes
	if len(secs) > 1 {
		secs = secs[:len(secs)-1]
	}
	var sum, n int64
	r.BitrateMin = math.MaxInt64
	for _, b := range secs {
		if b == 0 {
			continue
		}
		bps := b * 8
		r.BitrateMin, r.BitrateMax = min(r.BitrateMin, bps), max(r.BitrateMax, bps)
		sum += bps
		n++
	}
	if n == 0 {
		r.BitrateMin = 0
	} else {
		r.BitrateAvg = sum / n
	}
	if r.Duration > 0 {
		r.BitrateAvg = int64(float64(s.totalBytes*8) / r.Duration)
	}
	if len(secs) > 0 {
		kbps := make([]int64, len(secs))
		for i, b := range secs {
			kbps[i] = b * 8 / 1000
		}
		r.BitrateSeries, r.BitrateSeriesStep = buckets(kbps, maxSeriesPoints)
	}
	return r
}

// buckets averages vals over runs of step of them, step the least that
// leaves at most limit runs (the last run averages what it has).
func buckets(vals []int64, limit int) (avg []int64, step int) {
	step = max(1, (len(vals)+limit-1)/limit)
	for i := 0; i < len(vals); i += step {
		run := vals[i:min(i+step, len(vals))]
		var sum int64
		for _, v := range run {
			sum += v
		}
		avg = append(avg, sum/int64(len(run)))
	}
	return avg, step
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
