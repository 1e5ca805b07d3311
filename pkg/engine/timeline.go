package engine

import (
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// Jumps in a publisher's timestamps beyond these bounds are treated as a
// restart of its clock rather than as media time.
const (
	maxBackwardJump = time.Second
	maxForwardJump  = 10 * time.Second
	// sessionGap separates the last frame of a publisher from the first
	// frame of the one that returns.
	sessionGap = 20 * time.Millisecond
)

// timeline maps each publisher's timestamps onto one stream timeline that
// starts at zero and never goes backwards, across publisher returns and
// clock jumps, so readers that stay attached see monotonic timestamps.
type timeline struct {
	started    bool          // a frame was appended on this stream
	last       time.Duration // highest output DTS
	inSession  bool          // current publisher has sent a frame
	offset     time.Duration // added to the publisher's timestamps
	lastIn     time.Duration // previous input DTS of this session
	lastTrack  [2]*media.Track
	lastDTS    [2]time.Duration
	discontNow bool
}

// newSession prepares for a new publisher.
func (t *timeline) newSession() {
	t.inSession = false
}

// apply rewrites f's DTS and PTS onto the stream timeline.
func (t *timeline) apply(f *media.Frame) {
	in := f.DTS
	cts := f.PTS - f.DTS
	if cts < 0 {
		cts = 0
	}
	switch {
	case !t.inSession:
		if t.started {
			t.offset = t.last + sessionGap - in
			f.Discontinuity = true
		} else {
			t.offset = -in
		}
		t.inSession = true
	case in < t.lastIn-maxBackwardJump || in > t.lastIn+maxForwardJump:
		t.offset = t.last + sessionGap - in
	}
	t.lastIn = in
	out := in + t.offset
	if out < 0 {
		// audio stamped a little before the first frame of the stream
		out = 0
	}

	// Keep every track monotonic even when a publisher interleaves badly.
	i := 0
	if f.Track.Kind() == media.KindAudio {
		i = 1
	}
	if t.lastTrack[i] != nil && out < t.lastDTS[i] {
		out = t.lastDTS[i]
	}
	t.lastTrack[i] = f.Track
	t.lastDTS[i] = out
	if out > t.last || !t.started {
		t.last = out
	}
	t.started = true
	f.DTS = out
	f.PTS = out + cts
}
