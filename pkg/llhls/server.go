package llhls

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
)

// SinkName is the engine sink of a stream's fMP4 HLS muxer.
const SinkName = "hls-fmp4"

// Protocol names fMP4 HLS players in sessions and hooks (schema
// "hls.fmp4" in ZLMediaKit's terms).
const Protocol = "hls-fmp4"

// MinSegmentCount is the fewest segments gohlslib keeps for low-latency
// HLS (it starts with seven gap segments, which iOS requires).
const MinSegmentCount = 7

// Settings are read when a stream's muxer starts.
type Settings struct {
	// SegDur is the minimum segment duration; segments are cut at the
	// first keyframe after it.
	SegDur time.Duration
	// SegCount is the number of segments in the playlist; fewer than
	// MinSegmentCount means MinSegmentCount.
	SegCount int
	// PartDur is the minimum partial segment duration (LL-HLS parts).
	PartDur time.Duration
	// IdleTimeout stops an on-demand muxer nobody requested for this
	// long.
	IdleTimeout time.Duration
}

func (s Settings) segmentCount() int { return max(s.SegCount, MinSegmentCount) }

// partDur is the part duration, at most a segment's.
func (s Settings) partDur() time.Duration { return min(s.PartDur, s.SegDur) }

// readyWait bounds how long a request waits for a new muxer's first
// segment: a segment, a keyframe late, and room for a slow start.
func (s Settings) readyWait() time.Duration { return 3*s.SegDur + 10*time.Second }

// Engine is what fMP4 HLS needs from the engine.
type Engine interface {
	Stream(ctx context.Context, key engine.Key) (engine.StreamInfo, bool, error)
	AttachSink(ctx context.Context, key engine.Key, name string, newSink func() engine.Sink) error
	DetachSink(ctx context.Context, key engine.Key, name string) (bool, error)
	Config() engine.Config
}

// PlayAuthorizer decides whether a player may play a stream.
type PlayAuthorizer interface {
	AuthorizePlay(ctx context.Context, key engine.Key, session engine.SessionInfo) error
}

// Viewers makes fMP4 HLS clients counted players (viewer sessions shared
// with MPEG-TS HLS). When set, it replaces the Authorizer. Authorize is
// called for every request before any muxer starts: it finds the viewer
// the request belongs to or asks whether a new one may watch (on_play
// once per viewer). An error refuses the request with 403.
type Viewers interface {
	Authorize(r *http.Request, key engine.Key, remote string) (Admission, error)
}

// Admission is a client allowed to watch a stream. Admit, called once
// the stream's muxer is ready and before the reply, makes it a watching
// viewer, may set a cookie on w (scoped to CookiePath(r)) and returns
// the viewer whose bytes the reply counts. engine.ErrNotFound answers
// 404, any other error 403.
type Admission interface {
	Admit(w http.ResponseWriter, r *http.Request) (Viewer, error)
}

// Viewer counts the bytes served to one viewer.
type Viewer interface {
	AddBytes(n int)
}

// Server serves fMP4 and low-latency HLS: one gohlslib muxer per stream,
// run as an engine sink, started by the first request (or with the
// stream, see Start) and stopped after IdleTimeout without requests.
type Server struct {
	Engine   Engine
	Settings func() Settings
	Log      *slog.Logger
	// Authorizer, if set and Viewers is not, is asked before a client
	// gets a stream's playlists or media; its answer holds for GrantTTL
	// after the client's last request.
	Authorizer PlayAuthorizer
	// Viewers, if set, admits every request instead (see Viewers).
	Viewers Viewers
	// Policy tells whether a stream may be served (enabled) and whether
	// a muxer started by a request stops when unwatched (demand). nil
	// serves every stream on demand.
	Policy func(info engine.StreamInfo) (enabled, demand bool)
	// CORS sets the CORS headers of a reply; nil allows any origin
	// without credentials.
	CORS func(h http.Header, r *http.Request)
	// Remote, if set, names the client of r as HOST:PORT (the client a
	// trusted proxy forwarded); nil uses r.RemoteAddr.
	Remote func(r *http.Request) string
	// SchemaChanged, if set, is told when a stream's fMP4 HLS becomes
	// available (its muxer's first segment, regist true) and when its
	// muxer stops (false): the "hls.fmp4" schema of on_stream_changed.
	// It must not block.
	SchemaChanged func(info engine.StreamInfo, regist bool)

	grantsOnce sync.Once
	grants     *grants

	mu        sync.Mutex
	muxers    map[engine.Key]*muxer
	closing   chan struct{}
	closeOnce sync.Once
}

// NewServer returns an fMP4 HLS server.
func NewServer(e Engine, settings func() Settings, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{Engine: e, Settings: settings, Log: log, muxers: make(map[engine.Key]*muxer), closing: make(chan struct{})}
}

// Start starts the muxer of a published stream. demand marks a muxer
// that stops when nobody requests it for IdleTimeout.
func (s *Server) Start(ctx context.Context, key engine.Key, demand bool) error {
	err := s.Engine.AttachSink(ctx, key, SinkName, s.NewSink(key, demand))
	if errors.Is(err, engine.ErrSinkExists) {
		return nil
	}
	return err
}

// NewSink returns the factory of a stream's muxer, for Start or an
// engine SinkPolicy.
func (s *Server) NewSink(key engine.Key, demand bool) func() engine.Sink {
	return func() engine.Sink {
		m := newMuxer(s, key, demand, s.Settings())
		s.mu.Lock()
		s.muxers[key] = m
		s.mu.Unlock()
		return m
	}
}

// Stop stops a stream's muxer and waits for it.
func (s *Server) Stop(ctx context.Context, key engine.Key) error {
	_, err := s.Engine.DetachSink(ctx, key, SinkName)
	return err
}

// Serving reports whether a stream's fMP4 HLS has a playlist to serve.
func (s *Server) Serving(key engine.Key) bool {
	m := s.muxer(key)
	return m != nil && m.readyNow() != nil
}

// Close ends the requests waiting for a stream or a first segment (404);
// muxers end with their streams (engine.Close).
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
}

func (s *Server) muxer(key engine.Key) *muxer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.muxers[key]
}

// forget removes m from the registry unless a successor replaced it.
func (s *Server) forget(m *muxer) {
	s.mu.Lock()
	if s.muxers[m.key] == m {
		delete(s.muxers, m.key)
	}
	s.mu.Unlock()
}

// startOnRequest starts the muxer of key for a request, waiting until
// deadline for the stream to be published.
func (s *Server) startOnRequest(ctx context.Context, key engine.Key, deadline time.Time) (*muxer, error) {
	info, err := s.waitStream(ctx, key, deadline)
	if err != nil {
		return nil, err
	}
	enabled, demand := true, true
	if s.Policy != nil {
		enabled, demand = s.Policy(info)
	}
	if !enabled {
		return nil, engine.ErrNotFound
	}
	if err := s.Start(ctx, key, demand); err != nil {
		return nil, err
	}
	if m := s.muxer(key); m != nil {
		return m, nil
	}
	return nil, engine.ErrNotFound
}

// waitStream polls the engine until key is published and ready, or
// deadline. Polling (not an engine waiter) keeps the wait free of side
// effects: the request is not a player yet.
func (s *Server) waitStream(ctx context.Context, key engine.Key, deadline time.Time) (engine.StreamInfo, error) {
	delay := 20 * time.Millisecond
	for {
		info, found, err := s.Engine.Stream(ctx, key)
		if err != nil {
			return engine.StreamInfo{}, err
		}
		if found && info.Ready {
			return info, nil
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return engine.StreamInfo{}, engine.ErrNotFound
		}
		t := time.NewTimer(min(delay, wait))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return engine.StreamInfo{}, ctx.Err()
		case <-s.closing:
			t.Stop()
			return engine.StreamInfo{}, engine.ErrNotFound
		}
		delay = min(2*delay, 250*time.Millisecond)
	}
}
