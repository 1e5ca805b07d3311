package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/config"
)

// Hostile input against the real server (issue 18, item 3): slowloris on
// every listener, oversize messages, headers and bodies. Path traversal
// is in traversal_test.go.

// startTunedServer is startServer with a hook on the Server between New
// and Start, for settings the configuration does not carry (the RTSP
// idle timeout).
func startTunedServer(t *testing.T, mutate func(*config.Config), tune func(*Server)) *testServer {
	t.Helper()
	cfg := config.Default()
	cfg.RTMP.Addr = "127.0.0.1:0"
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.RTPProxy.Addr = "127.0.0.1:0"
	cfg.RTSP.Addr = "127.0.0.1:0"
	cfg.RTSP.RTPAddr, cfg.RTSP.RTCPAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.General.DataDir = t.TempDir()
	cfg.Protocol.ContinuePush = time.Second
	cfg.General.MaxStreamWait = 15 * time.Second
	if mutate != nil {
		mutate(cfg)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := New(cfg, Options{Log: log, Version: "test"})
	if tune != nil {
		tune(s)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, rtmpURL: "rtmp://" + s.RTMPAddr(), httpURL: "http://" + s.HTTPAddr(), logs: logs}
	t.Cleanup(func() {
		ts.stop(t)
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return ts
}

// rawRTMPHandshake dials addr and does the plain RTMP handshake (C0 C1,
// S0 S1 S2, C2), leaving the connection where chunks begin.
func rawRTMPHandshake(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c0c1 := make([]byte, 1+1536)
	c0c1[0] = 3
	_, _ = rand.Read(c0c1[9:])
	if _, err := c.Write(c0c1); err != nil {
		t.Fatal(err)
	}
	s := make([]byte, 1+1536+1536)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, s); err != nil {
		t.Fatalf("rtmp handshake: %v", err)
	}
	_ = c.SetReadDeadline(time.Time{})
	if _, err := c.Write(s[1 : 1+1536]); err != nil { // C2 echoes S1
		t.Fatal(err)
	}
	return c
}

// chunkHeader is a type 0 chunk header on chunk stream csid (2..63) for a
// message of length bytes and type typ.
func chunkHeader(csid byte, length int, typ byte) []byte {
	h := []byte{csid & 0x3f, 0, 0, 0, byte(length >> 16), byte(length >> 8), byte(length), typ, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(h[8:], 1)
	return h
}

// closedWithin reports whether the peer closes c (a read returns an
// error other than a timeout) within d, discarding what it sends.
func closedWithin(c net.Conn, d time.Duration) bool {
	deadline := time.Now().Add(d)
	buf := make([]byte, 4096)
	for {
		_ = c.SetReadDeadline(deadline)
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return false
		}
		return true
	}
}

// slowConn is one slowloris connection: it sends prefix, then trickle one
// byte every interval, until the server closes it; lifetime is how long
// the server kept it.
type slowConn struct {
	listener, kind string
	lifetime       time.Duration
	closed         bool
}

func runSlowConn(ctx context.Context, addr string, prefix, trickle []byte, interval time.Duration) (time.Duration, bool) {
	start := time.Now()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, false
	}
	defer c.Close()
	closedCh := make(chan struct{})
	go func() {
		defer close(closedCh)
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
	if len(prefix) > 0 {
		if _, err := c.Write(prefix); err != nil {
			<-closedCh
			return time.Since(start), true
		}
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-closedCh:
			return time.Since(start), true
		case <-ctx.Done():
			return time.Since(start), false
		case <-tick.C:
			if len(trickle) > 0 {
				// A write to a connection the server closed fails only
				// after the reset: the reader tells the close first.
				_, _ = c.Write(trickle[i%len(trickle) : i%len(trickle)+1])
			}
		}
	}
}

// TestSlowlorisEveryListener: connections that send nothing, or their
// handshake or request a byte at a time, on RTMP, HTTP and RTSP are
// closed by the handshake (RTMP, HTTP) and first-request (RTSP)
// timeouts; while dozens of them hang on, a real publisher and players
// are served; and once they are cut, every connection slot is free again.
//
// Not parallel: it bounds how long after its timeout a connection is cut,
// which a loaded machine would stretch.
func TestSlowlorisEveryListener(t *testing.T) {
	slowloris(t, 2*time.Second, 4, 0)
}

// TestSoakSlowloris is the long version (make soak): 100 connections of
// each kind against the default timeouts (RTMP 15 s, HTTP 10 s, RTSP
// 60 s) for two minutes, real clients playing throughout.
func TestSoakSlowloris(t *testing.T) {
	if os.Getenv("MEDIAKIT_SOAK") == "" {
		t.Skip("set MEDIAKIT_SOAK=1 (make soak)")
	}
	slowloris(t, 0, 100, 2*time.Minute)
}

// slowloris runs the attacks, perAttack connections of each kind, for at
// least soak, against handshake and first-request timeouts of timeout on
// every listener (0: the defaults).
func slowloris(t *testing.T, timeout time.Duration, perAttack int, soak time.Duration) {
	testutil.RequireFFmpeg(t)
	ts := startTunedServer(t, func(c *config.Config) {
		if timeout > 0 {
			c.RTMP.Handshake = timeout
			c.HTTP.Handshake = timeout
		}
	}, func(s *Server) {
		if timeout > 0 {
			s.rtsp.IdleTimeout = timeout
		}
	})
	timeouts := map[string]time.Duration{"rtmp": ts.Config().RTMP.Handshake, "http": ts.Config().HTTP.Handshake, "rtsp": ts.rtsp.IdleTimeout}
	longest := max(timeouts["rtmp"], timeouts["http"], timeouts["rtsp"])
	rtmpAddr, httpAddr, rtspAddr := ts.RTMPAddr(), ts.HTTPAddr(), ts.RTSPAddr()

	// The RTMP handshake's first bytes (C0 C1; C2 follows for the
	// attack that completes it), then a command chunk. Every trickle is
	// longer than the longest timeout takes to send at 10 bytes a
	// second, so that a connection is cut for being slow, not for a
	// request that ended malformed.
	long := strings.Repeat("a", 1000)
	c0c1 := append([]byte{3}, make([]byte, 1536)...)
	attacks := []struct {
		listener, kind, addr string
		prefix, trickle      []byte
	}{
		{"rtmp", "nothing", rtmpAddr, nil, nil},
		{"rtmp", "C0 C1 a byte at a time", rtmpAddr, nil, c0c1},
		{"rtmp", "a command a byte at a time after the handshake", rtmpAddr, append(slices.Clone(c0c1), make([]byte, 1536)...),
			append(chunkHeader(3, 1000, 20), make([]byte, 1000)...)},
		{"http", "nothing", httpAddr, nil, nil},
		{"http", "request line a byte at a time", httpAddr, nil, []byte("GET /live/" + long + ".live.flv HTTP/1.1\r\n")},
		{"http", "headers without end", httpAddr, []byte("GET /healthz HTTP/1.1\r\nHost: x\r\n"), []byte("X-Slow: aaaaaaaaaaaaaaaaaaaaaa\r\n")},
		{"rtsp", "nothing", rtspAddr, nil, nil},
		{"rtsp", "three bytes", rtspAddr, []byte("OPT"), nil},
		{"rtsp", "request a byte at a time", rtspAddr, nil, []byte("OPTIONS rtsp://127.0.0.1/live/" + long + " RTSP/1.0\r\nCSeq: 1\r\n")},
		{"rtsp", "HTTP tunnel request a byte at a time", rtspAddr, []byte("GET /live/x HTTP/1.1\r\n"), []byte("X-Sessioncookie: abcdef\r\n")},
	}
	baseline := ts.limiter.Active()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second+soak+3*longest)
	defer cancel()
	// Each attack keeps perAttack connections going, opening a new one
	// when the server cuts one, until the real clients are done.
	attackCtx, stopAttack := context.WithCancel(ctx)
	var mu sync.Mutex
	var results []slowConn
	var wg sync.WaitGroup
	for _, a := range attacks {
		for range perAttack {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for attackCtx.Err() == nil {
					d, closed := runSlowConn(attackCtx, a.addr, a.prefix, a.trickle, 100*time.Millisecond)
					mu.Lock()
					results = append(results, slowConn{listener: a.listener, kind: a.kind, lifetime: d, closed: closed})
					mu.Unlock()
				}
			}()
		}
	}
	testutil.Eventually(t, 10*time.Second, "the slow connections to be open", func() bool {
		// Most of them at once: a cut one is reopened at once, but a
		// loaded machine may be between the two.
		return ts.limiter.Active() >= baseline+int64(len(attacks)*perAttack*3/4)
	})
	soakEnd := time.Now().Add(soak)

	// Real clients meanwhile: an ffmpeg publisher, an RTMP and an
	// HTTP-FLV player, an RTSP DESCRIBE; over again until soak is over.
	pub := testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/real", true)
	waitStream(t, ts, "live/real")
	for round := 0; round == 0 || time.Now().Before(soakEnd); round++ {
		for _, u := range []string{ts.rtmpURL + "/live/real", ts.httpURL + "/live/real.live.flv"} {
			pctx, pcancel := context.WithTimeout(ctx, 15*time.Second)
			p, err := testutil.FFprobe(pctx, t, u, "-read_intervals", "%+1")
			pcancel()
			if err != nil || p.Video() == nil || p.Video().NbReadFrames < 10 {
				t.Errorf("player %s during the attack: %v %+v", u, err, p)
			}
		}
		rc, err := net.Dial("tcp", rtspAddr)
		if err != nil {
			t.Fatal(err)
		}
		res := srvDescribe(t, rc, "rtsp://"+rtspAddr+"/live/real")
		rc.Close()
		if !strings.HasPrefix(res, "RTSP/1.0 200") {
			t.Errorf("RTSP DESCRIBE during the attack: %.200q", res)
		}
		if round%10 == 0 {
			t.Logf("round %d: %d connections open, heap %d MiB", round, ts.limiter.Active(), heapInUse()>>20)
		}
	}
	pub.Stop()

	uncut := func() []string {
		mu.Lock()
		defer mu.Unlock()
		cut := map[string]bool{}
		for _, r := range results {
			if r.closed {
				cut[r.listener+" "+r.kind] = true
			}
		}
		var out []string
		for _, a := range attacks {
			if !cut[a.listener+" "+a.kind] {
				out = append(out, a.listener+" "+a.kind)
			}
		}
		return out
	}
	if !testutil.Poll(3*longest+5*time.Second, func() bool { return len(uncut()) == 0 }) {
		t.Errorf("never cut in %v with timeouts of %v: %q", 3*longest+5*time.Second, timeouts, uncut())
	}
	stopAttack()
	wg.Wait()
	// The slots of the slow connections are released.
	testutil.Eventually(t, 10*time.Second, "connection slots back to the baseline", func() bool { return ts.limiter.Active() <= baseline })

	mu.Lock()
	defer mu.Unlock()
	// Generous bound: the timeout, plus a loaded machine's scheduling; a
	// connection never cut would have lived the whole attack.
	for _, r := range results {
		if limit := timeouts[r.listener] + 3*time.Second; r.closed && r.lifetime > limit {
			t.Errorf("%s %s: held %v, past the %v timeout", r.listener, r.kind, r.lifetime.Round(time.Millisecond), timeouts[r.listener])
		}
	}
	for _, a := range attacks {
		n, shortest, longest := 0, time.Duration(math.MaxInt64), time.Duration(0)
		for _, r := range results {
			if r.listener == a.listener && r.kind == a.kind && r.closed {
				n++
				shortest, longest = min(shortest, r.lifetime), max(longest, r.lifetime)
			}
		}
		t.Logf("%s %s: %d connections cut after %v to %v", a.listener, a.kind, n, shortest.Round(10*time.Millisecond), longest.Round(10*time.Millisecond))
		// Cut well before its timeout, a connection was refused for
		// what it sent: it tested nothing slow.
		if n > 0 && shortest < timeouts[a.listener]/2 {
			t.Errorf("%s %s: cut after %v, before the %v timeout", a.listener, a.kind, shortest, timeouts[a.listener])
		}
	}
}

// srvDescribe sends an RTSP DESCRIBE on c and returns the response head.
func srvDescribe(t *testing.T, c net.Conn, u string) string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "DESCRIBE %s RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n", u)
	br := bufio.NewReader(c)
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		head.WriteString(line)
		if err != nil || line == "\r\n" {
			return head.String()
		}
	}
}

// heapInUse is the heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestOversizeInputs: an RTMP message past the 8 MiB limit, more chunk
// streams than allowed, partial messages past 16 MiB; RTSP request lines,
// header lines, header counts and bodies past gortsplib's limits; HTTP
// heads past 64 KiB and API bodies past 1 MiB: each is refused or its
// connection closed, without the memory it announces, while a stream
// published meanwhile goes on.
//
// Not parallel: the heap it bounds is the whole process's.
func TestOversizeInputs(t *testing.T) {
	testutil.RequireFFmpeg(t)
	ts := startServer(t, nil)
	pub := testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/calm", true)
	defer pub.Stop()
	waitStream(t, ts, "live/calm")
	before := heapInUse()

	t.Run("rtmp message past 8 MiB", func(t *testing.T) {
		c := rawRTMPHandshake(t, ts.RTMPAddr())
		// A video message announcing 16 MiB - 1: refused at its header.
		if _, err := c.Write(chunkHeader(6, 0xffffff, 9)); err != nil {
			t.Fatal(err)
		}
		if !closedWithin(c, 5*time.Second) {
			t.Error("connection still open after a 16 MiB message header")
		}
	})
	t.Run("rtmp 40 chunk streams", func(t *testing.T) {
		c := rawRTMPHandshake(t, ts.RTMPAddr())
		// A message of 200 bytes begun (first 128-byte chunk) on each of
		// 40 chunk streams, none finished.
		var b []byte
		for csid := byte(3); csid < 43; csid++ {
			b = append(b, chunkHeader(csid, 200, 9)...)
			b = append(b, make([]byte, 128)...)
		}
		_, _ = c.Write(b)
		if !closedWithin(c, 5*time.Second) {
			t.Error("connection still open with 40 chunk streams in use")
		}
	})
	t.Run("rtmp partial messages past 16 MiB", func(t *testing.T) {
		c := rawRTMPHandshake(t, ts.RTMPAddr())
		// Set Chunk Size 1 MiB, then three 7 MiB messages of which six
		// chunks each are sent: 18 MiB held if nothing stopped it.
		setChunk := append(chunkHeader(2, 4, 1), 0, 0x10, 0, 0)
		if _, err := c.Write(setChunk); err != nil {
			t.Fatal(err)
		}
		const size, chunk = 7 << 20, 1 << 20
		body := make([]byte, chunk)
		sent := 0
		var werr error
		for csid := byte(4); csid < 7 && werr == nil; csid++ {
			for i := 0; i < 6 && werr == nil; i++ {
				hdr := []byte{0xc0 | csid} // type 3: the next chunk of the message
				if i == 0 {
					hdr = chunkHeader(csid, size, 9)
				}
				var n int
				n, werr = c.Write(append(hdr, body...))
				sent += n
			}
		}
		if !closedWithin(c, 10*time.Second) {
			t.Errorf("connection still open after %d bytes of partial messages", sent)
		}
	})
	t.Run("rtsp", func(t *testing.T) {
		addr := ts.RTSPAddr()
		for _, tc := range []struct{ name, req string }{
			{"URL of 10 KiB", "OPTIONS rtsp://127.0.0.1/" + strings.Repeat("a", 10<<10) + " RTSP/1.0\r\nCSeq: 1\r\n\r\n"},
			{"header value of 100 KiB", "OPTIONS rtsp://127.0.0.1/live/calm RTSP/1.0\r\nCSeq: 1\r\nX-Big: " + strings.Repeat("b", 100<<10) + "\r\n\r\n"},
			{"1000 headers", "OPTIONS rtsp://127.0.0.1/live/calm RTSP/1.0\r\nCSeq: 1\r\n" + strings.Repeat("X-H: v\r\n", 1000) + "\r\n"},
			{"body of 64 MiB announced", "ANNOUNCE rtsp://127.0.0.1/live/big RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: 67108864\r\n\r\nv=0\r\n"},
		} {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			// The server may close before the request is all written.
			go func() { _, _ = io.WriteString(c, tc.req) }()
			if !closedWithin(c, 5*time.Second) {
				t.Errorf("%s: connection still open", tc.name)
			}
			c.Close()
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if res := srvDescribe(t, c, "rtsp://"+addr+"/live/calm"); !strings.HasPrefix(res, "RTSP/1.0 200") {
			t.Errorf("DESCRIBE after the oversize requests: %.200q", res)
		}
	})
	t.Run("http head past 64 KiB", func(t *testing.T) {
		c, err := net.Dial("tcp", ts.HTTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() {
			_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("c", 200<<10)+"\r\n\r\n")
		}()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d, want 431", resp.StatusCode)
		}
	})
	t.Run("api body past 1 MiB", func(t *testing.T) {
		for _, tc := range []struct{ ctype, body string }{
			{"application/json", `{"app":"` + strings.Repeat("d", 2<<20) + `"}`},
			{"application/x-www-form-urlencoded", "app=" + strings.Repeat("d", 2<<20)},
		} {
			resp, err := http.Post(ts.httpURL+"/index/api/getMediaList", tc.ctype, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"code":-300`) {
				t.Errorf("%s body of 2 MiB: %d %.200s", tc.ctype, resp.StatusCode, body)
			}
		}
	})
	t.Run("api body of 256 MiB announced", func(t *testing.T) {
		// The server must answer, and close, without reading it all.
		c, err := net.Dial("tcp", ts.HTTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /index/api/getMediaList HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", 256<<20)
		var sent int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			chunk := bytes.Repeat([]byte("e"), 64<<10)
			for sent < 256<<20 {
				_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				n, err := c.Write(chunk)
				sent += int64(n)
				if err != nil {
					return
				}
			}
		}()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `"code":-300`) {
			t.Errorf("reply %d %.200s", resp.StatusCode, body)
		}
		<-done
		if sent >= 256<<20 {
			t.Errorf("the server read the whole 256 MiB body")
		}
		t.Logf("%d MiB sent before the server closed", sent>>20)
	})

	if grown := int64(heapInUse()) - int64(before); grown > 48<<20 {
		t.Errorf("heap grew by %d MiB across the oversize inputs", grown>>20)
	}
	// The stream published meanwhile is still served.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	p, err := testutil.FFprobe(ctx, t, ts.httpURL+"/live/calm.live.flv", "-read_intervals", "%+1")
	if err != nil || p.Video() == nil || p.Video().NbReadFrames < 10 {
		t.Errorf("player after the oversize inputs: %v %+v", err, p)
	}
	if code, _ := ts.get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("healthz %d", code)
	}
}
