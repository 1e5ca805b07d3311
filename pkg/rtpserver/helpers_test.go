package rtpserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pionrtp "github.com/pion/rtp"
	"go.uber.org/goleak"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// countingPipeline counts what reaches it and declares one track, so
// the stream is published and ready.
type countingPipeline struct {
	o       PipelineOptions
	packets atomic.Int64
	lost    atomic.Int64
	closed  atomic.Bool
	once    sync.Once
}

func (c *countingPipeline) Packet(p *pionrtp.Packet, lost int) {
	c.once.Do(func() {
		t, _ := media.NewG711Track(media.CodecG711A, 8000, 1)
		_ = c.o.Sink.SetTracks([]*media.Track{t})
	})
	c.packets.Add(1)
	c.lost.Add(int64(lost))
}
func (c *countingPipeline) Close()                       { c.closed.Store(true) }
func (c *countingPipeline) Describe() (string, []string) { return "test", nil }

type fixture struct {
	t        *testing.T
	eng      *engine.Engine
	reg      *Registry
	cfg      atomic.Pointer[Config]
	timeouts chan TimeoutInfo
	mu       sync.Mutex
	pipes    []*countingPipeline
}

func (f *fixture) RTPServerTimeout(t TimeoutInfo) { f.timeouts <- t }

func newFixture(t *testing.T, timeout time.Duration) *fixture {
	t.Helper()
	f := &fixture{t: t, timeouts: make(chan TimeoutInfo, 1000)}
	// Above the kernel's ephemeral range (32768-60999 by default), so an
	// outgoing connection elsewhere on the machine cannot hold a port the
	// test opens, or binds to dial from (tcp_mode 2).
	f.cfg.Store(&Config{Ports: PortRange{Min: 61000, Max: 61999}, Timeout: timeout})
	ec := engine.DefaultConfig()
	ec.ContinuePush = 0
	f.eng = engine.New(ec, nil)
	f.reg = NewRegistry(f.eng, func() Config { return *f.cfg.Load() }, f, nil)
	f.reg.NewPipeline = func(o PipelineOptions) Pipeline {
		p := &countingPipeline{o: o}
		f.mu.Lock()
		f.pipes = append(f.pipes, p)
		f.mu.Unlock()
		return p
	}
	t.Cleanup(func() {
		f.reg.CloseAll()
		f.eng.Close()
	})
	return f
}

// sender sends RTP packets of one SSRC to a port.
type sender struct {
	conn net.Conn
	ssrc uint32
	seq  uint16
	ts   uint32
}

func newSender(t *testing.T, network string, port int, ssrc uint32) *sender {
	t.Helper()
	c, err := net.Dial(network, fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &sender{conn: c, ssrc: ssrc, seq: 1000}
}

func (s *sender) packet(payload []byte) []byte {
	p := pionrtp.Packet{Header: pionrtp.Header{Version: 2, PayloadType: 8, SequenceNumber: s.seq, Timestamp: s.ts, SSRC: s.ssrc, Marker: true}, Payload: payload}
	s.seq++
	s.ts += 160
	b, _ := p.Marshal()
	return b
}

func (s *sender) send(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		b := s.packet(make([]byte, 160))
		if _, ok := s.conn.(*net.TCPConn); ok {
			b = append([]byte{byte(len(b) >> 8), byte(len(b))}, b...)
		}
		if _, err := s.conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(entries)
}

func published(f *fixture, app, stream string) bool {
	_, ok, _ := f.eng.Stream(context.Background(), engine.NewKey("", app, stream))
	return ok
}

func fmtInt(n int) string { return fmt.Sprint(n) }
