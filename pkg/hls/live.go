package hls

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// SinkName is the engine sink of live HLS.
const SinkName = "hls"

// LiveSettings are read when a stream's HLS muxer starts.
type LiveSettings struct {
	SegDur    time.Duration
	SegNum    int
	SegRetain int
	// IdleTimeout stops an on-demand muxer nobody requested for this long.
	IdleTimeout time.Duration
}

// LiveEngine is what live HLS needs from the engine.
type LiveEngine interface {
	Stream(ctx context.Context, key engine.Key) (engine.StreamInfo, bool, error)
	AttachSink(ctx context.Context, key engine.Key, name string, newSink func() engine.Sink) error
	DetachSink(ctx context.Context, key engine.Key, name string) (bool, error)
	ViewerEngine
}

// Live keeps one HLS muxer per stream (whatever the number of viewers)
// and serves its playlist and segments from memory.
type Live struct {
	Engine   LiveEngine
	Settings func() LiveSettings
	Log      *slog.Logger
	// Authorizer, if set, is asked before a new viewer gets a stream's
	// playlist or segments (the same publish/play authorisation as every
	// protocol: built-in rules, then on_play), once per viewer. Used when
	// Viewers is nil.
	Authorizer PlayAuthorizer
	// Viewers, if set, is the viewer table shared with the server's other
	// HLS variants; nil makes one of this Live's own.
	Viewers *Viewers
	// SchemaChanged, if set, is told when a stream's HLS becomes
	// available (its first segment, regist true) and when it stops: the
	// "hls" schema of on_stream_changed. It runs on the muxer's
	// goroutine and must not block.
	SchemaChanged func(info engine.StreamInfo, regist bool)
	// CORS sets the CORS headers of a reply; nil allows any origin
	// without credentials.
	CORS func(h http.Header, r *http.Request)
	// Remote, if set, names the client of r as HOST:PORT (the client a
	// trusted proxy forwarded, rather than the proxy): authorisation and
	// its cache use it. nil uses r.RemoteAddr.
	Remote func(r *http.Request) string

	viewersOnce sync.Once

	mu     sync.Mutex
	muxers map[engine.Key]*liveMuxer
}

// PlayAuthorizer decides whether a player may play a stream.
type PlayAuthorizer interface {
	AuthorizePlay(ctx context.Context, key engine.Key, session engine.SessionInfo) error
}

// liveMuxer is one stream's muxer: an engine sink filling a Window.
type liveMuxer struct {
	live       *Live
	key        engine.Key
	window     *Window
	segDur     time.Duration
	demand     bool
	lastAccess atomic.Int64  // unix nanoseconds
	ready      chan struct{} // closed at the first segment
	readyOnce  sync.Once
	// uncarried is closed when the stream's tracks at the start held
	// nothing HLS carries (G.711 alone, say): a playlist request is
	// answered 404 at once rather than after waiting for a segment.
	uncarried chan struct{}
	reader    *engine.Reader    // set by Run
	announced engine.StreamInfo // as SchemaChanged was told at the first segment
	done      chan struct{}     // closed when the sink ended
}

// NewLive returns a live HLS server.
func NewLive(e LiveEngine, settings func() LiveSettings, log *slog.Logger) *Live {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Live{Engine: e, Settings: settings, Log: log, muxers: make(map[engine.Key]*liveMuxer)}
}

// Start starts the muxer of a stream (at publish, when HLS is on and not
// on demand). demand marks a muxer that stops when nobody requests it.
func (l *Live) Start(ctx context.Context, key engine.Key, demand bool) error {
	err := l.Engine.AttachSink(ctx, key, SinkName, l.NewSink(key, demand))
	if errors.Is(err, engine.ErrSinkExists) {
		return nil
	}
	return err
}

// NewSink returns the factory of a stream's muxer, for Start or an engine
// SinkPolicy.
func (l *Live) NewSink(key engine.Key, demand bool) func() engine.Sink {
	return func() engine.Sink {
		s := l.Settings()
		m := &liveMuxer{
			live: l, key: key, demand: demand, segDur: s.SegDur,
			window: NewWindow(s.SegNum, s.SegRetain),
			ready:  make(chan struct{}), done: make(chan struct{}), uncarried: make(chan struct{}),
		}
		m.touch()
		l.mu.Lock()
		l.muxers[key] = m
		l.mu.Unlock()
		return m
	}
}

// Stop stops a stream's muxer.
func (l *Live) Stop(ctx context.Context, key engine.Key) error {
	_, err := l.Engine.DetachSink(ctx, key, SinkName)
	return err
}

// Serving reports whether key's HLS has a playlist to serve.
func (l *Live) Serving(key engine.Key) bool {
	m := l.muxer(key)
	if m == nil {
		return false
	}
	select {
	case <-m.ready:
		return true
	default:
		return false
	}
}

func (l *Live) muxer(key engine.Key) *liveMuxer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.muxers[key]
}

// Reap ends viewers gone quiet and stops on-demand muxers idle for longer
// than IdleTimeout; call it periodically.
func (l *Live) Reap(ctx context.Context) {
	l.viewers().Reap(time.Now())
	idle := l.Settings().IdleTimeout
	var victims []engine.Key
	l.mu.Lock()
	for key, m := range l.muxers {
		if m.demand && time.Since(time.Unix(0, m.lastAccess.Load())) > idle {
			victims = append(victims, key)
		}
	}
	l.mu.Unlock()
	for _, key := range victims {
		l.Log.Info("stopping on-demand HLS nobody watches", "stream", key.String())
		_ = l.Stop(ctx, key)
	}
}

// Run is the sink: frames in, segments into the window.
func (m *liveMuxer) Run(r *engine.Reader) {
	m.reader = r
	defer close(m.done)
	defer func() {
		m.live.mu.Lock()
		if m.live.muxers[m.key] == m {
			delete(m.live.muxers, m.key)
		}
		m.live.mu.Unlock()
		select {
		case <-m.ready:
			m.announce(false)
		default:
		}
	}()
	log := m.live.Log.With("stream", m.key.String())
	seg, err := NewStreamSegmenter(r.Tracks(), m.segDur, m.add, func(t *media.Track) {
		r.DropTrack(SinkName, t, DropReason(t.Codec)) // logs once per stream and codec
	})
	if err != nil {
		log.Warn("live HLS not started", "error", err.Error())
		return
	}
	if !seg.Carrying() {
		log.Info("live HLS has no track to carry: playlists answer 404 until one comes", "tracks", fmt.Sprint(r.Tracks()))
		close(m.uncarried)
	}
	buf := make([]*media.Frame, 0, 64)
	for {
		frames, err := r.Next(buf[:0])
		for _, f := range frames {
			if werr := seg.WriteFrame(f, r.Tracks()); werr != nil {
				log.Warn("live HLS stopped", "error", werr.Error())
				return
			}
		}
		clear(frames)
		if err != nil {
			seg.Flush()
			m.window.End()
			return
		}
	}
}

func (m *liveMuxer) add(s *Segment) {
	if err := m.window.Add(s); err != nil {
		m.live.Log.Warn("live HLS segment dropped", "stream", m.key.String(), "error", err.Error())
		return
	}
	m.readyOnce.Do(func() {
		close(m.ready)
		m.announce(true)
	})
}

// announce tells SchemaChanged that the stream's HLS starts or stops.
// The stop names the stream as the start did (its params), for the
// stream may be gone by then.
func (m *liveMuxer) announce(regist bool) {
	if m.live.SchemaChanged == nil {
		return
	}
	if regist {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		info, err := m.reader.Info(ctx)
		if err != nil {
			info = engine.StreamInfo{Key: m.key}
		}
		m.announced = info
	}
	m.live.SchemaChanged(m.announced, regist)
}

func (m *liveMuxer) touch() { m.lastAccess.Store(time.Now().UnixNano()) }
