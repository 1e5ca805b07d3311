package rtmp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/handshake"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"go.uber.org/goleak"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/engine"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// logBuffer collects the server's JSON log lines.
type logBuffer struct{ testutil.SyncBuffer }

// records returns the log records of the connection from remote (every
// record when remote is empty) at level INFO or above.
func (l *logBuffer) records(remote string) []map[string]any {
	var out []map[string]any
	for line := range strings.SplitSeq(l.String(), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			continue
		}
		if rec["level"] == "DEBUG" || (remote != "" && rec["remote"] != remote) {
			continue
		}
		out = append(out, rec)
	}
	return out
}

type testServer struct {
	eng  *engine.Engine
	srv  *Server
	addr string
	logs *logBuffer
}

func startServer(t *testing.T, cfg engine.Config, configure func(*Server)) *testServer {
	t.Helper()
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	eng := engine.New(cfg, log)
	srv := NewServer(eng, log)
	if configure != nil {
		configure(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	ts := &testServer{eng: eng, srv: srv, addr: ln.Addr().String(), logs: logs}
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		eng.Close()
		for _, rec := range logs.records("") {
			if s := fmt.Sprint(rec); strings.Contains(s, "panic") {
				t.Errorf("log mentions a panic: %s", s)
			}
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return ts
}

func (ts *testServer) url(t *testing.T, app, stream string) *url.URL {
	u, err := url.Parse("rtmp://" + ts.addr + "/" + app + "/" + stream)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// requireClosedWithError waits for the server to log the end of the
// connection from remote and checks that exactly one log line carries an
// error, that it names cause, and, when only is set, that it is the
// connection's only log line.
// logged reports whether a log record of the connection from remote has
// key set to value.
func (ts *testServer) logged(remote, key, value string) bool {
	for _, rec := range ts.logs.records(remote) {
		if fmt.Sprint(rec[key]) == value {
			return true
		}
	}
	return false
}

func (ts *testServer) requireClosedWithError(t *testing.T, remote, cause string, only bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	var recs, errs []map[string]any
	for {
		recs = ts.logs.records(remote)
		errs = errs[:0]
		closed := false
		for _, rec := range recs {
			if _, ok := rec["error"]; ok {
				errs = append(errs, rec)
			}
			if rec["msg"] == "rtmp connection closed" {
				closed = true
			}
		}
		if closed || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(errs) != 1 {
		t.Fatalf("connection %s: %d log lines with an error, want 1: %v", remote, len(errs), recs)
	}
	if msg := fmt.Sprint(errs[0]["error"]); !strings.Contains(msg, cause) {
		t.Fatalf("connection %s: logged error %q, want it to mention %q", remote, msg, cause)
	}
	if only && len(recs) != 1 {
		t.Fatalf("connection %s: %d log lines, want 1: %v", remote, len(recs), recs)
	}
}

// Access units of the committed raw clips.

// parameterSets returns the first NAL unit of each wanted type.
func parameterSets(aus [][][]byte, typeOf func([]byte) int, types ...int) [][]byte {
	out := make([][]byte, len(types))
	for _, au := range aus {
		for _, n := range au {
			for i, typ := range types {
				if out[i] == nil && typeOf(n) == typ {
					out[i] = n
				}
			}
		}
	}
	return out
}

func h264Type(n []byte) int { return int(n[0] & 0x1f) }
func h265Type(n []byte) int { return int((n[0] >> 1) & 0x3f) }

// goodPublisher publishes H.264 from h264.h264 with the gortmplib client, in
// a loop, at twice real time.
type goodPublisher struct {
	client *gortmplib.Client
	sent   atomic.Int64
	mu     sync.Mutex
	err    error
	cancel context.CancelFunc
	done   chan struct{}
}

func startGoodPublisher(t *testing.T, u *url.URL) *goodPublisher {
	t.Helper()
	aus := testutil.ClipAccessUnits(t, "h264.h264", false)
	ps := parameterSets(aus, h264Type, int(h264.NALUTypeSPS), int(h264.NALUTypePPS))
	ctx, cancel := context.WithCancel(context.Background())
	p := &goodPublisher{client: &gortmplib.Client{URL: u, Publish: true}, cancel: cancel, done: make(chan struct{})}
	if err := p.client.Initialize(ctx); err != nil {
		cancel()
		t.Fatalf("good publisher: %v", err)
	}
	track := &gortmplib.Track{Codec: &codecs.H264{SPS: ps[0], PPS: ps[1]}}
	w := &gortmplib.Writer{Conn: p.client, Tracks: []*gortmplib.Track{track}}
	if err := w.Initialize(); err != nil {
		cancel()
		p.client.Close()
		t.Fatalf("good publisher: %v", err)
	}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			dts := time.Duration(i) * 40 * time.Millisecond
			if err := w.WriteH264(track, dts, dts, aus[i%len(aus)]); err != nil {
				p.mu.Lock()
				p.err = err
				p.mu.Unlock()
				return
			}
			p.sent.Add(1)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *goodPublisher) stop() {
	p.cancel()
	p.client.Close()
	<-p.done
}

func (p *goodPublisher) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// player plays a stream with the gortmplib client and reader.
type testPlayer struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	client   *gortmplib.Client
	stopped  bool
	err      error
	tracks   []*gortmplib.Track
	received []receivedAU
	count    atomic.Int64
}

type receivedAU struct {
	pts, dts time.Duration
	au       [][]byte
}

func startPlayer(t *testing.T, u *url.URL) *testPlayer {
	ctx, cancel := context.WithCancel(context.Background())
	p := &testPlayer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		c := &gortmplib.Client{URL: u}
		err := c.Initialize(ctx)
		if err != nil {
			p.fail(err)
			return
		}
		p.mu.Lock()
		p.client = c
		stopped := p.stopped
		p.mu.Unlock()
		if stopped {
			c.Close()
			return
		}
		r := &gortmplib.Reader{Conn: c}
		if err := r.Initialize(); err != nil {
			p.fail(err)
			return
		}
		tracks := r.Tracks()
		p.mu.Lock()
		p.tracks = tracks
		p.mu.Unlock()
		onAU := func(pts, dts time.Duration, au [][]byte) {
			cp := make([][]byte, len(au))
			for i, n := range au {
				cp[i] = bytes.Clone(n)
			}
			p.mu.Lock()
			p.received = append(p.received, receivedAU{pts, dts, cp})
			p.mu.Unlock()
			p.count.Add(1)
		}
		for _, tr := range tracks {
			switch tr.Codec.(type) {
			case *codecs.H264:
				r.OnDataH264(tr, onAU)
			case *codecs.H265:
				r.OnDataH265(tr, onAU)
			}
		}
		for {
			if err := r.Read(); err != nil {
				p.fail(err)
				return
			}
		}
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *testPlayer) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil && !p.stopped {
		p.err = err
	}
}

func (p *testPlayer) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *testPlayer) stop() {
	p.mu.Lock()
	p.stopped = true
	c := p.client
	p.mu.Unlock()
	p.cancel()
	if c != nil {
		c.Close()
	}
	<-p.done
}

// requireFlowing checks that the good publisher still sends and the good
// player still receives.
func requireFlowing(t *testing.T, pub *goodPublisher, pl *testPlayer) {
	t.Helper()
	s0, r0 := pub.sent.Load(), pl.count.Load()
	deadline := time.Now().Add(5 * time.Second)
	for pub.sent.Load() < s0+5 || pl.count.Load() < r0+5 {
		if err := pub.Err(); err != nil {
			t.Fatalf("good publisher failed: %v", err)
		}
		if err := pl.Err(); err != nil {
			t.Fatalf("good player failed: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("good stream stalled: publisher sent %d -> %d, player received %d -> %d",
				s0, pub.sent.Load(), r0, pl.count.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rawClient speaks RTMP with this package's chunk layer, to send what no
// well-behaved client would.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	cr *ChunkReader
}

func dialRaw(t *testing.T, addr string, doHandshake bool) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if doHandshake {
		_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := handshake.DoClient(nc, false, false); err != nil {
			t.Fatalf("handshake: %v", err)
		}
		_ = nc.SetDeadline(time.Time{})
	}
	// A small read buffer: the idle-player memory test counts its clients.
	return &rawClient{t: t, nc: nc, cr: NewChunkReader(bufio.NewReaderSize(nc, 512), DefaultLimits())}
}

func (c *rawClient) local() string { return c.nc.LocalAddr().String() }

func (c *rawClient) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// command sends an AMF0 command in chunks of 128 (the server's default).
func (c *rawClient) command(csid, streamID uint32, values ...any) {
	c.t.Helper()
	body, err := amf0.Data(values).Marshal()
	if err != nil {
		c.t.Fatal(err)
	}
	c.write(AppendMessage(nil, csid, MsgCommandAMF0, streamID, 0, body, 128))
}

// readCommand returns the next command from the server, applying its Set
// Chunk Size.
func (c *rawClient) readCommand() (*command, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		m, err := c.cr.ReadMessage()
		if err != nil {
			return nil, err
		}
		switch m.Type {
		case MsgSetChunkSize:
			if err := c.cr.SetChunkSize(binary32(m.Body)); err != nil {
				return nil, err
			}
		case MsgCommandAMF0:
			return parseCommand(m)
		}
	}
}

func binary32(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// expect reads commands until one named name arrives.
func (c *rawClient) expect(name string) *command {
	c.t.Helper()
	for {
		cmd, err := c.readCommand()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", name, err)
		}
		if cmd.name == name {
			return cmd
		}
	}
}

// publish runs connect, createStream and publish and returns the status
// object of the publish answer.
func (c *rawClient) publish(app, stream string) amf0.Object {
	c.t.Helper()
	c.command(3, 0, "connect", float64(1), amf0.Object{
		{Key: "app", Value: app},
		{Key: "type", Value: "nonprivate"},
		{Key: "tcUrl", Value: "rtmp://127.0.0.1/" + app},
	})
	c.expect("_result")
	c.command(3, 0, "createStream", float64(2), nil)
	c.expect("_result")
	c.command(8, 1, "publish", float64(3), nil, stream, "live")
	st := c.expect("onStatus")
	if len(st.args) < 1 {
		c.t.Fatalf("onStatus without an info object: %+v", st)
	}
	info := objectOf(st.args[0])
	if info == nil {
		c.t.Fatalf("onStatus info is %T", st.args[0])
	}
	return info
}

// waitClosed reads until the server closes the connection and returns how
// long that took.
func (c *rawClient) waitClosed(timeout time.Duration) time.Duration {
	c.t.Helper()
	start := time.Now()
	_ = c.nc.SetReadDeadline(start.Add(timeout))
	_, err := io.Copy(io.Discard, c.nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("server did not close the connection within %v", timeout)
	}
	return time.Since(start)
}

// commandsUntilClosed returns the names of the commands the server sent
// before it closed the connection.
func (c *rawClient) commandsUntilClosed() []string {
	c.t.Helper()
	var names []string
	for {
		cmd, err := c.readCommand()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatalf("server did not close the connection")
			}
			return names
		}
		names = append(names, cmd.name)
	}
}

const badHTTP = "GET /live/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/8.0\r\n\r\n"

// TestServerBadInput runs misbehaving clients against a server carrying a
// good stream: each ends only its own connection, with one log line that
// names the cause, and the good publisher and player keep going.
func TestServerBadInput(t *testing.T) {
	ts := startServer(t, engine.DefaultConfig(), func(s *Server) { s.HandshakeTimeout = 300 * time.Millisecond })
	pub := startGoodPublisher(t, ts.url(t, "live", "good"))
	pl := startPlayer(t, ts.url(t, "live", "good"))
	requireFlowing(t, pub, pl)

	t.Run("garbage instead of a handshake", func(t *testing.T) {
		c := dialRaw(t, ts.addr, false)
		c.write([]byte(badHTTP))
		c.waitClosed(3 * time.Second)
		ts.requireClosedWithError(t, c.local(), "invalid rtmp version (71)", true)
		requireFlowing(t, pub, pl)
	})

	t.Run("garbage after the handshake", func(t *testing.T) {
		c := dialRaw(t, ts.addr, true)
		c.write([]byte(badHTTP))
		c.waitClosed(3 * time.Second)
		// 'G' is a type 1 chunk header on chunk stream 7
		ts.requireClosedWithError(t, c.local(), "chunk type 1 on chunk stream 7 without a previous header", true)
		requireFlowing(t, pub, pl)
	})

	t.Run("huge chunk size and message", func(t *testing.T) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		before := ms.HeapAlloc

		// The message the spec allows at most (16 MiB - 1) is over the
		// limit; messages under the limit are announced and never sent.
		c := dialRaw(t, ts.addr, true)
		c.write(cat(AppendMessage(nil, 2, MsgSetChunkSize, 0, 0, u32(0x7fffffff), 128),
			type0(6, 0, 0xffffff, MsgVideo, 1), pattern(100, 0)))
		var holders []*rawClient
		for range 8 {
			h := dialRaw(t, ts.addr, true)
			h.write(cat(AppendMessage(nil, 2, MsgSetChunkSize, 0, 0, u32(0x7fffffff), 128),
				type0(6, 0, uint32(ts.srv.Limits.MaxMessageSize), MsgVideo, 1), pattern(100, 0)))
			holders = append(holders, h)
		}
		var peak uint64
		for range 10 {
			time.Sleep(15 * time.Millisecond)
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
		if growth := int64(peak) - int64(before); growth > 32<<20 {
			t.Errorf("heap grew by %d MiB while peers announced messages they never sent", growth>>20)
		}
		c.waitClosed(3 * time.Second)
		ts.requireClosedWithError(t, c.local(), "message of 16777215 bytes (limit 8388608)", true)
		for _, h := range holders {
			h.waitClosed(3 * time.Second)
			ts.requireClosedWithError(t, h.local(), "timeout", true)
		}
		requireFlowing(t, pub, pl)
	})

	t.Run("handshake stalls", func(t *testing.T) {
		c := dialRaw(t, ts.addr, false)
		c.write(append([]byte{3}, make([]byte, 768)...)) // C0 and half of C1
		// At the 300ms handshake timeout, not the default 10 s: the
		// upper bound tells the two apart, a slow machine does not reach
		// it.
		took := c.waitClosed(10 * time.Second)
		if took < 250*time.Millisecond || took > 5*time.Second {
			t.Errorf("closed after %v, want about the 300ms handshake timeout", took)
		}
		ts.requireClosedWithError(t, c.local(), "timeout", true)
		requireFlowing(t, pub, pl)
	})

	for _, tc := range []struct {
		name  string
		body  []byte
		cause string
	}{
		{"malformed av1C", append([]byte{0x80 | 1<<4 | 0, 'a', 'v', '0', '1'}, pattern(50, 0)...), "av1C marker/version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, ts.addr, true)
			info := c.publish("live", "bad")
			if code, _ := info.GetString("code"); code != "NetStream.Publish.Start" {
				t.Fatalf("publish answered %v", info)
			}
			c.write(AppendMessage(nil, 6, MsgVideo, 1, 0, tc.body, 128))
			c.waitClosed(3 * time.Second)
			ts.requireClosedWithError(t, c.local(), tc.cause, false)
			requireFlowing(t, pub, pl)
		})
	}

	// A codec mediakit does not carry is left out with a warning; the
	// session goes on until the publisher stops.
	for _, tc := range []struct {
		name, media string
		body        []byte
	}{
		{"unknown legacy video codec", "video codec id 4", append([]byte{0x14, 0, 0, 0, 0}, pattern(50, 0)...)},
		{"unknown enhanced video codec", "video FourCC vvc1", append([]byte{0x80 | 1<<4 | 0, 'v', 'v', 'c', '1'}, pattern(50, 0)...)},
		{"unknown audio codec", "audio sound format 11", []byte{0xb2, 1, 2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, ts.addr, true)
			info := c.publish("live", "unsupported")
			if code, _ := info.GetString("code"); code != "NetStream.Publish.Start" {
				t.Fatalf("publish answered %v", info)
			}
			msgType := MsgVideo
			if strings.HasPrefix(tc.media, "audio") {
				msgType = MsgAudio
			}
			c.write(AppendMessage(nil, 6, msgType, 1, 0, tc.body, 128))
			deadline := time.Now().Add(3 * time.Second)
			for !ts.logged(c.local(), "media", tc.media) {
				if time.Now().After(deadline) {
					t.Fatalf("no warning naming %q: %v", tc.media, ts.logs.records(c.local()))
				}
				time.Sleep(10 * time.Millisecond)
			}
			c.command(3, 1, "deleteStream", float64(0), nil, float64(1))
			c.waitClosed(3 * time.Second)
			for _, rec := range ts.logs.records(c.local()) {
				if _, ok := rec["error"]; ok {
					t.Errorf("session ended with an error: %v", rec)
				}
			}
			requireFlowing(t, pub, pl)
		})
	}

	t.Run("deeply nested connect", func(t *testing.T) {
		nested := amf0.Object{{Key: "x", Value: "y"}}
		for range 99 {
			nested = amf0.Object{{Key: "n", Value: nested}}
		}
		c := dialRaw(t, ts.addr, true)
		c.command(3, 0, "connect", float64(1), amf0.Object{
			{Key: "app", Value: "live"},
			{Key: "tcUrl", Value: "rtmp://127.0.0.1/live"},
			{Key: "nested", Value: nested},
		})
		if names := c.commandsUntilClosed(); len(names) != 0 {
			t.Errorf("server answered %v", names)
		}
		ts.requireClosedWithError(t, c.local(), "nests deeper than 32 levels", true)
		requireFlowing(t, pub, pl)
	})

	t.Run("oversized command", func(t *testing.T) {
		long := strings.Repeat("x", 40000)
		c := dialRaw(t, ts.addr, true)
		c.command(3, 0, "connect", float64(1), amf0.Object{
			{Key: "app", Value: "live"},
			{Key: "a", Value: long},
			{Key: "b", Value: long},
		})
		if names := c.commandsUntilClosed(); len(names) != 0 {
			t.Errorf("server answered %v", names)
		}
		ts.requireClosedWithError(t, c.local(), "AMF message of 80", true)
		requireFlowing(t, pub, pl)
	})

	if n := ts.srv.Sessions(); n != 2 {
		t.Errorf("%d sessions left, want the good publisher and player", n)
	}
}

// TestSecondPublisherRefused: a second publisher on a live stream gets
// NetStream.Publish.BadName at once, and the first keeps publishing.
func TestSecondPublisherRefused(t *testing.T) {
	ts := startServer(t, engine.DefaultConfig(), nil)
	pub := startGoodPublisher(t, ts.url(t, "live", "dup"))
	pl := startPlayer(t, ts.url(t, "live", "dup"))
	requireFlowing(t, pub, pl)

	c := dialRaw(t, ts.addr, true)
	info := c.publish("live", "dup")
	level, _ := info.GetString("level")
	code, _ := info.GetString("code")
	desc, _ := info.GetString("description")
	if level != "error" || code != "NetStream.Publish.BadName" || !strings.Contains(desc, "Already publishing") {
		t.Errorf("second publisher got %s %s %q, want error NetStream.Publish.BadName", level, code, desc)
	}
	c.waitClosed(3 * time.Second)
	ts.requireClosedWithError(t, c.local(), engine.ErrAlreadyPublishing.Error(), true)

	// the same through an independent client
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	second := &gortmplib.Client{URL: ts.url(t, "live", "dup"), Publish: true}
	err := second.Initialize(ctx)
	if err == nil {
		second.Close()
		t.Fatal("gortmplib client published on a live stream")
	}
	if !strings.Contains(err.Error(), "NetStream.Publish.BadName") {
		t.Errorf("gortmplib client: %v, want NetStream.Publish.BadName", err)
	}

	requireFlowing(t, pub, pl)
	info2, live, err := ts.eng.Stream(context.Background(), engine.NewKey("", "live", "dup"))
	if err != nil || !live {
		t.Fatalf("stream: live %v, %v", live, err)
	}
	if want := pub.client.NetConn().LocalAddr().String(); info2.Publisher == nil || info2.Publisher.Remote != want {
		t.Errorf("publisher %+v, want the first one (%s)", info2.Publisher, want)
	}
	if info2.Publishers != 1 {
		t.Errorf("%d publishers over the stream's life, want 1", info2.Publishers)
	}
}

func TestStreamKey(t *testing.T) {
	for _, tc := range []struct {
		app, appQuery, name string
		want                engine.Key
		params              string
	}{
		{app: "live", name: "stream", want: engine.NewKey("", "live", "stream")},
		{app: "live", name: "a/b", want: engine.NewKey("", "live", "a/b")},
		{app: "live", name: "stream?vhost=v1&token=t", want: engine.NewKey("v1", "live", "stream"), params: "vhost=v1&token=t"},
		{app: "live", appQuery: "vhost=v2", name: "stream?token=t", want: engine.NewKey("v2", "live", "stream"), params: "vhost=v2&token=t"},
		// gortmplib sends rtmp://host/app/stream as app "app/stream" and
		// an empty stream name
		{app: "live/stream", name: "", want: engine.NewKey("", "live", "stream")},
		{app: "live/a/b", appQuery: "vhost=v3", name: "", want: engine.NewKey("v3", "live", "a/b"), params: "vhost=v3"},
		{app: "live", name: "", want: engine.NewKey("", "live", "")},
	} {
		c := &conn{app: tc.app, appQuery: tc.appQuery}
		key, params := c.streamKey(tc.name)
		if key != tc.want || params != tc.params {
			t.Errorf("app %q?%s name %q: %v %q, want %v %q", tc.app, tc.appQuery, tc.name, key, params, tc.want, tc.params)
		}
	}
}

// TestPublishCommandDuringSession: publish or play sent by a connection
// that is already publishing must not start another session on it (each
// would nest inside the first and hold another stream).
func TestPublishCommandDuringSession(t *testing.T) {
	ts := startServer(t, engine.DefaultConfig(), nil)
	c := dialRaw(t, ts.addr, true)
	if code, _ := c.publish("live", "first").GetString("code"); code != "NetStream.Publish.Start" {
		t.Fatalf("publish answered %s", code)
	}
	for i := range 5 {
		c.command(8, 1, "publish", float64(4+i), nil, fmt.Sprintf("extra%d", i), "live")
	}
	c.command(8, 1, "play", float64(10), nil, "first")
	// a message after the commands proves they were all read
	c.command(3, 0, "releaseStream", float64(11), nil, "first")
	c.expect("_result")
	streams, err := ts.eng.Streams(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(streams) != 1 || streams[0].Key.Stream != "first" {
		t.Errorf("streams %v, want only live/first", streams)
	}
}
