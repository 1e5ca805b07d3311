package pushwrite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var testTrack = &media.Track{Codec: media.CodecAAC, SampleRate: 48000, Channels: 2}

// payloads writes each frame's payload as it is: what the player gets is
// the concatenation of the stream's payloads.
type payloads struct{}

func (payloads) Batch(bufs net.Buffers, frames []*media.Frame) net.Buffers {
	for _, f := range frames {
		bufs = append(bufs, f.Payload)
	}
	return bufs
}

func (payloads) Written() {}

// rig is a stream with one reader, a loopback TCP connection whose far
// end a goroutine reads into got, and a pool.
type rig struct {
	e    *engine.Engine
	pub  *engine.Publisher
	base *engine.Publisher // a stream without readers: what publishing costs alone
	w    *Writer
	pool *Pool
	peer net.Conn

	mu   sync.Mutex
	got  bytes.Buffer
	read chan struct{} // closed when the far end's reader ends
	n    int
}

func newRig(t testing.TB) *rig {
	t.Helper()
	r := &rig{e: testEngine(t), pool: &Pool{}, read: make(chan struct{})}
	r.pub = testPublish(t, r.e, engine.NewKey("", "t", "a"))
	r.base = testPublish(t, r.e, engine.NewKey("", "t", "base"))
	reader, err := r.e.Play(context.Background(), engine.NewKey("", "t", "a"), engine.SessionInfo{ID: "t", Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	var server *net.TCPConn
	r.peer, server = testutil.TCPPair(t)
	go func() {
		defer close(r.read)
		buf := make([]byte, 64<<10)
		for {
			n, err := r.peer.Read(buf)
			r.mu.Lock()
			r.got.Write(buf[:n])
			r.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	r.w = New(server, reader, payloads{}, 10*time.Second)
	t.Cleanup(func() {
		reader.Close()
		server.Close()
		r.peer.Close()
		<-r.read
		r.e.Close()
		r.pool.Close()
	})
	return r
}

// testEngine returns an engine that keeps no stream after its publisher
// and drops no slow reader; it closes with the test.
func testEngine(tb testing.TB) *engine.Engine {
	cfg := engine.DefaultConfig()
	cfg.ContinuePush = 0
	cfg.MaxReaderLag = 0
	e := engine.New(cfg, nil)
	tb.Cleanup(e.Close)
	return e
}

// testPublish publishes key on e with testTrack.
func testPublish(tb testing.TB, e *engine.Engine, key engine.Key) *engine.Publisher {
	tb.Helper()
	pub, err := e.Publish(context.Background(), key, engine.SessionInfo{ID: "pub", Protocol: "test"})
	if err != nil {
		tb.Fatal(err)
	}
	if err := pub.SetTracks([]*media.Track{testTrack}); err != nil {
		tb.Fatal(err)
	}
	return pub
}

// frame returns the next frame: 200 bytes, each its index's low byte.
func (r *rig) frame() *media.Frame {
	p := bytes.Repeat([]byte{byte(r.n)}, 200)
	d := time.Duration(r.n) * 20 * time.Millisecond
	r.n++
	return &media.Frame{Track: testTrack, DTS: d, PTS: d, Key: true, Payload: p}
}

func (r *rig) received() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got.Len()
}

// A pushed writer delivers every frame in order and ends with the stream.
func TestPushDeliversStream(t *testing.T) {
	r := newRig(t)
	var want bytes.Buffer
	for range 10 { // before Push: the GOP cache, written by Push itself
		f := r.frame()
		want.Write(f.Payload)
		if err := r.pub.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	if !r.w.Push(r.pool, nil, nil) {
		t.Skip("no non-blocking socket writes on this system")
	}
	for i := range 500 {
		f := r.frame()
		want.Write(f.Payload)
		if err := r.pub.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			time.Sleep(time.Millisecond) // let the writer go idle now and then
		}
	}
	r.pub.Close()
	select {
	case <-r.w.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the writer did not end with the stream")
	}
	if !errors.Is(r.w.Err(), io.EOF) {
		t.Fatalf("writer ended with %v, want io.EOF", r.w.Err())
	}
	testutil.Eventually(t, 10*time.Second, "every byte", func() bool { return r.received() == want.Len() })
	r.mu.Lock()
	defer r.mu.Unlock()
	if !bytes.Equal(r.got.Bytes(), want.Bytes()) {
		t.Fatal("the player got other bytes than the stream's")
	}
	if r.w.Sent() != int64(want.Len()) {
		t.Errorf("Sent %d, want %d", r.w.Sent(), want.Len())
	}
}

// Once a pushed writer has written its first batch, a batch costs the
// writer no allocation: no closure per write, no goroutine per wake-up.
func TestPushSteadyStateAllocs(t *testing.T) {
	r := newRig(t)
	if !r.w.Push(r.pool, nil, nil) {
		t.Skip("no non-blocking socket writes on this system")
	}
	publishOne := func(p *engine.Publisher) {
		if err := p.WriteFrame(r.frame()); err != nil {
			t.Fatal(err)
		}
	}
	publishing := testing.AllocsPerRun(200, func() { publishOne(r.base) })
	batch := func() {
		sent := r.w.Sent()
		publishOne(r.pub)
		for r.w.Sent() == sent {
			time.Sleep(50 * time.Microsecond)
		}
	}
	batch() // sizes the writer's buffers
	total := testing.AllocsPerRun(200, batch)
	t.Logf("%.2f allocations per batch, %.2f of them publishing", total, publishing)
	// A stray allocation of the runtime (the sleep's timer, the poller)
	// may land in a run; one per batch or more is the writer's.
	if total-publishing > 0.5 {
		t.Errorf("the writer allocates %.2f times per batch, want 0", total-publishing)
	}
}

// A connection without a socket descriptor (TLS, a pipe) is not pushed:
// its writer runs on a goroutine of the caller's.
func TestPushNeedsSocket(t *testing.T) {
	e := engine.New(engine.DefaultConfig(), nil)
	defer e.Close()
	pub, err := e.Publish(context.Background(), engine.NewKey("", "t", "a"), engine.SessionInfo{ID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.SetTracks([]*media.Track{testTrack}); err != nil {
		t.Fatal(err)
	}
	reader, err := e.Play(context.Background(), engine.NewKey("", "t", "a"), engine.SessionInfo{ID: "p"})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	pool := &Pool{}
	defer pool.Close()
	if New(a, reader, payloads{}, time.Second).Push(pool, nil, nil) {
		t.Fatal("a pipe was pushed")
	}
}

// A closed pool pushes nothing (the writer falls back to Run) and
// starts no worker.
func TestPushOnClosedPool(t *testing.T) {
	r := newRig(t)
	r.pool.Close()
	if r.w.Push(r.pool, nil, nil) {
		t.Fatal("a closed pool took a writer")
	}
	if r.pool.workers != nil {
		t.Fatal("a closed pool started its workers")
	}
	r.pool.Close() // again: a no-op
}

// BenchmarkWriter measures one frame published to a stream with players
// players and written by each to a loopback socket, by pushed writers (a
// pool's workers woken through the stream's wake functions) and by Run
// (a goroutine per player waiting in Reader.Next): ns/op is the time
// until every player has written the frame, writev included. Compare
// the two in one run; absolute times drift on a shared machine.
func BenchmarkWriter(b *testing.B) {
	for _, players := range []int{1, 100} {
		for _, mode := range []string{"push", "run"} {
			b.Run(fmt.Sprintf("players=%d/%s", players, mode), func(b *testing.B) {
				benchmarkWriter(b, players, mode == "push")
			})
		}
	}
}

func benchmarkWriter(b *testing.B, players int, push bool) {
	e := testEngine(b)
	key := engine.NewKey("", "t", "fan")
	pub := testPublish(b, e, key)
	defer pub.Close()
	pool := &Pool{}
	defer pool.Close()
	var drains, runs sync.WaitGroup
	writers := make([]*Writer, players)
	for i := range writers {
		reader, err := e.Play(context.Background(), key, engine.SessionInfo{ID: "p"})
		if err != nil {
			b.Fatal(err)
		}
		peer, server := testutil.TCPPair(b)
		drains.Go(func() { _, _ = io.Copy(io.Discard, peer) })
		defer reader.Close()
		w := New(server, reader, payloads{}, 10*time.Second)
		writers[i] = w
		if !push {
			runs.Go(func() { _ = w.Run() })
		} else if !w.Push(pool, nil, nil) {
			b.Skip("no non-blocking socket writes on this system")
		}
	}
	payload := make([]byte, 1000)
	sent := make([]int64, players)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for j, w := range writers {
			sent[j] = w.Sent()
		}
		d := time.Duration(i) * 20 * time.Millisecond
		if err := pub.WriteFrame(&media.Frame{Track: testTrack, DTS: d, PTS: d, Key: true, Payload: payload}); err != nil {
			b.Fatal(err)
		}
		for j, w := range writers {
			for w.Sent() == sent[j] {
				runtime.Gosched()
			}
		}
	}
	b.StopTimer()
	pub.Close() // the writers end with the stream
	for _, w := range writers {
		if push {
			<-w.Done()
		}
	}
	runs.Wait()
	for _, w := range writers {
		w.conn.Close()
	}
	drains.Wait()
}
