package hls

import (
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
)

// ErrSequence is returned by Window.Add for a segment whose Seq does not
// follow the last one added.
var ErrSequence = errors.New("hls: segment sequence number does not increase")

// Window is the sliding window of a live media playlist. It lists the last
// segNum segments and keeps retain more, no longer listed, so that a player
// that fetched an older playlist can still get them.
//
// One goroutine (the writer) calls Add and End; any number of goroutines
// call Playlist, Segment and Segments concurrently. After each change the
// writer publishes an immutable snapshot with its pre-rendered playlist, so
// readers never wait for the writer.
type Window struct {
	segNum, retain int
	uri            func(uint64) string

	// Writer state.
	target  int    // EXT-X-TARGETDURATION, never decreases
	discSeq uint64 // discontinuity tags that left the playlist
	ended   bool

	snap atomic.Pointer[windowSnapshot]
}

type windowSnapshot struct {
	segs     []*Segment // kept segments in Seq order; the last listed ones are listed
	listed   int
	playlist []byte
}

// WindowOption configures a Window.
type WindowOption func(*Window)

// WithSegmentURI names segments in the playlist (default SegmentURI). The
// server must map the names back to sequence numbers.
func WithSegmentURI(uri func(seq uint64) string) WindowOption {
	return func(w *Window) {
		if uri != nil {
			w.uri = uri
		}
	}
}

// NewWindow returns a window listing segNum segments (at least 1) and
// keeping retain more (at least 0).
func NewWindow(segNum, retain int, opts ...WindowOption) *Window {
	w := &Window{segNum: max(segNum, 1), retain: max(retain, 0), uri: SegmentURI}
	for _, o := range opts {
		o(w)
	}
	w.snap.Store(&windowSnapshot{})
	return w
}

// Add appends a segment, drops the oldest beyond segNum+retain and
// publishes the new playlist. Segments must come in increasing Seq order
// (gaps are allowed). A window that was ended is live again.
func (w *Window) Add(seg *Segment) error {
	if seg == nil {
		return errors.New("hls: nil segment")
	}
	old := w.snap.Load()
	if n := len(old.segs); n > 0 && seg.Seq <= old.segs[n-1].Seq {
		return fmt.Errorf("%w: %d after %d", ErrSequence, seg.Seq, old.segs[n-1].Seq)
	}
	keep := min(len(old.segs)+1, w.segNum+w.retain)
	segs := make([]*Segment, keep)
	copy(segs, old.segs[len(old.segs)+1-keep:])
	segs[keep-1] = seg
	listed := min(keep, w.segNum)

	// Count the discontinuity tags that leave the listing.
	oldFirst := len(old.segs) - old.listed
	newFirst := len(old.segs) + 1 - listed // index in old.segs of the first listed segment
	for i := oldFirst; i < newFirst && i < len(old.segs); i++ {
		if old.segs[i].Discontinuity {
			w.discSeq++
		}
	}
	w.ended = false
	w.publish(segs, listed)
	return nil
}

// End marks the stream ended: the playlist gets EXT-X-ENDLIST so that
// players stop polling. A later Add makes the window live again.
func (w *Window) End() {
	w.ended = true
	old := w.snap.Load()
	w.publish(old.segs, old.listed)
}

func (w *Window) publish(segs []*Segment, listed int) {
	snap := &windowSnapshot{segs: segs, listed: listed}
	if len(segs) > 0 {
		p := playlistOf(segs[len(segs)-listed:], w.target, w.uri)
		w.target = p.TargetDuration
		p.DiscontinuitySequence = w.discSeq
		p.Ended = w.ended
		snap.playlist = p.Marshal()
	}
	w.snap.Store(snap)
}

// Playlist returns the current media playlist, or nil before the first
// segment (serve 404, or wait). The bytes are shared: do not modify them.
func (w *Window) Playlist() []byte {
	return w.snap.Load().playlist
}

// Segment returns a listed or retained segment.
func (w *Window) Segment(seq uint64) (*Segment, bool) {
	segs := w.snap.Load().segs
	if len(segs) == 0 || seq < segs[0].Seq {
		return nil, false
	}
	if d := seq - segs[0].Seq; d < uint64(len(segs)) && segs[d].Seq == seq {
		return segs[d], true // consecutive numbers, the usual case
	}
	i := sort.Search(len(segs), func(i int) bool { return segs[i].Seq >= seq })
	if i < len(segs) && segs[i].Seq == seq {
		return segs[i], true
	}
	return nil, false
}

// Segments returns the listed segments, oldest first. The slice is shared:
// do not modify it.
func (w *Window) Segments() []*Segment {
	s := w.snap.Load()
	return s.segs[len(s.segs)-s.listed:]
}
