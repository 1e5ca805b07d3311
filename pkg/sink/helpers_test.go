package sink_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/rtmp"
	"github.com/mediakit/mediakit/pkg/sink"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var testKey = engine.NewKey("", "test", "s")

// newEngine is an engine whose stream ends as soon as its publisher
// leaves, so sinks end with the frames they were given.
func newEngine(t *testing.T) *engine.Engine {
	t.Helper()
	cfg := engine.DefaultConfig()
	cfg.ContinuePush = 0
	cfg.MaxReaderLag = 0
	cfg.MaxReaderLagBytes = 1 << 30
	cfg.NoneReaderDelay = 0
	e := engine.New(cfg, nil)
	t.Cleanup(e.Close)
	return e
}

// tracked runs a sink and closes done when its Run returned.
type tracked struct {
	sink.Sink
	done chan struct{}
}

func track(s sink.Sink) *tracked { return &tracked{Sink: s, done: make(chan struct{})} }

func (t *tracked) Run(r *engine.Reader) {
	defer close(t.done)
	t.Sink.Run(r)
}

// wait waits for Run to return, failing the test after d.
func (t *tracked) wait(tb testing.TB, d time.Duration, what string) {
	tb.Helper()
	select {
	case <-t.done:
	case <-time.After(d):
		tb.Fatalf("sink still running %v after %s", d, what)
	}
}

// attachAll makes every stream of e start with the sinks.
func attachAll(e *engine.Engine, sinks ...*tracked) {
	e.SetSinkPolicy(func(engine.StreamInfo) map[string]func() engine.Sink {
		out := map[string]func() engine.Sink{}
		for i, s := range sinks {
			out[string(rune('a'+i))] = func() engine.Sink { return s }
		}
		return out
	})
}

// publish writes tracks and frames to the stream of testKey and, with
// end, leaves (the stream ends).
func publish(t *testing.T, e *engine.Engine, tracks []*media.Track, frames []*media.Frame, end bool) *engine.Publisher {
	t.Helper()
	pub, err := e.Publish(context.Background(), testKey, engine.SessionInfo{ID: "pub", Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.SetTracks(tracks); err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		// The engine rewrites a frame's timeline: give it a copy so the
		// clip can be published again.
		c := &media.Frame{Track: f.Track, DTS: f.DTS, PTS: f.PTS, Key: f.Key, Payload: f.Payload}
		if err := pub.WriteFrame(c); err != nil {
			t.Fatal(err)
		}
	}
	if end {
		pub.Close()
	}
	return pub
}

// logBuffer is a slog text handler's output.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// rtmpServer is an in-process RTMP server over its own engine.
type rtmpServer struct {
	e    *engine.Engine
	addr string
}

func startRTMP(t *testing.T) *rtmpServer {
	t.Helper()
	cfg := engine.DefaultConfig()
	cfg.ContinuePush = 0
	e := engine.New(cfg, nil)
	srv := rtmp.NewServer(e, slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		<-served
		e.Close()
	})
	return &rtmpServer{e: e, addr: ln.Addr().String()}
}

// play counts what a player of key gets on s until the stream ends or
// ctx does.
func (s *rtmpServer) play(ctx context.Context, key engine.Key) <-chan map[media.Codec]int {
	got := make(chan map[media.Codec]int, 1)
	go func() {
		n := map[media.Codec]int{}
		defer func() { got <- n }()
		r, err := s.e.Play(ctx, key, engine.SessionInfo{ID: "player"})
		if err != nil {
			return
		}
		defer r.Close()
		stop := context.AfterFunc(ctx, r.Close)
		defer stop()
		buf := make([]*media.Frame, 0, 64)
		for {
			fr, err := r.Next(buf[:0])
			for _, f := range fr {
				n[f.Track.Codec]++
			}
			if err != nil {
				return
			}
		}
	}()
	return got
}

// silentServer accepts TCP connections and never answers: an RTMP
// server that hangs in the handshake.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func countCodecs(frames []*media.Frame) map[media.Codec]int {
	n := map[media.Codec]int{}
	for _, f := range frames {
		n[f.Track.Codec]++
	}
	return n
}
