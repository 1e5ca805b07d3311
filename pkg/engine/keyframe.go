package engine

import (
	"context"
	"sync/atomic"
	"time"
)

// keyframeRequests carries a viewer's request for a keyframe (a WebRTC
// PLI or FIR) to the publisher that can make one. It is its own piece of
// state, apart from the owner's: the publisher sets and clears its
// callback, readers call it.
type keyframeRequests struct {
	fn   atomic.Pointer[keyframeFunc]
	last atomic.Int64 // unix nanoseconds of the last request passed on
	// now is the clock (tests set it; nil: time.Now).
	now func() time.Time
}

type keyframeFunc struct{ fn func() }

// keyframeMinInterval bounds how often requests reach a publisher: a
// hundred viewers losing the same packet ask once.
const keyframeMinInterval = 500 * time.Millisecond

// OnKeyframeRequest registers fn to be called when a reader asks for a
// keyframe (Reader.RequestKeyframe), at most every 500 ms; fn must not
// block. It takes effect only while p is the stream's publisher (the
// owner decides, so a publisher replaced meanwhile registers nothing),
// and ends when p is detached. A publisher that cannot make keyframes on
// request (a file, RTMP) does not register.
func (p *Publisher) OnKeyframeRequest(fn func()) {
	k := &keyframeFunc{fn: fn}
	_ = p.s.do(context.Background(), func() {
		if p.s.publisher == p {
			p.keyframe = k
			p.s.keyframes.fn.Store(k)
		}
	})
}

// RequestKeyframe asks the stream's publisher for a keyframe (a WebRTC
// viewer's PLI); it reports whether the request was passed on (the
// publisher can make one, and none was asked for in the last 500 ms).
func (r *Reader) RequestKeyframe() bool {
	k := &r.s.keyframes
	f := k.fn.Load()
	if f == nil {
		return false
	}
	clock := time.Now
	if k.now != nil {
		clock = k.now
	}
	now := clock().UnixNano()
	last := k.last.Load()
	if now-last < int64(keyframeMinInterval) || !k.last.CompareAndSwap(last, now) {
		return false
	}
	f.fn()
	return true
}
