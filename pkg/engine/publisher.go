package engine

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// Publisher is the write side of a stream, used by one goroutine: the
// protocol session that receives the media.
type Publisher struct {
	s            *Stream
	info         SessionInfo
	ctx          context.Context
	cancelCtx    context.CancelCauseFunc
	detached     bool // under s.appendMu
	continuePush *time.Duration
	tracks       []*media.Track // publisher's own tracks
	canonical    []*media.Track // the stream's Track for each of them
	closed       bool
	since        time.Time
	bytes        atomic.Int64
	keyframe     *keyframeFunc // registered with OnKeyframeRequest (owner only)
	deferWakes   time.Duration // DeferWakes: frames wake readers at Flush
	wakePending  bool          // a frame was written since the last Flush
}

func newPublisher(s *Stream, info SessionInfo) *Publisher {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Publisher{s: s, info: info, ctx: ctx, cancelCtx: cancel, since: time.Now()}
}

func (p *Publisher) cancel(reason string) {
	if reason == ErrReplaced.Error() {
		p.cancelCtx(ErrReplaced) // so that errors.Is tells a takeover apart
		return
	}
	p.cancelCtx(errors.New(reason))
}

// Key returns the key of the stream being published.
func (p *Publisher) Key() Key { return p.s.key }

// Done is closed when the engine has detached the publisher: it was
// replaced, its stream was closed, or the server is shutting down. The
// session should then close its connection.
func (p *Publisher) Done() <-chan struct{} { return p.ctx.Done() }

// Reason tells why Done was closed.
func (p *Publisher) Reason() error { return context.Cause(p.ctx) }

// OnDone arranges for fn to run in its own goroutine when Done closes.
// It returns a function that cancels the arrangement.
func (p *Publisher) OnDone(fn func()) (stop func() bool) {
	return context.AfterFunc(p.ctx, fn)
}

// SetContinuePush overrides the grace period for this publisher (from a
// hook reply, for example).
func (p *Publisher) SetContinuePush(d time.Duration) {
	_ = p.s.do(context.Background(), func() { p.continuePush = &d })
}

// SetTracks declares the publisher's tracks. Readers waiting for the
// stream are released. A publisher may call it again when its codec
// configuration changes.
func (p *Publisher) SetTracks(tracks []*media.Track) error {
	if len(tracks) == 0 {
		return errors.New("engine: publish without tracks")
	}
	var canonical []*media.Track
	var err error
	doErr := p.s.do(context.Background(), func() {
		if p.s.publisher != p {
			err = ErrPublisherClosed
			return
		}
		canonical = p.s.setTracks(tracks)
	})
	if doErr != nil {
		return ErrPublisherClosed
	}
	if err != nil {
		return err
	}
	p.tracks = append(p.tracks[:0], tracks...)
	p.canonical = canonical
	return nil
}

// SetMetadata records the publisher's stream metadata (onMetaData).
func (p *Publisher) SetMetadata(md media.Metadata) {
	p.s.metadata.Store(&md)
}

// WriteFrame appends f to the stream. f must belong to one of the tracks
// given to SetTracks and must not be changed afterwards. It never blocks on
// readers. It returns ErrPublisherClosed once the publisher is detached.
func (p *Publisher) WriteFrame(f *media.Frame) error {
	for i, t := range p.tracks {
		if f.Track == t {
			f.Track = p.canonical[i]
			break
		}
	}
	if f.Track.Kind() == media.KindAudio {
		f.Key = true
	}
	s := p.s
	s.appendMu.Lock()
	if p.detached {
		s.appendMu.Unlock()
		return ErrPublisherClosed
	}
	s.timeline.apply(f)
	s.countFrame(f)
	prev := s.tail.Load()
	n := &node{frame: f, seq: prev.seq + 1, bytes: prev.bytes + int64(len(f.Payload)), at: time.Now().UnixNano()}
	prev.next.Store(n)
	s.tail.Store(n)
	video := f.Track.Kind() == media.KindVideo
	if (video && f.Key) || (!video && !s.hasVideo) {
		s.gop.Store(n)
	} else if g := s.gop.Load(); g != nil && n.bytes-g.bytes > s.e.cfg().MaxGOPBytes {
		// Too long a GOP to cache: new readers wait for the next keyframe.
		s.gop.Store(nil)
	}
	s.appendMu.Unlock()

	s.framesIn.Add(1)
	s.e.stats.FramesIn.Add(1)
	if p.deferWakes > 0 && p.deferWakes >= s.e.cfg().MergeWrite {
		p.wakePending = true
	} else {
		s.signal()
	}
	return nil
}

// DeferWakes makes the frames written from now on wake the stream's
// readers at the next Flush instead, which the session calls once per
// batch, about once per every. A session that reads its connection in
// batches (RTMP's merged read, paced UDP reads) writes a batch's frames
// and then flushes: its players get the whole batch at once, where
// waking at the batch's first frame would send that frame now and hold
// the rest for the next wake-up, up to a merge-write window later.
//
// Only batches at least a merge-write window apart are deferred; frames
// of more frequent ones wake the readers as single frames do, at most
// once per window.
func (p *Publisher) DeferWakes(every time.Duration) {
	p.deferWakes = every
}

// FlushLater makes the frames written since the last Flush reach the
// readers by the engine's next tick at the latest, whether Flush comes
// first or not. A session calls it before a read that may block in the
// middle of a batch: a read that filled its buffer is followed by
// another at once, which usually returns the rest of the batch, but
// waits for the publisher's next bytes when there is no rest.
func (p *Publisher) FlushLater() {
	if p.wakePending {
		p.s.signalAtTick()
	}
}

// Flush wakes the stream's readers for the frames written since the last
// Flush (see DeferWakes); Close flushes. It wakes them at once, whenever
// the last wake-up was: batches come in step with a clock of their own,
// and a wake-up at the engine's tick just before a batch would otherwise
// make each later batch wait for the next tick, a window on.
func (p *Publisher) Flush() {
	if p.wakePending {
		p.wakePending = false
		p.s.wake()
	}
}

// AddBytesIn counts bytes received from the publisher's connection.
func (p *Publisher) AddBytesIn(n int) {
	p.bytes.Add(int64(n))
	p.s.bytesIn.Add(int64(n))
	p.s.e.stats.BytesIn.Add(int64(n))
}

// Close detaches the publisher. Its readers stay attached for the grace
// period (Config.ContinuePush) waiting for a publisher to return.
func (p *Publisher) Close() {
	if p.closed {
		return
	}
	p.closed = true
	p.Flush()
	_ = p.s.do(context.Background(), func() { p.s.publisherLeft(p) })
	p.cancel("publisher closed")
	p.s.e.events().SessionEnded(SessionReport{
		Key: p.s.key, Session: p.info, Bytes: p.bytes.Load(), Duration: time.Since(p.since),
	})
}
