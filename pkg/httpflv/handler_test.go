package httpflv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
)

const testOrigin = "http://player.example"

// TestHTTPFLVEndToEnd plays the whole clip over HTTP-FLV to players that
// attached before the publisher and checks the response byte for byte.
func TestHTTPFLVEndToEnd(t *testing.T) {
	t.Run("raw", func(t *testing.T) {
		ts := newTestServer(t, testConfig())
		key := engine.NewKey("", "live", "e2e")
		path := "/live/e2e.live.flv"

		// One player sends an Origin, the other does not.
		withOrigin := sendRequest(t, ts.addr, http.MethodGet, path, "HTTP/1.1", "Origin: "+testOrigin)
		noOrigin := sendRequest(t, ts.addr, http.MethodGet, path, "HTTP/1.1")
		ts.waitWaiting(t, 2)

		pub := publishClip(t, ts.e, key)
		closed := time.Now()
		pub.Close()

		var bodies [][]byte
		for i, conn := range []net.Conn{withOrigin, noOrigin} {
			r := readHead(t, conn)
			if r.proto != "HTTP/1.1" || r.status != http.StatusOK {
				t.Fatalf("player %d: %s %d, want HTTP/1.1 200\n%s", i, r.proto, r.status, r.head)
			}
			for name, want := range map[string]string{
				"Content-Type":      "video/x-flv",
				"Transfer-Encoding": "chunked",
				"Cache-Control":     "no-cache",
				"Connection":        "close",
			} {
				if got := r.header.Get(name); got != want {
					t.Errorf("player %d: %s %q, want %q", i, name, got, want)
				}
			}
			if r.header.Get("Content-Length") != "" {
				t.Errorf("player %d: Content-Length %q on a live stream", i, r.header.Get("Content-Length"))
			}
			if i == 0 {
				if got := r.header.Get("Access-Control-Allow-Origin"); got != testOrigin {
					t.Errorf("Access-Control-Allow-Origin %q, want the Origin %q", got, testOrigin)
				}
				if got := r.header.Get("Access-Control-Allow-Credentials"); got != "true" {
					t.Errorf("Access-Control-Allow-Credentials %q, want true", got)
				}
			} else {
				if got := r.header.Get("Access-Control-Allow-Origin"); got != "*" {
					t.Errorf("without Origin: Access-Control-Allow-Origin %q, want *", got)
				}
				if got := r.header.Get("Access-Control-Allow-Credentials"); got != "" {
					t.Errorf("without Origin: Access-Control-Allow-Credentials %q, want none", got)
				}
			}
			body, cr := r.readChunkedBody(t)
			if i == 0 {
				if d := time.Since(closed); d < testConfig().ContinuePush {
					t.Errorf("body ended %v after the publisher left, before the %v grace period", d, testConfig().ContinuePush)
				}
			}
			t.Logf("player %d: %d bytes in %d chunks", i, len(body), cr.chunks)
			checkClipStream(t, body)
			bodies = append(bodies, body)
		}
		if !bytes.Equal(bodies[0], bodies[1]) {
			t.Errorf("the two players got different bytes (%d and %d)", len(bodies[0]), len(bodies[1]))
		}
		ts.waitIdle(t, 10*time.Second)
		ended := ts.logs.ended()
		if len(ended) != 2 {
			t.Fatalf("%d sessions logged as ended, want 2: %v", len(ended), ended)
		}
		for _, rec := range ended {
			if rec["reason"] != "stream ended: publisher did not return" || rec["protocol"] != "http-flv" {
				t.Errorf("session ended with %v, want an http-flv session ended with its stream", rec)
			}
		}
	})

	t.Run("ffprobe", func(t *testing.T) {
		testutil.RequireFFmpeg(t)
		ts := newTestServer(t, testConfig())
		key := engine.NewKey("", "live", "probe")
		url := ts.url("/live/probe.live.flv")

		type result struct {
			p   *testutil.Probe
			err error
		}
		done := make(chan result, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		go func() {
			p, err := testutil.FFprobe(ctx, t, url)
			done <- result{p, err}
		}()
		ts.waitWaiting(t, 1)
		pub := publishClip(t, ts.e, key)
		pub.Close()
		res := <-done
		if res.err != nil {
			t.Fatal(res.err)
		}
		p := res.p
		if p.Format.FormatName != "flv" {
			t.Errorf("format %q, want flv", p.Format.FormatName)
		}
		v, a := p.Video(), p.Audio()
		if v == nil || a == nil {
			t.Fatalf("streams %+v, want video and audio", p.Streams)
		}
		if v.CodecName != "h264" || v.Width != 320 || v.Height != 240 || v.NbReadFrames != clipVideoFrames {
			t.Errorf("video %s %dx%d, %d frames; want h264 320x240, %d frames", v.CodecName, v.Width, v.Height, v.NbReadFrames, clipVideoFrames)
		}
		if a.CodecName != "aac" || a.SampleRate != 44100 || a.Channels != 2 || a.NbReadFrames != clipAudioFrames {
			t.Errorf("audio %s %d Hz x%d, %d frames; want aac 44100 Hz x2, %d frames", a.CodecName, a.SampleRate, a.Channels, a.NbReadFrames, clipAudioFrames)
		}
		if len(p.Streams) != 2 {
			t.Errorf("%d streams, want 2 (a script tag read as a data stream?)", len(p.Streams))
		}
	})
}

// TestHTTP10RawBody: an HTTP/1.0 client cannot read chunked encoding; it
// gets the bare FLV, ended by closing the connection.
func TestHTTP10RawBody(t *testing.T) {
	ts := newTestServer(t, testConfig())
	conn := sendRequest(t, ts.addr, http.MethodGet, "/live/old.flv?vhost=v1", "HTTP/1.0")
	ts.waitWaiting(t, 1)
	pub := publishClip(t, ts.e, engine.NewKey("v1", "live", "old"))
	closed := time.Now()
	pub.Close()

	r := readHead(t, conn)
	if r.proto != "HTTP/1.0" || r.status != http.StatusOK {
		t.Fatalf("%s %d, want HTTP/1.0 200\n%s", r.proto, r.status, r.head)
	}
	if te := r.header.Get("Transfer-Encoding"); te != "" {
		t.Errorf("Transfer-Encoding %q in an HTTP/1.0 response", te)
	}
	if ct := r.header.Get("Content-Type"); ct != "video/x-flv" {
		t.Errorf("Content-Type %q", ct)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	body, err := io.ReadAll(r.br)
	if err != nil {
		t.Fatalf("reading the body to the end of the connection: %v", err)
	}
	if d := time.Since(closed); d < testConfig().ContinuePush {
		t.Errorf("connection closed %v after the publisher left, before the grace period", d)
	}
	if bytes.HasSuffix(body, []byte("0\r\n\r\n")) {
		// An FLV tag could end this way only by chance; the clip's last
		// PreviousTagSize does not.
		t.Errorf("raw body ends with a chunked terminator")
	}
	checkClipStream(t, body)
	ts.waitIdle(t, 10*time.Second)
}

// TestHTTPRequestErrors covers everything that is not a GET of a stream.
func TestHTTPRequestErrors(t *testing.T) {
	cfg := testConfig()
	cfg.MaxStreamWait = 200 * time.Millisecond
	ts := newTestServer(t, cfg)
	client := ts.srv.Client()

	do := func(t *testing.T, method, path string, hdr map[string]string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, ts.url(path), nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	t.Run("preflight", func(t *testing.T) {
		resp := do(t, http.MethodOptions, "/live/a.live.flv", map[string]string{
			"Origin":                         testOrigin,
			"Access-Control-Request-Method":  "GET",
			"Access-Control-Request-Headers": "range, x-token",
		})
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("status %d, want 204", resp.StatusCode)
		}
		for name, want := range map[string]string{
			"Access-Control-Allow-Origin":      testOrigin,
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Allow-Methods":     "GET, OPTIONS",
			"Access-Control-Allow-Headers":     "range, x-token",
		} {
			if got := resp.Header.Get(name); got != want {
				t.Errorf("%s %q, want %q", name, got, want)
			}
		}
		if !strings.Contains(resp.Header.Get("Vary"), "Origin") {
			t.Errorf("Vary %q, want Origin (the answer depends on it)", resp.Header.Get("Vary"))
		}
		resp = do(t, http.MethodOptions, "/live/a.live.flv", map[string]string{"Origin": "http://elsewhere.example"})
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("unlisted Origin: Allow-Origin %q, Allow-Credentials %q; want *, none (no credentials for unlisted pages)",
				resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Get("Access-Control-Allow-Credentials"))
		}
		resp = do(t, http.MethodOptions, "/live/a.live.flv", nil)
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("without Origin: %d, Allow-Origin %q; want 204, *", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	})

	t.Run("method", func(t *testing.T) {
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead} {
			resp := do(t, m, "/live/a.live.flv", nil)
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s: status %d, want 405", m, resp.StatusCode)
			}
			if allow := resp.Header.Get("Allow"); allow != "GET, OPTIONS" {
				t.Errorf("%s: Allow %q", m, allow)
			}
		}
	})

	t.Run("not found", func(t *testing.T) {
		for _, path := range []string{
			"/live/a.m3u8", "/a.live.flv", "/live/.live.flv", "/", "/live/a",
			// accepted by ParsePath but not valid stream keys
			"/live//a.live.flv", "/live/a//b.flv", "/live/%2E%2E/a.flv",
		} {
			start := time.Now()
			resp := do(t, http.MethodGet, path, nil)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s: status %d, want 404", path, resp.StatusCode)
			}
			if d := time.Since(start); d >= cfg.MaxStreamWait {
				t.Errorf("%s: answered after %v: a bad path must not wait for a stream", path, d)
			}
		}
	})

	t.Run("never published", func(t *testing.T) {
		before := ts.e.Stats().ReadersNotFound.Load()
		start := time.Now()
		resp := do(t, http.MethodGet, "/live/never.live.flv", nil)
		d := time.Since(start)
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("status %d, want 404", resp.StatusCode)
		}
		// The upper bound only catches a wait that does not end.
		if d < cfg.MaxStreamWait || d > 2*cfg.MaxStreamWait {
			t.Errorf("404 after %v, want after MaxStreamWait (%v)", d, cfg.MaxStreamWait)
		}
		if n := ts.e.Stats().ReadersNotFound.Load() - before; n != 1 {
			t.Errorf("ReadersNotFound went up by %d, want 1", n)
		}
		if n := ts.e.Stats().WaitingReaders.Load(); n != 0 {
			t.Errorf("%d players still waiting", n)
		}
	})

	t.Run("websocket to a missing stream", func(t *testing.T) {
		conn, _ := wsSend(t, ts.addr, "/live/nows.live.flv")
		r := readHead(t, conn)
		if r.status != http.StatusNotFound {
			t.Errorf("status %d, want 404", r.status)
		}
	})
}

// TestPlayerLeavesWhileWaiting: a player that gives up before the stream
// appears stops waiting at once.
func TestPlayerLeavesWhileWaiting(t *testing.T) {
	ts := newTestServer(t, testConfig()) // MaxStreamWait 10s
	conn := sendRequest(t, ts.addr, http.MethodGet, "/live/later.live.flv", "HTTP/1.1")
	ts.waitWaiting(t, 1)
	conn.Close()
	ts.waitWaiting(t, 0)
	if n := ts.e.Stats().Readers.Load(); n != 0 {
		t.Errorf("%d readers attached", n)
	}
}

func TestWebSocketFLV(t *testing.T) {
	t.Run("same bytes as HTTP-FLV", func(t *testing.T) {
		ts := newTestServer(t, testConfig())
		path := "/live/ws.live.flv"
		httpConn := sendRequest(t, ts.addr, http.MethodGet, path, "HTTP/1.1")
		wsConn, wsKey := wsSend(t, ts.addr, path, "Origin: "+testOrigin, "Sec-WebSocket-Protocol: flv, other")
		ts.waitWaiting(t, 2)
		pub := publishClip(t, ts.e, engine.NewKey("", "live", "ws"))
		pub.Close()

		ws := wsHandshake(t, wsConn, wsKey)
		if got := ws.header.Get("Access-Control-Allow-Origin"); got != testOrigin {
			t.Errorf("101: Access-Control-Allow-Origin %q, want %q", got, testOrigin)
		}
		if got := ws.header.Get("Sec-WebSocket-Protocol"); got != "flv" {
			t.Errorf("101: Sec-WebSocket-Protocol %q, want the first offered, flv", got)
		}
		wsData, frames, code := readWSStream(t, ws)
		if code != 1000 {
			t.Errorf("close code %d, want 1000", code)
		}
		ws.expectClosed(t)
		checkClipStream(t, wsData)

		hr := readHead(t, httpConn)
		httpData, _ := hr.readChunkedBody(t)
		if !bytes.Equal(wsData, httpData) {
			t.Errorf("WebSocket-FLV (%d bytes in %d frames) differs from HTTP-FLV (%d bytes)", len(wsData), frames, len(httpData))
		}
		ts.waitIdle(t, 10*time.Second)
		var protocols []string
		for _, rec := range ts.logs.ended() {
			protocols = append(protocols, rec["protocol"])
		}
		if !strings.Contains(strings.Join(protocols, ","), "ws-flv") {
			t.Errorf("ended sessions %v, want a ws-flv one", protocols)
		}
	})

	t.Run("client close releases the reader", func(t *testing.T) {
		ts := newTestServer(t, testConfig())
		pub := publishClip(t, ts.e, engine.NewKey("", "live", "wsclose"))
		defer pub.Close()
		ws := wsDial(t, ts.addr, "/live/wsclose.live.flv")
		// The GOP cache gives a joining player data at once.
		f, err := readWSFrame(ws.br)
		if err != nil || f.op != 2 || !bytes.HasPrefix(f.payload, []byte("FLV")) {
			t.Fatalf("first frame: op %d, %d bytes, %v; want binary FLV", f.op, len(f.payload), err)
		}
		if n := ts.e.Stats().Readers.Load(); n != 1 {
			t.Fatalf("%d readers, want 1", n)
		}
		// The stream is now idle: only the client's Close can end it.
		closeMsg := wsClientFrame(8, []byte{0x03, 0xe8})
		if _, err := ws.conn.Write(closeMsg); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		ts.waitIdle(t, 10*time.Second)
		t.Logf("reader released %v after the client's Close", time.Since(start))
		// The server ends the connection (with or without a Close answer).
		_ = ws.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			f, err := readWSFrame(ws.br)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
					t.Errorf("after Close: %v, want the connection closed", err)
				}
				break
			}
			if f.op == 8 {
				t.Logf("server answered the Close")
			}
		}
	})

	t.Run("ping is ignored", func(t *testing.T) {
		ts := newTestServer(t, testConfig())
		pub := publishClip(t, ts.e, engine.NewKey("", "live", "wsping"))
		ws := wsDial(t, ts.addr, "/live/wsping.live.flv")
		if _, err := ws.conn.Write(wsClientFrame(9, []byte("hi"))); err != nil {
			t.Fatal(err)
		}
		if _, err := ws.conn.Write(wsClientFrame(2, []byte("client data"))); err != nil {
			t.Fatal(err)
		}
		pub.Close()
		data, _, code := readWSStream(t, ws)
		if code != 1000 {
			t.Errorf("close code %d, want 1000", code)
		}
		if !bytes.HasPrefix(data, []byte("FLV")) {
			t.Errorf("stream does not start with an FLV header")
		}
		ts.waitIdle(t, 10*time.Second)
	})

	t.Run("unmasked client frame ends the session", func(t *testing.T) {
		ts := newTestServer(t, testConfig())
		pub := publishClip(t, ts.e, engine.NewKey("", "live", "wsbad"))
		defer pub.Close()
		ws := wsDial(t, ts.addr, "/live/wsbad.live.flv")
		if _, err := ws.conn.Write([]byte{0x82, 0x01, 'x'}); err != nil {
			t.Fatal(err)
		}
		ts.waitIdle(t, 10*time.Second)
	})
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// TestPlayerLeavesDuringGrace: with the publisher gone and nothing being
// written, only the read side can notice a player leaving.
func TestPlayerLeavesDuringGrace(t *testing.T) {
	cfg := testConfig()
	cfg.ContinuePush = 30 * time.Second
	ts := newTestServer(t, cfg)
	conn := sendRequest(t, ts.addr, http.MethodGet, "/live/grace.live.flv", "HTTP/1.1")
	ts.waitWaiting(t, 1)
	pub := publishClip(t, ts.e, engine.NewKey("", "live", "grace"))
	pub.Close()

	r := readHead(t, conn)
	if r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
	fr := flv.NewReader(&chunkedReader{br: r.br}, 0)
	video, audio := 0, 0
	for video < clipVideoFrames || audio < clipAudioFrames {
		tag, err := fr.Next()
		if err != nil {
			t.Fatalf("after %d video and %d audio tags: %v", video, audio, err)
		}
		switch tag.Type {
		case flv.TagVideo:
			video++
		case flv.TagAudio:
			audio++
		}
	}
	// Everything was delivered; the stream waits for its publisher.
	info, ok, err := ts.e.Stream(context.Background(), engine.NewKey("", "live", "grace"))
	if err != nil || !ok || info.State != engine.StateGrace || len(info.Readers) != 1 {
		t.Fatalf("stream %v (ok %v, err %v) with %d readers, want grace with 1", info.State, ok, err, len(info.Readers))
	}
	conn.Close()
	start := time.Now()
	// Not the 30 s grace period: the read side sees the player leave.
	ts.waitIdle(t, 10*time.Second)
	t.Logf("reader released %v after the player left", time.Since(start))
	ended := ts.logs.ended()
	if len(ended) != 1 || ended[0]["reason"] != "player left" {
		t.Errorf("ended sessions %v, want one that says the player left", ended)
	}
}

// TestHandlerCloseEndsSessions: Close ends live sessions of both kinds and
// returns once their goroutines are gone.
func TestHandlerCloseEndsSessions(t *testing.T) {
	ts := newTestServer(t, testConfig())
	pub := publishClip(t, ts.e, engine.NewKey("", "live", "close"))
	defer pub.Close()

	hr := rawRequest(t, ts.addr, http.MethodGet, "/live/close.live.flv", "HTTP/1.1")
	ws := wsDial(t, ts.addr, "/live/close.live.flv")
	if hr.status != http.StatusOK {
		t.Fatalf("status %d", hr.status)
	}
	// Both players get the GOP cache; then the stream is quiet.
	if _, err := io.ReadFull(&chunkedReader{br: hr.br}, make([]byte, 13)); err != nil {
		t.Fatal(err)
	}
	if _, err := readWSFrame(ws.br); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "2 sessions", func() bool { return ts.h.Sessions() == 2 })

	done := make(chan struct{})
	go func() {
		ts.h.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Handler.Close did not return")
	}
	if n := ts.h.Sessions(); n != 0 {
		t.Errorf("%d sessions after Close", n)
	}
	ts.waitIdle(t, 10*time.Second)

	// Both connections were closed (without a clean end of stream).
	for name, r := range map[string]*rawResponse{"http": hr, "ws": ws} {
		_ = r.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.Copy(io.Discard, r.br); err != nil && !isReset(err) {
			t.Errorf("%s: %v, want the connection closed", name, err)
		}
	}

	// A closed handler serves no new session: 503.
	late := sendRequest(t, ts.addr, http.MethodGet, "/live/close.live.flv", "HTTP/1.1")
	_ = late.SetReadDeadline(time.Now().Add(5 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(late), nil); err != nil {
		t.Errorf("request after Close: %v", err)
	} else if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("request after Close: %d, want 503", resp.StatusCode)
	}
	if n := ts.h.Sessions(); n != 0 {
		t.Errorf("%d sessions after Close", n)
	}
	ts.waitIdle(t, 10*time.Second)
}
