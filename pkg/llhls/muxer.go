package llhls

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// errNotReady is a muxer that has no segment within the wait.
var errNotReady = errors.New("hls-fmp4: no segment yet")

// muxer is one stream's fMP4 HLS: an engine sink feeding the current
// gohlslib instance, which it replaces when the stream's tracks change.
// One per stream, whatever the number of viewers.
type muxer struct {
	srv        *Server
	key        engine.Key
	demand     bool
	settings   Settings
	log        *slog.Logger
	lastAccess atomic.Int64  // unix nanoseconds of the last request
	waiting    atomic.Int32  // requests waiting for a first segment
	done       chan struct{} // closed when Run returned

	// The writer's state, owned by Run's goroutine.
	in      *instance
	failed  map[*media.Track]bool // tracks no instance could start with
	dropped map[media.Codec]bool  // codecs already warned about

	mu        sync.Mutex
	cur       *instance     // what requests are served from; nil when none
	wake      chan struct{} // closed and replaced when cur changes or Run ends
	announced bool          // SchemaChanged was told the schema is there
}

func newMuxer(srv *Server, key engine.Key, demand bool, s Settings) *muxer {
	m := &muxer{
		srv: srv, key: key, demand: demand, settings: s,
		log:     srv.Log.With("stream", key.String()),
		done:    make(chan struct{}),
		failed:  map[*media.Track]bool{},
		dropped: map[media.Codec]bool{},
		wake:    make(chan struct{}),
	}
	m.touch()
	return m
}

func (m *muxer) touch() { m.lastAccess.Store(time.Now().UnixNano()) }

// Run is the sink: frames in, parts and segments out.
func (m *muxer) Run(r *engine.Reader) {
	defer func() {
		// Closing the instance waits for its probe, so no announcement
		// of readiness can follow this one.
		m.setInstance(nil)
		m.srv.forget(m)
		m.mu.Lock()
		announced := m.announced
		m.mu.Unlock()
		if announced {
			m.announce(r, false)
		}
		close(m.done)
	}()
	stopIdle := m.watchIdle(r)
	defer stopIdle()
	for _, t := range r.Tracks() {
		if t != nil && !CanCarry(t.Codec) {
			m.drop(r, t)
		}
	}
	if tracks := selectTracks(r.Tracks()); len(tracks) > 0 {
		m.start(r, tracks)
	}
	m.log.Debug("hls-fmp4 muxer started", "demand", m.demand)
	buf := make([]*media.Frame, 0, 64)
	for {
		frames, err := r.Next(buf[:0])
		for _, f := range frames {
			m.writeFrame(r, f, r.Tracks())
		}
		clear(frames)
		if err != nil {
			m.log.Debug("hls-fmp4 muxer stopped", "reason", err.Error())
			return
		}
	}
}

// writeFrame muxes f, starting a new instance when f belongs to a track
// the current one does not carry: a track that appeared late (audio after
// video) or a changed configuration (new SPS, another codec).
func (m *muxer) writeFrame(r *engine.Reader, f *media.Frame, declared []*media.Track) {
	if !CanCarry(f.Track.Codec) {
		m.drop(r, f.Track)
		return
	}
	if m.in != nil && m.in.carries(f.Track) {
		m.in.write(f)
		return
	}
	if m.failed[f.Track] {
		return
	}
	if _, err := hlsTrack(f.Track); err != nil {
		// Not a reason to stop serving the other tracks.
		m.failed[f.Track] = true
		m.log.Warn("hls-fmp4: track left out", "track", f.Track.String(), "error", err.Error())
		return
	}
	var base []*media.Track
	if m.in != nil {
		base = m.in.trackList()
		m.log.Info("hls-fmp4 tracks changed; restarting the muxer", "track", f.Track.String())
	} else {
		base = selectTracks(declared)
	}
	if !m.start(r, withTrack(base, f.Track)) {
		m.failed[f.Track] = true
		return
	}
	m.in.write(f)
}

// start replaces the instance with one for tracks; it reports whether one
// started.
func (m *muxer) start(r *engine.Reader, tracks []*media.Track) bool {
	in, err := newInstance(tracks, m.settings, m.log, m.onReady(r))
	if err != nil {
		// The current instance, if any, goes on.
		m.log.Warn("hls-fmp4 muxer not started", "error", err.Error())
		return false
	}
	m.setInstance(in)
	return true
}

// setInstance makes in the instance requests are served from and closes
// the previous one (its waiting requests end).
func (m *muxer) setInstance(in *instance) {
	m.mu.Lock()
	old := m.cur
	m.cur = in
	close(m.wake)
	m.wake = make(chan struct{})
	m.mu.Unlock()
	m.in = in
	if old != nil && old != in {
		old.close()
	}
}

// onReady returns what an instance runs at its first segment: the
// stream's first announces the schema.
func (m *muxer) onReady(r *engine.Reader) func() {
	return func() {
		if m.srv.SchemaChanged == nil {
			return
		}
		m.mu.Lock()
		first := !m.announced
		m.announced = true
		m.mu.Unlock()
		if first {
			m.announce(r, true)
		}
	}
}

// announce tells SchemaChanged that the stream's fMP4 HLS starts or
// stops.
func (m *muxer) announce(r *engine.Reader, regist bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := r.Info(ctx)
	if err != nil {
		// The stream is gone: its key is what an unregistration needs.
		info = engine.StreamInfo{Key: m.key}
	}
	m.srv.SchemaChanged(info, regist)
}

func (m *muxer) drop(r *engine.Reader, t *media.Track) {
	if m.dropped[t.Codec] {
		return
	}
	m.dropped[t.Codec] = true
	// The engine warns once per stream; this is for debugging.
	m.log.Debug(DroppedTrackMessage(t))
	r.DropTrack(OutputName, t, DropReason(t.Codec))
}

// watchIdle ends an on-demand muxer nobody requested for IdleTimeout,
// by closing its reader (Run then returns and the engine forgets the
// sink).
func (m *muxer) watchIdle(r *engine.Reader) (stop func()) {
	idle := m.settings.IdleTimeout
	if !m.demand || idle <= 0 {
		return func() {}
	}
	tick := min(max(idle/4, 50*time.Millisecond), 5*time.Second)
	quit := make(chan struct{})
	go func() {
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				// A request waiting for the first segment is a viewer,
				// however long the segment takes.
				if m.waiting.Load() == 0 && time.Since(time.Unix(0, m.lastAccess.Load())) > idle {
					m.log.Info("stopping on-demand fMP4 HLS nobody watches")
					r.Close()
					return
				}
			}
		}
	}()
	return func() { close(quit) }
}

// current returns the instance being served and the channel closed when
// that changes.
func (m *muxer) current() (*instance, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur, m.wake
}

// readyInstance returns the current instance once it has a segment. It
// waits until deadline, and reports engine.ErrNotFound when the muxer
// ended, errNotReady at the deadline, and ctx's error.
func (m *muxer) readyInstance(ctx context.Context, closing <-chan struct{}, deadline time.Time) (*instance, error) {
	m.waiting.Add(1)
	defer func() {
		m.touch()
		m.waiting.Add(-1)
	}()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		in, wake := m.current()
		var ready, closed <-chan struct{}
		if in != nil {
			ready, closed = in.ready, in.closed
		}
		select {
		case <-ready:
			select {
			case <-closed:
				continue // replaced meanwhile: wait for the next one
			default:
				return in, nil
			}
		case <-closed:
			// The instance ended; wake follows (or has) when the muxer
			// sets the next one.
			select {
			case <-wake:
			case <-m.done:
				return nil, engine.ErrNotFound
			case <-timer.C:
				return nil, errNotReady
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-closing:
				return nil, engine.ErrNotFound
			}
		case <-wake:
		case <-m.done:
			return nil, engine.ErrNotFound
		case <-timer.C:
			return nil, errNotReady
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-closing:
			return nil, engine.ErrNotFound
		}
	}
}

// readyNow returns the current instance if it has a segment, without
// waiting.
func (m *muxer) readyNow() *instance {
	in, _ := m.current()
	if in == nil {
		return nil
	}
	select {
	case <-in.closed:
		return nil
	case <-in.ready:
		return in
	default:
		return nil
	}
}
