// Package engine is the core every protocol and command shares: a registry
// of streams, each owned by one goroutine that serialises its lifecycle,
// and a lock-free path for media from one publisher to many readers.
//
// Media never passes through the owner goroutine. A publisher appends
// immutable frames to the stream's list; every reader follows the list with
// its own cursor in its own goroutine, so no reader can block the publisher
// or another reader. A reader that falls behind skips to the newest keyframe
// or is ended. New readers start at the last keyframe (GOP cache).
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/internal/pace"
)

// Engine is the stream registry.
type Engine struct {
	log        *slog.Logger
	config     atomic.Pointer[Config]
	stats      Stats
	observer   atomic.Value // observerBox
	auth       atomic.Value // authorizerBox
	sinkPolicy atomic.Value // sinkPolicyBox
	// wakeClock wakes the readers of every stream due in the same merge
	// window together (Stream.signal).
	wakeClock pace.Clock

	mu      sync.Mutex
	streams map[Key]*Stream
	closed  bool
	wg      sync.WaitGroup
	sinkWG  sinkGroup
}

// New returns an engine. log may be nil.
func New(cfg Config, log *slog.Logger) *Engine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{log: log, streams: make(map[Key]*Stream)}
	e.config.Store(&cfg)
	return e
}

type observerBox struct{ Observer }

// SetObserver installs the receiver of stream lifecycle events.
func (e *Engine) SetObserver(o Observer) {
	if o == nil {
		o = nopObserver{}
	}
	e.observer.Store(observerBox{o})
}

func (e *Engine) events() Observer {
	if b, ok := e.observer.Load().(observerBox); ok {
		return b.Observer
	}
	return nopObserver{}
}

// Config returns the current configuration.
func (e *Engine) Config() Config { return *e.config.Load() }

// cfg is the current configuration without a copy, for the media path.
func (e *Engine) cfg() *Config { return e.config.Load() }

// SetConfig replaces the configuration; live streams use it from their next
// decision on.
func (e *Engine) SetConfig(cfg Config) { e.config.Store(&cfg) }

// Stats returns the engine's counters.
func (e *Engine) Stats() *Stats { return &e.stats }

// reserveStream counts a new stream unless that would exceed MaxStreams.
// A compare-and-swap keeps the bound exact when owners of different
// streams accept publishers at the same moment.
func (e *Engine) reserveStream() bool {
	max := e.cfg().MaxStreams
	for {
		n := e.stats.Streams.Load()
		if max > 0 && n >= max {
			return false
		}
		if e.stats.Streams.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// lookup returns the stream of key, creating it when create is set.
func (e *Engine) lookup(key Key, create bool) (*Stream, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrEngineClosed
	}
	s := e.streams[key]
	if s == nil && create {
		s = newStream(e, key)
		e.streams[key] = s
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			s.run()
		}()
	}
	return s, nil
}

// unregister removes s from the registry if it is still the stream of its
// key, so the next lookup creates a fresh one.
func (e *Engine) unregister(s *Stream) {
	e.mu.Lock()
	if e.streams[s.key] == s {
		delete(e.streams, s.key)
	}
	e.mu.Unlock()
}

// retry runs fn against the stream of key until fn does not report
// errStreamGone (the stream finished between lookup and command).
func (e *Engine) retry(key Key, create bool, fn func(*Stream) error) error {
	for {
		s, err := e.lookup(key, create)
		if err != nil {
			return err
		}
		if s == nil {
			return ErrNotFound
		}
		err = fn(s)
		if !errors.Is(err, errStreamGone) {
			return err
		}
	}
}

// Publish attaches a publisher to the stream of key. A live stream refuses
// it with ErrAlreadyPublishing unless takeover is configured; a stream in
// its grace period takes it as the returning publisher.
//
// The Authorizer is asked first; its options may rename the stream
// (Publisher.Key tells the final key) and set its grace period.
func (e *Engine) Publish(ctx context.Context, key Key, info SessionInfo) (*Publisher, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	opts, err := e.authorizer().AuthorizePublish(ctx, key, info)
	if err != nil {
		return nil, err
	}
	if opts.StreamReplace != "" && opts.StreamReplace != key.Stream {
		renamed := key
		renamed.Stream = opts.StreamReplace
		if err := renamed.Validate(); err != nil {
			return nil, fmt.Errorf("engine: stream_replace %q: %w", opts.StreamReplace, err)
		}
		e.log.Info("stream renamed by the publish authorizer", "stream", key.String(), "to", renamed.String())
		key = renamed
	}
	return e.attach(ctx, key, info, opts, true)
}

// PublishTrusted attaches a publisher that the server itself started (a
// pull proxy), already authorised by the API call that created it: the
// Authorizer is not asked, and opts are the stream's options (enable_hls,
// enable_mp4, ...) as if an on_publish reply had given them. It never
// takes a live stream over, even with Config.Takeover: a pull and a
// publisher that replaced each other would do so for ever.
func (e *Engine) PublishTrusted(ctx context.Context, key Key, info SessionInfo, opts PublishOptions) (*Publisher, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	return e.attach(ctx, key, info, opts, false)
}

func (e *Engine) attach(ctx context.Context, key Key, info SessionInfo, opts PublishOptions, mayTakeOver bool) (*Publisher, error) {
	var p *Publisher
	err := e.retry(key, true, func(s *Stream) error {
		var err error
		p, err = s.attachPublisher(ctx, info, opts, mayTakeOver)
		return err
	})
	if errors.Is(err, ErrAlreadyPublishing) {
		e.stats.PublishersRefused.Add(1)
	}
	return p, err
}

// Play attaches a reader to the stream of key. If the stream is not
// published yet it waits up to Config.MaxStreamWait (or until ctx ends)
// and then returns ErrNotFound.
//
// The Authorizer is asked first, before any waiting.
func (e *Engine) Play(ctx context.Context, key Key, info SessionInfo) (*Reader, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	if err := e.authorizer().AuthorizePlay(ctx, key, info); err != nil {
		return nil, err
	}
	wait := e.Config().MaxStreamWait
	deadline := time.Now().Add(wait)
	for {
		s, err := e.lookup(key, true)
		if err != nil {
			return nil, err
		}
		r, err := s.play(ctx, info, deadline)
		if errors.Is(err, errStreamGone) {
			continue
		}
		if errors.Is(err, ErrNotFound) {
			e.stats.ReadersNotFound.Add(1)
		}
		return r, err
	}
}

// CloseStream ends the stream of key: its publisher is disconnected and
// its readers get end of stream. It reports whether a stream was found.
func (e *Engine) CloseStream(ctx context.Context, key Key, reason string) (bool, error) {
	found := false
	err := e.retry(key, false, func(s *Stream) error {
		return s.do(ctx, func() {
			found = s.publisher != nil || s.state == StateGrace || len(s.readers) > 0
			s.end(reason)
		})
	})
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return found, err
}

// Streams returns a snapshot of every stream that has a publisher or is in
// its grace period, sorted by key. The snapshots are the views the owners
// published (view.go): listing waits for no owner goroutine.
func (e *Engine) Streams(ctx context.Context) ([]StreamInfo, error) {
	list := e.sortedStreams()
	out := make([]StreamInfo, 0, len(list))
	for _, s := range list {
		info, err := s.Info(ctx)
		if errors.Is(err, errStreamGone) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("engine: snapshot %s: %w", s.key, err)
		}
		if info.State == StateLive || info.State == StateGrace {
			out = append(out, info)
		}
	}
	return out, nil
}

// EachStream calls fn with the snapshot of each stream Streams would
// return, in the same order, one at a time: a single StreamInfo is
// refilled for every stream, so that listing a thousand streams does not
// allocate a thousand snapshots (a getMediaList call allocating
// megabytes pays for them again in garbage collection assists). fn must
// not keep the StreamInfo or anything it holds after it returns. The
// first error fn returns ends the walk and is returned.
func (e *Engine) EachStream(ctx context.Context, fn func(*StreamInfo) error) error {
	var info StreamInfo
	for _, s := range e.sortedStreams() {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("engine: snapshot %s: %w", s.key, err)
		}
		select {
		case <-s.done:
			continue // gone; its successor, if any, is in a later list
		default:
		}
		s.fillInfo(&info, s.view.Load())
		if info.State != StateLive && info.State != StateGrace {
			continue
		}
		if err := fn(&info); err != nil {
			return err
		}
	}
	return nil
}

// sortedStreams returns the registered streams sorted by key.
func (e *Engine) sortedStreams() []*Stream {
	e.mu.Lock()
	list := make([]*Stream, 0, len(e.streams))
	for _, s := range e.streams {
		list = append(list, s)
	}
	e.mu.Unlock()
	slices.SortFunc(list, func(a, b *Stream) int { return strings.Compare(a.name, b.name) })
	return list
}

// Stream returns a snapshot of the stream of key.
func (e *Engine) Stream(ctx context.Context, key Key) (StreamInfo, bool, error) {
	var info StreamInfo
	err := e.retry(key, false, func(s *Stream) error {
		var err error
		info, err = s.Info(ctx)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return StreamInfo{}, false, nil
	}
	if err != nil {
		return StreamInfo{}, false, err
	}
	return info, info.State == StateLive || info.State == StateGrace, nil
}

// Ping proves the engine responds: the registry lock is taken and every
// stream's owner goroutine answers within ctx, one after another. It
// returns the number of published streams.
func (e *Engine) Ping(ctx context.Context) (int, error) {
	e.mu.Lock()
	list := make([]*Stream, 0, len(e.streams))
	for _, s := range e.streams {
		list = append(list, s)
	}
	e.mu.Unlock()
	n := 0
	for _, s := range list {
		live := false
		err := s.do(ctx, func() { live = s.state == StateLive || s.state == StateGrace })
		if errors.Is(err, errStreamGone) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("engine: ping %s: %w", s.key, err)
		}
		if live {
			n++
		}
	}
	return n, nil
}

// Close ends every stream and waits for their owner goroutines. Readers get
// end of stream, publishers are disconnected.
func (e *Engine) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		e.wg.Wait()
		return
	}
	e.closed = true
	list := make([]*Stream, 0, len(e.streams))
	for _, s := range e.streams {
		list = append(list, s)
	}
	e.mu.Unlock()
	for _, s := range list {
		s.shutdown()
	}
	e.wg.Wait()
	// Sinks got end of stream; let them finish their files.
	e.sinkWG.Wait()
}
