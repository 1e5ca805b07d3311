package engine

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/internal/pace"
	"github.com/mediakit/mediakit/pkg/media"
)

// Stream is one vhost/app/stream. Its lifecycle fields belong to the owner
// goroutine (run); other goroutines change them only by sending a command
// (do). The media path uses only the atomic fields and appendMu.
type Stream struct {
	e    *Engine
	key  Key
	name string // key.String(): stream lists are sorted by it
	cmds chan func()
	quit chan struct{} // closed to make the owner end the stream and exit
	done chan struct{} // closed when the owner goroutine has exited

	// Owner-only state.
	state      State
	publisher  *Publisher
	readers    map[*Reader]struct{}
	waiters    map[*waiter]struct{}
	sinks      map[string]*sinkEntry
	graceTimer *time.Timer
	idleTimer  *time.Timer // no reader for NoneReaderDelay
	announced  bool        // StreamReady was told
	createdAt  time.Time
	published  int
	// lastPublisher describes the publisher that left, during the grace
	// period and in the final snapshot.
	lastPublisher *SessionInfo
	options       PublishOptions // of the current or last publisher
	quitOnce      sync.Once
	viewGen       uint64 // counts changes of readers and sinks

	// view is the owner's state for snapshots (view.go).
	view atomic.Pointer[streamView]

	// Shared with readers and the publisher; written by the owner or the
	// publisher, read by anyone.
	ended     chan struct{} // closed when readers must finish
	endReason atomic.Pointer[string]
	tracks    atomic.Pointer[[]*media.Track]
	metadata  atomic.Pointer[media.Metadata]
	tail      atomic.Pointer[node] // newest frame (a sentinel before the first)
	gop       atomic.Pointer[node] // latest keyframe; nil: wait for the next one
	notify    atomic.Pointer[chan struct{}]
	// pushed are the readers woken by a function rather than a waiting
	// goroutine (Reader.SetWake), copied on write by the owner.
	pushed     atomic.Pointer[[]*Reader]
	lastWake   atomic.Int64  // unix nanoseconds of the last wake-up
	wakeArmed  atomic.Bool   // a delayed wake-up is scheduled
	wokenSeq   atomic.Uint64 // the tail's seq at the last wake-up
	wakeAtTick func()        // the delayed wake-up, made once: not a closure per window
	wakePhase  pace.Phase    // the stream's place in the engine's wake clock
	keyframes  keyframeRequests
	bytesIn    atomic.Int64
	bytesOut   atomic.Int64
	framesIn   atomic.Int64

	// appendMu serialises appends with publisher changes, so a replaced
	// publisher can never append after its successor started. It is held
	// only for a few memory operations, never across I/O.
	appendMu   sync.Mutex
	timeline   timeline
	hasVideo   bool        // under appendMu
	trackStats []trackStat // under appendMu

	drops trackDrops // tracks outputs left out; has its own lock
}

type waiter struct {
	info       SessionInfo
	ch         chan *Reader // receives the reader, or nil when the stream ended
	rejected   chan struct{}
	rejectOnce sync.Once
}

func (w *waiter) reject() { w.rejectOnce.Do(func() { close(w.rejected) }) }

func newStream(e *Engine, key Key) *Stream {
	s := &Stream{
		e:       e,
		key:     key,
		name:    key.String(),
		cmds:    make(chan func()),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		readers: make(map[*Reader]struct{}),
		waiters: make(map[*waiter]struct{}),
		sinks:   make(map[string]*sinkEntry),
		ended:   make(chan struct{}),
	}
	s.tail.Store(&node{})
	s.wakePhase = e.wakeClock.Join()
	s.wakeAtTick = func() {
		s.wakeArmed.Store(false)
		// A Flush may have woken the readers for every frame since the
		// tick was armed: waking them again would queue every player for
		// nothing.
		if s.tail.Load().seq != s.wokenSeq.Load() {
			s.wake()
		}
	}
	s.publishView()
	ch := make(chan struct{})
	s.notify.Store(&ch)
	return s
}

// Key returns the stream's key.
func (s *Stream) Key() Key { return s.key }

// do runs fn on the owner goroutine and waits until it has run.
func (s *Stream) do(ctx context.Context, fn func()) error {
	ran := make(chan struct{})
	cmd := func() {
		fn()
		s.publishView()
		close(ran)
	}
	select {
	case s.cmds <- cmd:
	case <-s.done:
		return errStreamGone
	case <-ctx.Done():
		return ctx.Err()
	}
	<-ran
	return nil
}

func (s *Stream) run() {
	defer close(s.done)
	defer s.e.wakeClock.Leave(s.wakePhase)
	for {
		var graceC, idleC <-chan time.Time
		if s.graceTimer != nil {
			graceC = s.graceTimer.C
		}
		if s.idleTimer != nil {
			idleC = s.idleTimer.C
		}
		select {
		case fn := <-s.cmds:
			fn()
		case <-idleC:
			s.idleTimer = nil
			if len(s.readers) == 0 && !s.hasViewerSink() && s.announced && s.state != StateEnded {
				s.e.events().StreamNoReaders(s.snapshot())
			}
		case <-graceC:
			s.graceTimer = nil
			s.e.log.Info("publisher did not return", "stream", s.key.String(),
				"continue_push", s.e.Config().ContinuePush.String())
			s.end("publisher did not return")
		case <-s.quit:
			s.end("server shutting down")
		}
		s.publishView()
		if s.state == StateEnded || (s.state == StateIdle && len(s.waiters) == 0 && len(s.readers) == 0) {
			s.e.unregister(s)
			return
		}
	}
}

// shutdown makes the owner end the stream and exit.
func (s *Stream) shutdown() {
	s.quitOnce.Do(func() { close(s.quit) })
}

// ready reports whether readers can attach: tracks are known and the
// stream has not ended.
func (s *Stream) ready() bool {
	return (s.state == StateLive || s.state == StateGrace) && s.tracks.Load() != nil
}

func (s *Stream) attachPublisher(ctx context.Context, info SessionInfo, opts PublishOptions, mayTakeOver bool) (*Publisher, error) {
	var p *Publisher
	var err error
	e := s.do(ctx, func() {
		switch s.state {
		case StateEnded:
			err = errStreamGone
			return
		case StateLive:
			if !s.e.Config().Takeover || !mayTakeOver {
				err = ErrAlreadyPublishing
				return
			}
			old := s.publisher
			s.detach(old, ErrReplaced.Error())
			s.e.stats.PublishersReplaced.Add(1)
			s.e.log.Info("publisher replaced", "stream", s.key.String(),
				"session", old.info.ID, "remote", old.info.Remote, "by", info.Remote)
		case StateGrace:
			s.graceTimer.Stop()
			s.graceTimer = nil
			s.e.stats.PublisherReturns.Add(1)
		case StateIdle:
			if !s.e.reserveStream() {
				s.e.stats.StreamsRefused.Add(1)
				err = ErrTooManyStreams
				return
			}
			s.createdAt = time.Now()
		}
		p = newPublisher(s, info)
		p.continuePush = opts.ContinuePush
		s.options = opts
		s.appendMu.Lock()
		s.timeline.newSession()
		s.appendMu.Unlock()
		s.publisher = p
		s.state = StateLive
		s.published++
	})
	if e != nil {
		return nil, e
	}
	return p, err
}

// detach disconnects p from the stream (owner only).
func (s *Stream) detach(p *Publisher, reason string) {
	s.appendMu.Lock()
	p.detached = true
	s.appendMu.Unlock()
	p.cancel(reason)
	if p.keyframe != nil {
		s.keyframes.fn.CompareAndSwap(p.keyframe, nil)
	}
	if s.publisher == p {
		s.publisher = nil
		info := p.info
		s.lastPublisher = &info
	}
}

// publisherLeft handles a publisher that closed itself (owner only).
func (s *Stream) publisherLeft(p *Publisher) {
	if s.publisher != p {
		return // already replaced or the stream ended
	}
	s.detach(p, "publisher closed")
	grace := s.e.Config().ContinuePush
	if p.continuePush != nil {
		grace = *p.continuePush
	}
	if grace <= 0 || s.tracks.Load() == nil {
		s.end("publisher left")
		return
	}
	s.state = StateGrace
	s.graceTimer = time.NewTimer(grace)
}

// setTracks installs a publisher's tracks, keeping the stream's existing
// Track when the configuration is unchanged (owner only).
func (s *Stream) setTracks(tracks []*media.Track) []*media.Track {
	old := s.tracks.Load()
	out := make([]*media.Track, len(tracks))
	for i, t := range tracks {
		out[i] = t
		if old != nil {
			for _, o := range *old {
				if o.SameConfig(t) {
					out[i] = o
					break
				}
			}
		}
	}
	hasVideo := false
	for _, t := range out {
		if t.Kind() == media.KindVideo {
			hasVideo = true
		}
	}
	s.appendMu.Lock()
	s.hasVideo = hasVideo
	s.appendMu.Unlock()
	s.tracks.Store(&out)
	for w := range s.waiters {
		w.ch <- s.attachReader(w.info)
		delete(s.waiters, w)
		s.e.stats.WaitingReaders.Add(-1)
	}
	if !s.announced {
		s.announced = true
		info := s.snapshot()
		s.e.startSinks(s, info)
		s.e.events().StreamReady(info)
		s.armIdle()
	}
	return out
}

// armIdle starts the no-reader timer when a ready stream has no reader
// (owner only).
func (s *Stream) armIdle() {
	d := s.e.Config().NoneReaderDelay
	if d <= 0 || len(s.readers) > 0 || !s.announced || s.idleTimer != nil || s.hasViewerSink() {
		return
	}
	s.idleTimer = time.NewTimer(d)
}

// hasViewerSink reports whether a sink that counts as a viewer runs
// (owner only).
func (s *Stream) hasViewerSink() bool {
	for _, e := range s.sinks {
		if e.viewer {
			return true
		}
	}
	return false
}

func (s *Stream) disarmIdle() {
	if s.idleTimer != nil {
		s.idleTimer.Stop()
		s.idleTimer = nil
	}
}

// end finishes the stream for everyone (owner only).
func (s *Stream) end(reason string) {
	if s.state == StateEnded {
		return
	}
	if s.state == StateLive || s.state == StateGrace {
		s.e.stats.Streams.Add(-1)
	}
	if s.publisher != nil {
		s.detach(s.publisher, reason)
	}
	if s.graceTimer != nil {
		s.graceTimer.Stop()
		s.graceTimer = nil
	}
	s.disarmIdle()
	for w := range s.waiters {
		w.ch <- nil
		delete(s.waiters, w)
		s.e.stats.WaitingReaders.Add(-1)
	}
	s.state = StateEnded
	s.endReason.Store(&reason)
	close(s.ended)
	s.wake()
	if s.announced {
		s.e.events().StreamEnded(s.snapshot())
	}
}

func (s *Stream) attachReader(info SessionInfo) *Reader {
	r := newReader(s, info)
	s.readers[r] = struct{}{}
	s.changed()
	s.e.stats.Readers.Add(1)
	s.disarmIdle()
	return r
}

func (s *Stream) play(ctx context.Context, info SessionInfo, deadline time.Time) (*Reader, error) {
	w := &waiter{info: info, ch: make(chan *Reader, 1), rejected: make(chan struct{})}
	var r *Reader
	var gone bool
	var full bool
	err := s.do(ctx, func() {
		max := s.e.cfg().MaxReadersPerStream
		switch {
		case s.state == StateEnded:
			gone = true
		case max > 0 && int64(s.playerCount()) >= max:
			full = true
		case s.ready():
			r = s.attachReader(info)
		default:
			s.waiters[w] = struct{}{}
			s.e.stats.WaitingReaders.Add(1)
			s.e.events().StreamNotFound(s.key, info, w.reject)
		}
	})
	if err != nil {
		return nil, err
	}
	if gone {
		return nil, errStreamGone
	}
	if full {
		s.e.stats.ReadersRefused.Add(1)
		return nil, ErrTooManyReaders
	}
	if r != nil {
		return r, nil
	}

	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case r = <-w.ch:
		if r == nil {
			return nil, ErrNotFound
		}
		return r, nil
	case <-timer.C:
	case <-w.rejected:
	case <-ctx.Done():
	}
	_ = s.do(context.Background(), func() {
		if _, ok := s.waiters[w]; ok {
			delete(s.waiters, w)
			s.e.stats.WaitingReaders.Add(-1)
		}
	})
	// The owner may have answered before it saw the cancellation.
	select {
	case r = <-w.ch:
		if r != nil {
			return r, nil
		}
	default:
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, ErrNotFound
}

// playerCount is the players attached or waiting; sinks are not in
// readers (owner only).
func (s *Stream) playerCount() int { return len(s.readers) + len(s.waiters) }

func (s *Stream) removeReader(r *Reader) {
	_ = s.do(context.Background(), func() {
		if _, ok := s.readers[r]; ok {
			delete(s.readers, r)
			s.unpush(r)
			s.changed()
			s.armIdle()
		}
	})
}

// push adds r to the readers woken by their function (owner only).
func (s *Stream) push(r *Reader) {
	var list []*Reader
	if p := s.pushed.Load(); p != nil {
		list = *p
	}
	next := append(slices.Clip(list), r) // a new array: wake may be reading list
	s.pushed.Store(&next)
}

// unpush removes r from the pushed readers (owner only).
func (s *Stream) unpush(r *Reader) {
	p := s.pushed.Load()
	if p == nil {
		return
	}
	i := slices.Index(*p, r)
	if i < 0 {
		return
	}
	next := slices.Delete(slices.Clone(*p), i, i+1)
	s.pushed.Store(&next)
}

// wake releases every reader waiting for new frames and calls the wake
// function of every pushed one.
func (s *Stream) wake() {
	s.lastWake.Store(time.Now().UnixNano())
	s.wokenSeq.Store(s.tail.Load().seq)
	ch := make(chan struct{})
	close(*s.notify.Swap(&ch))
	if p := s.pushed.Load(); p != nil {
		for _, r := range *p {
			r.wakeFn()
		}
	}
}

// signal wakes readers after an append, at most once per MergeWrite.
func (s *Stream) signal() {
	since := time.Duration(time.Now().UnixNano() - s.lastWake.Load())
	if merge := s.e.cfg().MergeWrite; merge > 0 && since < merge {
		s.signalAtTick()
		return
	}
	s.wake()
}

// signalAtTick wakes readers at the engine's next tick in this stream's
// phase (at once without a merge window).
func (s *Stream) signalAtTick() {
	merge := s.e.cfg().MergeWrite
	if merge <= 0 {
		s.wake()
		return
	}
	if s.wakeArmed.CompareAndSwap(false, true) {
		// At the engine's next tick in this stream's phase, with the
		// other streams of the phase due in this window: one timer, and
		// the woken players run together.
		s.e.wakeClock.AtNext(merge, s.wakePhase, s.wakeAtTick)
	}
}

// trackStat accumulates TrackStats under appendMu.
type trackStat struct {
	track       *media.Track
	frames      int64
	keyFrames   int64
	firstDTS    time.Duration
	lastDTS     time.Duration
	lastKeyDTS  time.Duration
	sinceKey    int64
	gopSize     int64
	gopInterval time.Duration
	bFrames     int64
}

func (t *trackStat) add(f *media.Frame) {
	if t.frames == 0 {
		t.firstDTS = f.DTS
	}
	t.frames++
	t.lastDTS = f.DTS
	if f.PTS != f.DTS && f.Track.Kind() == media.KindVideo {
		t.bFrames++
	}
	if f.Key && f.Track.Kind() == media.KindVideo {
		if t.keyFrames > 0 {
			t.gopSize = t.sinceKey
			t.gopInterval = f.DTS - t.lastKeyDTS
		}
		t.keyFrames++
		t.lastKeyDTS = f.DTS
		t.sinceKey = 0
	}
	t.sinceKey++
}

func (t *trackStat) stats() TrackStats {
	return TrackStats{Frames: t.frames, KeyFrames: t.keyFrames, GOPSize: t.gopSize,
		GOPInterval: t.gopInterval, Duration: t.lastDTS - t.firstDTS, BFrames: t.bFrames}
}

// countFrame adds f to its track's statistics (under appendMu).
func (s *Stream) countFrame(f *media.Frame) {
	for i := range s.trackStats {
		if s.trackStats[i].track == f.Track {
			s.trackStats[i].add(f)
			return
		}
	}
	// A new track; keep only the stream's current tracks.
	if t := s.tracks.Load(); t != nil {
		kept := s.trackStats[:0]
		for _, ts := range s.trackStats {
			for _, cur := range *t {
				if ts.track == cur {
					kept = append(kept, ts)
					break
				}
			}
		}
		s.trackStats = kept
	}
	s.trackStats = append(s.trackStats, trackStat{track: f.Track})
	s.trackStats[len(s.trackStats)-1].add(f)
}
