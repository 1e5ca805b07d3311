package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/store"
)

// PushSink pushes a stream to one destination (pkg/sink's RTMP push).
type PushSink interface {
	engine.Sink
	// Err tells why Run returned: nil at the stream's end.
	Err() error
	// BytesSent counts bytes written so far; safe while Run runs.
	BytesSent() int64
}

// NewPush makes the sink of one push attempt of spec (its URL, timeout
// and, for rtsp://, rtp_type); ctx ends with the proxy.
type NewPush func(ctx context.Context, spec PushSpec) (PushSink, error)

// push is one push proxy, run by its supervisor goroutine.
type push struct {
	spec   PushSpec
	key    string
	m      *Manager
	log    *slog.Logger
	track  *tracker
	cancel context.CancelFunc
	done   chan struct{}
	first  chan error
}

// viewerSink makes a push count as a viewer of its stream, as ZLMediaKit
// counts its pushers: on_stream_none_reader does not end a stream that
// is being pushed on.
type viewerSink struct {
	PushSink
	ended chan struct{}
}

func (v *viewerSink) Run(r *engine.Reader) {
	defer close(v.ended)
	v.PushSink.Run(r)
}

func (v *viewerSink) CountsAsViewer() bool { return true }

func (p *push) run(ctx context.Context) {
	defer close(p.done)
	sv := &supervisor{m: p.m, track: p.track, verb: "push", retry: p.spec.RetryCount, first: p.first,
		log: p.log.With("proxy", "push", "stream", p.spec.Source().String(), "url", redact(p.spec.URL))}
	_ = sv.run(ctx, func(ctx context.Context, _ int, live func()) (bool, error) { return p.attempt(ctx, live) })
}

// attempt pushes once: it attaches a push sink to the stream and waits
// for it to end. live is called at the first bytes sent.
func (p *push) attempt(ctx context.Context, live func()) (pushed bool, err error) {
	name := "push:" + p.key
	src := p.spec.Source()
	ps, err := p.m.newPush(ctx, p.spec)
	if err != nil {
		return false, err
	}
	sink := &viewerSink{PushSink: ps, ended: make(chan struct{})}
	if err := p.m.engine.AttachSink(ctx, src, name, func() engine.Sink { return sink }); err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			err = fmt.Errorf("%w %s", ErrNoSource, src)
		}
		return false, err
	}
	p.track.playing("pushing", sink.BytesSent)
	p.log.Info("push proxy started", "stream", src.String(), "url", redact(p.spec.URL))
	// The push connects at the stream's first frame; the first bytes
	// sent make it live (and answer addStreamPusherProxy).
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	tickC := tick.C
	for {
		select {
		case <-sink.ended:
			// The engine forgets an ended sink on its stream's owner
			// goroutine, after this; the next attempt, or a new push of
			// the same key, attaches under the same name and must not
			// find it there (ErrSinkExists).
			_, _ = p.m.engine.DetachSink(context.Background(), src, name)
			if sink.BytesSent() > 0 && tickC != nil {
				live()
			}
			return sink.BytesSent() > 0, sink.Err()
		case <-tickC:
			if sink.BytesSent() > 0 {
				live()
				tick.Stop()
				tickC = nil
			}
		case <-ctx.Done():
			_, _ = p.m.engine.DetachSink(context.Background(), src, name)
			<-sink.ended
			return sink.BytesSent() > 0, ctx.Err()
		}
	}
}

// AddPush stores and starts a push proxy of a published stream and waits
// (bounded by ctx) until it pushes or fails once; a failure removes it.
// A push proxy of the same key that exists already is success, as in
// ZLMediaKit.
func (m *Manager) AddPush(ctx context.Context, spec PushSpec) (string, error) {
	if err := spec.Source().Validate(); err != nil {
		return "", err
	}
	key := spec.Key()
	// ZLMediaKit asks for the source first, then for an existing pusher.
	if _, live, err := m.engine.Stream(ctx, spec.Source()); err != nil || !live {
		return "", ErrNoSource
	}
	spec.Created = time.Now().UTC()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return "", ErrClosed
	}
	if _, ok := m.pushes[key]; ok {
		m.mu.Unlock()
		return key, nil
	}
	if m.store != nil {
		if err := m.store.PutTask(store.KindPusher, key, spec); err != nil {
			m.mu.Unlock()
			return "", err
		}
	}
	p := m.startPush(spec)
	m.mu.Unlock()
	select {
	case err := <-p.first:
		if err == nil {
			return key, nil
		}
		m.deletePush(p)
		return "", err
	case <-ctx.Done():
		m.deletePush(p)
		return "", fmt.Errorf("%s: no answer from the destination within the call's time: %w", redact(spec.URL), ctx.Err())
	}
}

func (m *Manager) startPush(spec PushSpec) *push {
	ctx, cancel := context.WithCancel(m.ctx)
	key := spec.Key()
	p := &push{
		spec: spec, key: key, m: m, log: m.log, cancel: cancel,
		track: newTracker(key, redact(spec.URL)),
		done:  make(chan struct{}), first: make(chan error, 1),
	}
	m.pushes[key] = p
	m.running[p.track] = true
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		p.run(ctx)
		m.taskEnded(p.track)
	}()
	return p
}

// DeletePush stops and forgets the push proxy of key; it reports whether
// there was one. The deletion is durable when it returns.
func (m *Manager) DeletePush(key string) (bool, error) {
	m.mu.Lock()
	p, ok := m.pushes[key]
	if !ok {
		defer m.mu.Unlock()
		if m.store == nil {
			return false, nil
		}
		return m.store.DeleteTask(store.KindPusher, key)
	}
	m.mu.Unlock()
	return true, m.deletePush(p)
}

func (m *Manager) deletePush(p *push) error {
	m.mu.Lock()
	var err error
	if m.pushes[p.key] == p {
		delete(m.pushes, p.key)
		if m.store != nil {
			_, err = m.store.DeleteTask(store.KindPusher, p.key)
		}
	}
	m.mu.Unlock()
	p.cancel()
	<-p.done
	return err
}

// PushEntry is one listed push proxy.
type PushEntry struct {
	Spec   PushSpec
	Status Status
}

// Pushes lists every push proxy, sorted by key; a non-empty key lists
// that one only.
func (m *Manager) Pushes() []PushEntry {
	m.mu.Lock()
	out := make([]PushEntry, 0, len(m.pushes))
	for _, p := range m.pushes {
		out = append(out, PushEntry{Spec: p.spec, Status: p.track.snapshot()})
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Status.Key < out[j].Status.Key })
	return out
}

// PushStatus returns the push proxy of key.
func (m *Manager) PushStatus(key string) (PushEntry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pushes[key]
	if !ok {
		return PushEntry{}, false
	}
	return PushEntry{Spec: p.spec, Status: p.track.snapshot()}, true
}
