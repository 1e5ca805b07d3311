package engine

import (
	"context"
	"errors"
	"sync"
)

// Sink consumes a stream under the stream's ownership: a recorder, the
// live HLS muxer. Unlike a player it is started and stopped through the
// stream's owner goroutine, so concurrent starts and stops from the API,
// hook replies and configuration are serialised (failure-modes.md 1); it
// does not count as a reader; and it never skips frames for being slow.
type Sink interface {
	// Run consumes r until r.Next returns an error (end of stream, or the
	// sink was detached), then finishes its work (closes files) and
	// returns. Run owns r.
	Run(r *Reader)
}

// ViewerSink is a sink that counts as a viewer of its stream: while one
// runs the stream is not idle, so on_stream_none_reader does not fire for
// a stream that is only being sent on (ZLMediaKit counts an RTP sender as
// a reader; a platform that answers close:true would otherwise end a
// cascade). Recorders and live HLS are not viewers.
type ViewerSink interface {
	Sink
	CountsAsViewer() bool
}

// ErrSinkExists is returned by AttachSink when the stream already has a
// sink of that name.
var ErrSinkExists = errors.New("sink already attached")

type sinkEntry struct {
	reader *Reader
	done   chan struct{} // closed when Run returned
	viewer bool
}

// AttachSink starts sink name on the ready stream of key; newSink is
// called on the owner goroutine and must not block. The sink starts at
// the latest keyframe. It returns ErrNotFound for a stream that is not
// published and ErrSinkExists when one of that name runs.
func (e *Engine) AttachSink(ctx context.Context, key Key, name string, newSink func() Sink) error {
	return e.retry(key, false, func(s *Stream) error {
		var err error
		doErr := s.do(ctx, func() {
			switch {
			case !s.ready():
				err = ErrNotFound
			case s.sinks[name] != nil:
				err = ErrSinkExists
			default:
				s.startSink(name, newSink())
			}
		})
		if doErr != nil {
			return doErr
		}
		return err
	})
}

// startSink runs sink in its own goroutine (owner only).
func (s *Stream) startSink(name string, sink Sink) {
	r := newReader(s, SessionInfo{ID: name, Protocol: "sink"})
	r.sink = true
	entry := &sinkEntry{reader: r, done: make(chan struct{})}
	if v, ok := sink.(ViewerSink); ok && v.CountsAsViewer() {
		entry.viewer = true
		s.disarmIdle()
	}
	s.sinks[name] = entry
	s.changed()
	s.e.sinkWG.Add(1)
	go func() {
		defer s.e.sinkWG.Done()
		defer close(entry.done)
		defer r.close(ErrReaderClosed)
		sink.Run(r)
		// Forget the entry unless it was already replaced or detached.
		_ = s.do(context.Background(), func() {
			if s.sinks[name] == entry {
				delete(s.sinks, name)
				s.changed()
			}
			s.armIdle()
		})
	}()
}

// DetachSink stops sink name of the stream of key and waits until it has
// finished (its files are closed) or ctx ends. It reports whether such a
// sink was running.
func (e *Engine) DetachSink(ctx context.Context, key Key, name string) (bool, error) {
	var entry *sinkEntry
	err := e.retry(key, false, func(s *Stream) error {
		return s.do(ctx, func() {
			entry = s.sinks[name]
			delete(s.sinks, name)
			s.changed()
			s.armIdle()
		})
	})
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil || entry == nil {
		return false, err
	}
	entry.reader.finish()
	select {
	case <-entry.done:
		return true, nil
	case <-ctx.Done():
		return true, ctx.Err()
	}
}

// HasSink reports whether sink name runs on the stream of key.
func (e *Engine) HasSink(ctx context.Context, key Key, name string) (bool, error) {
	var has bool
	err := e.retry(key, false, func(s *Stream) error {
		return s.do(ctx, func() { has = s.sinks[name] != nil })
	})
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return has, err
}

// sinkGroup counts running sink goroutines so Close can wait for
// recorders to finish their files.
type sinkGroup = sync.WaitGroup

// SinkPolicy chooses the sinks a stream starts with when it becomes ready,
// by name. It runs on the stream's owner goroutine before the publisher
// writes its first frame, so these sinks get every frame from the start;
// it must not block.
type SinkPolicy func(info StreamInfo) map[string]func() Sink

type sinkPolicyBox struct{ SinkPolicy }

// SetSinkPolicy installs the policy; nil starts no sinks.
func (e *Engine) SetSinkPolicy(p SinkPolicy) { e.sinkPolicy.Store(sinkPolicyBox{p}) }

func (e *Engine) startSinks(s *Stream, info StreamInfo) {
	b, _ := e.sinkPolicy.Load().(sinkPolicyBox)
	if b.SinkPolicy == nil {
		return
	}
	for name, newSink := range b.SinkPolicy(info) {
		if newSink != nil && s.sinks[name] == nil {
			s.startSink(name, newSink())
		}
	}
}
