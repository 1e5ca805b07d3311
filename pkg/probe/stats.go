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
	// Duration is last DTS minus first DTS plus one typical step.
	Duration float64 `json:"duration_seconds"`
	// Bitrate per whole second of DTS, bits per second.
	BitrateMin int64 `json:"bitrate_min"`
	BitrateAvg int64 `json:"bitrate_avg"`
	BitrateMax int64 `json:"bitrate_max"`
}

type trackStats struct {
	video       bool
	declaredFPS float64

	frames, keys, bframes int64
	first, last           time.Duration
	started               bool

	lastKeyIdx  int64
	lastKeyDTS  time.Duration
	haveKey     bool
	gops        int64
	gopFrames   [3]int64 // min, sum, max
	gopSeconds  [3]time.Duration
	deltas      map[int64]int64 // ms step -> count
	maxDelta    time.Duration
	backs       int64
	worstBack   time.Duration
	secondBytes map[int64]int64
	totalBytes  int64
}

func newTrackStats(t *media.Track) *trackStats {
	return &trackStats{
		video:       t.Kind() == media.KindVideo,
		declaredFPS: t.FPS,
		deltas:      map[int64]int64{},
		secondBytes: map[int64]int64{},
	}
}

func (s *trackStats) add(f *media.Frame) {
	if s.started {
		d := f.DTS - s.last
		if d < 0 {
			s.backs++
			s.worstBack = max(s.worstBack, -d)
		} else {
			ms := d.Milliseconds()
			if _, ok := s.deltas[ms]; ok || len(s.deltas) < maxDeltaBins {
				s.deltas[ms]++
			}
			s.maxDelta = max(s.maxDelta, d)
		}
	} else {
		s.first, s.started = f.DTS, true
	}
	s.last = f.DTS
	if f.PTS != f.DTS {
		s.bframes++
	}
	if s.video && f.Key {
		if s.haveKey {
			n, d := s.frames-s.lastKeyIdx, f.DTS-s.lastKeyDTS
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
		s.lastKeyIdx, s.lastKeyDTS, s.haveKey = s.frames, f.DTS, true
	}
	if f.Key {
		s.keys++
	}
	s.frames++
	s.totalBytes += int64(len(f.Payload))
	sec := int64((f.DTS - s.first) / time.Second)
	if _, ok := s.secondBytes[sec]; ok || len(s.secondBytes) < maxSecondBins {
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
	span := (s.last - s.first).Seconds()
	if s.frames > 1 && span > 0 {
		r.MeasuredFPS = round3(float64(s.frames-1) / span)
	}
	r.Duration = round3(span + float64(mode)/1000)
	// bitrate over whole seconds; the last, partial second only when it is
	// the only one
	last := int64(-1)
	for sec := range s.secondBytes {
		last = max(last, sec)
	}
	var sum, n int64
	r.BitrateMin = math.MaxInt64
	for sec, b := range s.secondBytes {
		if sec == last && len(s.secondBytes) > 1 {
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
	return r
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
