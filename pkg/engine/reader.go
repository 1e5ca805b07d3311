package engine

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// Reader is the read side of a stream for one consumer (a player, a
// recorder). It is used by one goroutine; Close may be called from any.
type Reader struct {
	s *Stream
	// info is the session and when it joined; the stream's views point
	// to it, so it never changes.
	info   ReaderInfo
	tracks []*media.Track

	start   *node // first node to deliver (GOP cache), or nil
	last    *node // last node delivered
	needKey bool  // skip video until a keyframe

	ctx       context.Context
	cancelCtx context.CancelCauseFunc
	closeOnce sync.Once
	skipped   int64
	bytes     atomic.Int64
	sink      bool // a Sink's reader: never skips, not counted as a reader
	passive   bool // made by Watch: counted as a player, gets no frames
	// stopAt, once set, is the last node a finishing reader delivers
	// before it reports ErrReaderClosed.
	stopAt atomic.Pointer[node]
	// wakeFn, once set by SetWake, is called whenever Poll may find
	// something new.
	wakeFn func()
}

// finish closes the reader after it delivered every frame appended so
// far, so a stopped recorder keeps what it was sent.
func (r *Reader) finish() {
	r.stopAt.Store(r.s.tail.Load())
	r.close(ErrReaderClosed)
}

func newReader(s *Stream, info SessionInfo) *Reader {
	ctx, cancel := context.WithCancelCause(context.Background())
	r := &Reader{s: s, info: ReaderInfo{SessionInfo: info, Since: time.Now()}, ctx: ctx, cancelCtx: cancel}
	if t := s.tracks.Load(); t != nil {
		r.tracks = *t
	}
	if g := s.gop.Load(); g != nil {
		r.start = g
	} else {
		r.last = s.tail.Load()
		for _, t := range r.tracks {
			if t.Kind() == media.KindVideo {
				r.needKey = true
			}
		}
	}
	return r
}

// Key returns the key of the stream being read.
func (r *Reader) Key() Key { return r.s.key }

// Tracks returns the stream's tracks when the reader attached. Frames may
// later point to new tracks if the publisher changes its configuration.
func (r *Reader) Tracks() []*media.Track { return r.tracks }

// Metadata returns the publisher's metadata, if any.
func (r *Reader) Metadata() media.Metadata {
	if md := r.s.metadata.Load(); md != nil {
		return *md
	}
	return nil
}

// Done is closed when the reader is closed or kicked.
func (r *Reader) Done() <-chan struct{} { return r.ctx.Done() }

// OnDone arranges for fn to run in its own goroutine when the reader is
// closed, so a session can close its connection and unblock a write.
func (r *Reader) OnDone(fn func()) (stop func() bool) { return context.AfterFunc(r.ctx, fn) }

// Skipped returns how many frames this reader skipped for being slow.
func (r *Reader) Skipped() int64 { return r.skipped }

// Next appends to dst every frame available now, up to cap(dst), waiting
// for at least one. It returns io.EOF when the stream has ended and every
// frame was delivered, ErrReaderTooSlow when the reader fell too far
// behind, and ErrReaderClosed after Close. dst must have a capacity > 0.
func (r *Reader) Next(dst []*media.Frame) ([]*media.Frame, error) {
	for {
		// Take the wake-up channel before looking for frames, so a frame
		// appended in between closes the channel we wait on.
		notify := *r.s.notify.Load()
		var err error
		dst, err = r.Poll(dst)
		if err != nil || len(dst) > 0 {
			return dst, err
		}
		// Poll tells the end of the stream (io.EOF) and a closed reader
		// (ErrReaderClosed, after what a finishing reader still has).
		select {
		case <-notify:
		case <-r.s.ended:
		case <-r.ctx.Done():
		}
	}
}

// SetWake makes fn called whenever Poll may have something new for the
// reader: frames were appended, the stream ended, or the reader was
// closed. It lets one goroutine serve many readers, where Next needs a
// goroutine waiting in each. fn runs on the goroutine that appended the
// frames or ended the stream, so it must not block; it may be called
// when nothing is new. Call SetWake once, before the first Poll, and
// Poll once after it (frames may have come before).
func (r *Reader) SetWake(ctx context.Context, fn func()) error {
	if r.passive || r.sink {
		return ErrPassiveReader
	}
	r.wakeFn = fn
	var attached bool
	err := r.s.do(ctx, func() {
		if _, ok := r.s.readers[r]; ok {
			r.s.push(r)
			attached = true
		}
	})
	if err != nil && !errors.Is(err, errStreamGone) {
		return err
	}
	if !attached {
		// Closed already, or the stream's owner is gone: Poll says
		// which; fn tells the caller to ask.
		fn()
		return nil
	}
	context.AfterFunc(r.ctx, fn)
	return nil
}

// Poll appends to dst every frame available now, up to cap(dst), without
// waiting: none when nothing is new. Its errors are Next's. dst must
// have a capacity > 0.
func (r *Reader) Poll(dst []*media.Frame) ([]*media.Frame, error) {
	if r.passive {
		return dst, ErrPassiveReader
	}
	// Ended before collecting: every frame of an ended stream was
	// appended before it ended, so an empty collect after it is the end.
	ended := false
	select {
	case <-r.s.ended:
		ended = true
	default:
	}
	dst, err := r.collect(dst)
	if err != nil || len(dst) > 0 || !ended {
		return dst, err
	}
	return dst, io.EOF
}

func (r *Reader) nextNode() *node {
	if r.start != nil {
		n := r.start
		r.start = nil
		return n
	}
	return r.last.next.Load()
}

func (r *Reader) collect(dst []*media.Frame) ([]*media.Frame, error) {
	// The context before stopAt: finish stores stopAt before it cancels,
	// so a reader seen closed also sees where a finish stops it (read the
	// other way round, a finish landing between the two looked like a
	// plain close, and a stopped recorder lost the frames it had not read
	// yet). A reader already past stopAt is done too, or it would spin.
	closed := r.ctx.Err() != nil
	stopAt := r.stopAt.Load()
	if closed && (stopAt == nil || (r.last != nil && r.last.seq >= stopAt.seq)) {
		return dst, ErrReaderClosed
	}
	n := r.nextNode()
	if n == nil {
		if stopAt != nil {
			return dst, ErrReaderClosed
		}
		return dst, nil
	}
	if err := r.checkLag(&n); err != nil {
		return dst, err
	}
	for n != nil && len(dst) < cap(dst) {
		if stopAt != nil && n.seq > stopAt.seq {
			break
		}
		r.last = n
		if r.needKey && n.frame.Track.Kind() == media.KindVideo {
			// Video starts at a keyframe; audio before it plays already.
			if !n.frame.Key {
				n = n.next.Load()
				continue
			}
			r.needKey = false
		}
		dst = append(dst, n.frame)
		n = n.next.Load()
	}
	return dst, nil
}

// checkLag moves *n to the latest keyframe when the next frame has waited
// for this reader longer than MaxReaderLag, and ends the reader when it is
// too far behind to recover. Lag is wall-clock time since the frame was
// appended, so a publisher that sends faster than real time (a burst, a
// file without pacing) does not make keeping-up readers skip.
func (r *Reader) checkLag(n **node) error {
	cfg := r.s.e.cfg()
	cur := *n
	if cfg.MaxReaderLag <= 0 || time.Duration(time.Now().UnixNano()-cur.at) <= cfg.MaxReaderLag {
		return nil
	}
	// A recorder must not lose frames to skipping; only the memory bound
	// ends it.
	if g := r.s.gop.Load(); !r.sink && g != nil && g.seq > cur.seq {
		skipped := int64(g.seq - cur.seq)
		r.skipped += skipped
		r.s.e.stats.FramesSkipped.Add(skipped)
		*n = g
		return nil
	}
	if cfg.MaxReaderLagBytes > 0 && r.s.tail.Load().bytes-cur.bytes > cfg.MaxReaderLagBytes {
		r.s.e.stats.ReadersDropped.Add(1)
		r.close(ErrReaderTooSlow)
		return ErrReaderTooSlow
	}
	return nil
}

// AddBytesOut counts bytes written to the reader's connection.
func (r *Reader) AddBytesOut(n int) {
	r.bytes.Add(int64(n))
	r.s.bytesOut.Add(int64(n))
	r.s.e.stats.BytesOut.Add(int64(n))
}

// Err tells why the stream or the reader ended.
func (r *Reader) Err() error {
	if err := context.Cause(r.ctx); err != nil {
		return err
	}
	if reason := r.s.endReason.Load(); reason != nil {
		return errors.New(*reason)
	}
	return nil
}

// Close detaches the reader. It is safe to call more than once and from
// any goroutine; a Next in progress returns ErrReaderClosed.
func (r *Reader) Close() { r.close(ErrReaderClosed) }

func (r *Reader) close(cause error) {
	r.closeOnce.Do(func() {
		r.cancelCtx(cause)
		if r.sink {
			return
		}
		r.s.e.stats.Readers.Add(-1)
		r.s.removeReader(r)
		r.s.e.events().SessionEnded(SessionReport{
			Key: r.s.key, Session: r.info.SessionInfo, Player: true, Bytes: r.bytes.Load(), Duration: time.Since(r.info.Since),
		})
	})
}
