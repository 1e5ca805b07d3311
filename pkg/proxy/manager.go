package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/mediakit/mediakit/internal/backoff"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/store"
)

// Engine is what proxies need of the engine.
type Engine interface {
	PublishTrusted(ctx context.Context, key engine.Key, info engine.SessionInfo, opts engine.PublishOptions) (*engine.Publisher, error)
	Stream(ctx context.Context, key engine.Key) (engine.StreamInfo, bool, error)
	AttachSink(ctx context.Context, key engine.Key, name string, newSink func() engine.Sink) error
	DetachSink(ctx context.Context, key engine.Key, name string) (bool, error)
}

// Store persists tasks (*store.Store).
type Store interface {
	PutTask(kind, key string, v any) error
	DeleteTask(kind, key string) (bool, error)
	Tasks(kind string) ([]store.Task, error)
}

// Errors of Add and Delete.
var (
	// ErrExists: a proxy of that stream exists, or the stream is
	// published by someone else. Its text is ZLMediaKit's.
	ErrExists = errors.New("This stream already exists")
	// ErrNoSource: the stream to push is not published; ZLMediaKit's
	// text.
	ErrNoSource = errors.New("can not find the source stream")
	// ErrClosed: the manager is shutting down.
	ErrClosed = errors.New("proxies closed")
)

// Options are a Manager's collaborators.
type Options struct {
	Engine Engine
	// Store is where tasks persist; nil keeps them in memory only
	// (tests, `mediakit relay`).
	Store Store
	Log   *slog.Logger
	// Open opens sources; nil selects DefaultOpenSource.
	Open OpenSource
	// NewPush makes the sink that pushes a stream to a URL.
	NewPush NewPush
	// Backoff is the retry schedule; zero selects Min 500ms, Max 5s: a
	// source that returns waits at most about 5.5 s, and a retry falls
	// within a 15 s grace period however long the source was away, so
	// its players are kept.
	Backoff backoff.Policy
}

// Manager owns every pull and push proxy.
type Manager struct {
	engine  Engine
	store   Store
	log     *slog.Logger
	open    OpenSource
	newPush NewPush
	backoff backoff.Policy

	ctx    context.Context
	cancel context.CancelFunc

	// mu guards the maps and keeps them in step with the store: it is
	// held across a store write (a local fsync), never across network
	// I/O, a hook or a wait for a task.
	mu     sync.Mutex
	pulls  map[engine.Key]*pull
	pushes map[string]*push
	closed bool
	wg     sync.WaitGroup
	// ended holds what tasks that have finished counted, and running
	// every task not finished yet (in the maps or on its way out), so
	// that the /metrics counters never go down when a task goes.
	ended   endedTotals
	running map[*tracker]bool // true: a push
}

// endedTotals are the restarts and bytes of finished tasks (m.mu).
type endedTotals struct {
	restarts, bytesIn, bytesOut int64
}

// NewManager returns a manager; Restore starts the stored tasks.
func NewManager(o Options) *Manager {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Open == nil {
		o.Open = DefaultOpenSource
	}
	if o.Backoff == (backoff.Policy{}) {
		o.Backoff = backoff.Policy{Min: 500 * time.Millisecond, Max: 5 * time.Second, Jitter: 0.2}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		engine: o.Engine, store: o.Store, log: o.Log, open: o.Open, newPush: o.NewPush, backoff: o.Backoff,
		ctx: ctx, cancel: cancel,
		pulls: map[engine.Key]*pull{}, pushes: map[string]*push{}, running: map[*tracker]bool{},
	}
}

// Restore starts every stored proxy and pusher. A task that does not
// decode is reported and left in the store untouched.
func (m *Manager) Restore() error {
	if m.store == nil {
		return nil
	}
	pulls, err := m.store.Tasks(store.KindProxy)
	if err != nil {
		return err
	}
	pushes, err := m.store.Tasks(store.KindPusher)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range pulls {
		var spec PullSpec
		if err := json.Unmarshal(t.Value, &spec); err != nil || spec.Key().Validate() != nil || spec.Key().String() != t.Key {
			m.log.Error("stored pull proxy unreadable; skipped", "key", t.Key, "error", fmt.Sprint(err))
			continue
		}
		if cur, ok := m.pulls[spec.Key()]; ok {
			if !cur.spec.OnDemand {
				continue // added again through the API before Restore ran
			}
			// The stored proxy is the one the user asked to keep.
			delete(m.pulls, cur.key)
			cur.cancel()
		}
		m.startPull(spec)
	}
	for _, t := range pushes {
		var spec PushSpec
		if err := json.Unmarshal(t.Value, &spec); err != nil || spec.Key() != t.Key {
			m.log.Error("stored push proxy unreadable; skipped", "key", t.Key, "error", fmt.Sprint(err))
			continue
		}
		if _, ok := m.pushes[spec.Key()]; ok {
			continue
		}
		m.startPush(spec)
	}
	if len(pulls)+len(pushes) > 0 {
		m.log.Info("proxies restored", "pull", len(m.pulls), "push", len(m.pushes))
	}
	return nil
}

// AddPull stores and starts a pull proxy, then waits for its first
// attempt (bounded by ctx): on success it returns the key. When that
// attempt fails the proxy is removed and the error returned, unless
// force is set: then it stays and retries (ZLMediaKit's force).
func (m *Manager) AddPull(ctx context.Context, spec PullSpec, force bool) (string, error) {
	key := spec.Key()
	if err := key.Validate(); err != nil {
		return "", err
	}
	// What can be checked without reading (a scheme mediakit pulls, a
	// file that exists) is refused before anything is stored.
	if _, err := m.open(spec.URL, spec.openOptions()); err != nil {
		return "", err
	}
	if info, live, err := m.engine.Stream(ctx, key); err == nil && live && info.Publisher != nil && info.Publisher.Protocol != "pull" {
		return "", ErrExists
	}
	spec.Created = time.Now().UTC()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return "", ErrClosed
	}
	if _, ok := m.pulls[key]; ok {
		m.mu.Unlock()
		return "", ErrExists
	}
	if m.store != nil && !spec.OnDemand {
		if err := m.store.PutTask(store.KindProxy, key.String(), spec); err != nil {
			m.mu.Unlock()
			return "", err
		}
	}
	p := m.startPull(spec)
	m.mu.Unlock()
	if force {
		return key.String(), nil
	}
	select {
	case err := <-p.first:
		if err == nil {
			return key.String(), nil
		}
		m.deletePull(p, false)
		return "", err
	case <-ctx.Done():
		m.deletePull(p, false)
		return "", fmt.Errorf("%s: no answer from the source within the call's time: %w", redact(spec.URL), ctx.Err())
	}
}

// startPull runs a proxy's supervisor (m.mu held).
func (m *Manager) startPull(spec PullSpec) *pull {
	ctx, cancel := context.WithCancel(m.ctx)
	key := spec.Key()
	p := &pull{
		spec: spec, key: key, m: m, log: m.log, cancel: cancel,
		track: newTracker(key.String(), redact(spec.URL)),
		done:  make(chan struct{}), first: make(chan error, 1),
	}
	m.pulls[key] = p
	m.running[p.track] = false
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		p.run(ctx)
		m.taskEnded(p.track)
	}()
	return p
}

// taskEnded moves a finished task's counts into the manager's totals.
func (m *Manager) taskEnded(t *tracker) {
	m.mu.Lock()
	defer m.mu.Unlock()
	push, ok := m.running[t]
	if !ok {
		return
	}
	delete(m.running, t)
	st := t.snapshot()
	m.ended.restarts += st.Restarts
	if push {
		m.ended.bytesOut += st.Bytes
	} else {
		m.ended.bytesIn += st.Bytes
	}
}

// DeletePull stops and forgets the proxy of key ("vhost/app/stream"); it
// reports whether there was one. The deletion is durable when it returns.
func (m *Manager) DeletePull(key string) (bool, error) {
	m.mu.Lock()
	var p *pull
	for k, q := range m.pulls {
		if k.String() == key {
			p = q
			break
		}
	}
	if p == nil {
		// Not running (a record Restore could not read): the record goes.
		defer m.mu.Unlock()
		if m.store == nil {
			return false, nil
		}
		return m.store.DeleteTask(store.KindProxy, key)
	}
	m.mu.Unlock()
	return true, m.deletePull(p, true)
}

func (m *Manager) deletePull(p *pull, wait bool) error {
	m.mu.Lock()
	var err error
	// Only the task the map holds owns the key's record: a late cleanup
	// of a task replaced since must not delete its successor's.
	if m.pulls[p.key] == p {
		delete(m.pulls, p.key)
		if m.store != nil && !p.spec.OnDemand {
			_, err = m.store.DeleteTask(store.KindProxy, p.key.String())
		}
	}
	m.mu.Unlock()
	p.cancel()
	if wait {
		<-p.done // its publisher has left when it returns
	}
	return err
}

// goRemove removes p in a goroutine of its own (its supervisor cannot
// wait for itself), tracked so that Close waits for it.
func (m *Manager) goRemove(p *pull) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return // shutting down: stored proxies stay for the next start
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.removeClosedPull(p)
	}()
}

// removeClosedPull forgets a proxy whose supervisor ended on its own
// (its stream was closed, or an on-demand pull gave up).
func (m *Manager) removeClosedPull(p *pull) {
	if err := m.deletePull(p, true); err != nil {
		m.log.Error("pull proxy not removed from the store", "stream", p.key.String(), "error", err.Error())
	}
}

// PullStatus returns the proxy of key and its status.
func (m *Manager) PullStatus(key string) (PullSpec, Status, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, p := range m.pulls {
		if k.String() == key {
			return p.spec, p.track.snapshot(), true
		}
	}
	return PullSpec{}, Status{}, false
}

// Pulls lists every pull proxy, sorted by key.
func (m *Manager) Pulls() []PullEntry {
	m.mu.Lock()
	out := make([]PullEntry, 0, len(m.pulls))
	for _, p := range m.pulls {
		out = append(out, PullEntry{Spec: p.spec, Status: p.track.snapshot()})
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Status.Key < out[j].Status.Key })
	return out
}

// PullEntry is one listed pull proxy.
type PullEntry struct {
	Spec   PullSpec
	Status Status
}

// OnDemand starts a pull for players waiting on key, from url and then
// the origins in turn. It is never stored and ends once the stream has
// had no reader for the none-reader delay, or when its retries run out.
// A proxy of key that exists already is left alone.
func (m *Manager) OnDemand(key engine.Key, url string, origins []string, retryCount int, timeout time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	if _, ok := m.pulls[key]; ok {
		return
	}
	spec := PullSpec{
		Vhost: key.Vhost, App: key.App, Stream: key.Stream, URL: url, Origins: origins,
		RetryCount: retryCount, Timeout: timeout, AutoClose: true, OnDemand: true, Created: time.Now().UTC(),
	}
	m.log.Info("on-demand pull", "stream", key.String(), "url", redact(url), "origins", len(origins))
	m.startPull(spec)
}

// StreamNoReaders removes an auto-closing proxy whose stream nobody
// watches; the engine's observer calls it after the none-reader delay.
func (m *Manager) StreamNoReaders(key engine.Key) {
	m.mu.Lock()
	p, ok := m.pulls[key]
	m.mu.Unlock()
	if !ok || !p.spec.AutoClose {
		return
	}
	m.log.Info("pull proxy closed: no reader", "stream", key.String())
	m.goRemove(p)
}

// Close stops every task (stored ones stay stored, for the next start)
// and waits for their supervisors.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
}

// Counts returns tasks by state, and restarts and bytes of every task
// since the start (finished ones included), for /metrics.
func (m *Manager) Counts() (pulls, pushes map[State]int, restarts, bytesIn, bytesOut int64) {
	pulls, pushes = map[State]int{}, map[State]int{}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.pulls {
		pulls[p.track.snapshot().State]++
	}
	for _, p := range m.pushes {
		pushes[p.track.snapshot().State]++
	}
	restarts, bytesIn, bytesOut = m.ended.restarts, m.ended.bytesIn, m.ended.bytesOut
	for t, push := range m.running {
		st := t.snapshot()
		restarts += st.Restarts
		if push {
			bytesOut += st.Bytes
		} else {
			bytesIn += st.Bytes
		}
	}
	return pulls, pushes, restarts, bytesIn, bytesOut
}
