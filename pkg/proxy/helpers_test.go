package proxy

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mediakit/mediakit/internal/backoff"
	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/source"
	"github.com/mediakit/mediakit/pkg/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// liveSource plays a real FLV clip as fast as it reads and then stays
// open like a live stream until ctx ends; failing makes Open fail or Run
// end with an error, as a source that is down.
type liveSource struct {
	clip  string
	bytes atomic.Int64
	fail  error
	kick  <-chan struct{} // closed: the connection drops
}

func (s *liveSource) Run(ctx context.Context, sink flv.FrameSink) error {
	if s.fail != nil {
		return s.fail
	}
	src, err := source.Open(s.clip, source.Options{})
	if err != nil {
		return err
	}
	if err := src.Run(ctx, sink); err != nil {
		return err
	}
	s.bytes.Store(src.BytesRead())
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.kick:
		return errors.New("connection reset by peer")
	}
}

func (s *liveSource) BytesRead() int64 { return s.bytes.Load() }
func (s *liveSource) String() string   { return s.clip }

// sources hands out liveSources; down makes attempts fail until cleared.
type sources struct {
	t     testing.TB
	clip  string
	mu    sync.Mutex
	down  error
	opens int
	kicks chan struct{}
}

func (f *sources) open(url string, _ OpenOptions) (Source, error) {
	if url == "unsupported://x" {
		return nil, source.ErrUnsupported
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opens++
	if f.kicks == nil {
		f.kicks = make(chan struct{})
	}
	return &liveSource{clip: f.clip, fail: f.down, kick: f.kicks}, nil
}

// dropConnections ends every live source as a network failure would.
func (f *sources) dropConnections() {
	f.mu.Lock()
	if f.kicks != nil {
		close(f.kicks)
	}
	f.kicks = make(chan struct{})
	f.mu.Unlock()
}

func (f *sources) setDown(err error) {
	f.mu.Lock()
	f.down = err
	f.mu.Unlock()
}

func (f *sources) attempts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opens
}

var errDown = errors.New("connection refused")

type fixture struct {
	engine  *engine.Engine
	store   *store.Store
	sources *sources
	dir     string
}

func newFixture(t *testing.T, clip string) *fixture {
	t.Helper()
	cfg := engine.DefaultConfig()
	cfg.ContinuePush = 0
	cfg.MaxStreamWait = 0
	e := engine.New(cfg, nil)
	t.Cleanup(e.Close)
	dir := t.TempDir()
	st, err := store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &fixture{engine: e, store: st, sources: &sources{t: t, clip: testutil.Clip(t, clip)}, dir: dir}
}

func (f *fixture) manager(t *testing.T, push NewPush) *Manager {
	t.Helper()
	m := NewManager(Options{
		Engine: f.engine, Store: f.store, Open: f.sources.open, NewPush: push,
		Backoff: backoff.Policy{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond, Jitter: 0.2},
	})
	t.Cleanup(m.Close)
	return m
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *fixture) live(key engine.Key) bool {
	_, live, err := f.engine.Stream(context.Background(), key)
	return err == nil && live
}

func (f *fixture) stream(t *testing.T, key engine.Key) engine.StreamInfo {
	t.Helper()
	info, live, err := f.engine.Stream(context.Background(), key)
	if err != nil || !live {
		t.Fatalf("stream %s: live=%v err=%v", key, live, err)
	}
	return info
}
