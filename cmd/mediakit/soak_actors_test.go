package main

// The actors of TestSoak (soak_test.go): publishers, players, RTP
// cameras, proxies, FFmpeg sources, recorders, API pollers and a slow
// hook server, each a goroutine looping until the run's context ends,
// counting what it did and what went wrong by kind.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	be "encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/internal/backoff"
	"github.com/mediakit/mediakit/internal/gbsender"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/format/ps"
)

// between returns a random duration in [lo, hi).
func between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + mrand.N(hi-lo)
}

// pick returns a random element of xs.
func pick[T any](xs ...T) T { return xs[mrand.IntN(len(xs))] }

// tally counts events by kind.
type tally struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *tally) add(kind string) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[kind]++
	c.mu.Unlock()
}

func (c *tally) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	return out
}

// sum adds the counts of the kinds starting with prefix.
func (c *tally) sum(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.m {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

// latencies records the duration of API calls by name.
type latencies struct {
	mu     sync.Mutex
	byName map[string][]time.Duration
}

func (l *latencies) add(name string, d time.Duration) {
	l.mu.Lock()
	if l.byName == nil {
		l.byName = map[string][]time.Duration{}
	}
	l.byName[name] = append(l.byName[name], d)
	l.mu.Unlock()
}

// of returns the durations of the named calls, sorted.
func (l *latencies) of(names ...string) []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []time.Duration
	for _, n := range names {
		out = append(out, l.byName[n]...)
	}
	slices.Sort(out)
	return out
}

func (l *latencies) names() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for n := range l.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// quantile of sorted durations (nearest rank); 0 when empty.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// digits groups error texts that differ only by numbers (ports, ids).
var digits = regexp.MustCompile(`[0-9]+`)

// errKind shortens an error text into a kind.
func errKind(s string) string {
	s = strings.TrimSpace(digits.ReplaceAllString(s, "N"))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 70 {
		s = s[:70] + "..."
	}
	return s
}

var rtspFailed = regexp.MustCompile(`method (\w+) failed: ([^\n]*)`)

// ffmpegKind classifies how an ffmpeg that exited on its own ended, from
// its stderr.
func ffmpegKind(stderr string) string {
	if m := rtspFailed.FindStringSubmatch(stderr); m != nil {
		return "RTSP " + m[1] + " " + m[2]
	}
	low := strings.ToLower(stderr)
	switch {
	case strings.Contains(low, "already publishing") || strings.Contains(low, "badname"):
		return "refused: already publishing"
	case strings.Contains(low, "badauth") || strings.Contains(low, "403") || strings.Contains(low, "unauthorized") ||
		strings.Contains(low, "operation not permitted"):
		return "denied"
	case strings.Contains(low, "404") || strings.Contains(low, "streamnotfound") || strings.Contains(low, "not found"):
		return "not found"
	case strings.Contains(low, "connection refused"):
		return "connection refused"
	case strings.Contains(low, "timed out") || strings.Contains(low, "timeout"):
		return "timeout"
	case strings.Contains(low, "end of file") || strings.Contains(low, "i/o error") || strings.Contains(low, "broken pipe") ||
		strings.Contains(low, "connection reset") || strings.Contains(low, "error number -N occurred"):
		return "cut by the server"
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1]
	if last == "" {
		return "exited (no message)"
	}
	return "other: " + errKind(last)
}

// tailWriter keeps the last max bytes written.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - w.max; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}

// ffproc is an ffmpeg child of the soak. Unlike testutil.StartFFmpeg it
// may be started from any goroutine: a failure to start is an error, not
// a t.Fatal.
type ffproc struct {
	cmd    *exec.Cmd
	stderr tailWriter
	done   chan struct{}
	once   sync.Once
}

// ffmpeg starts ffmpeg ARGS, registered so that the test's cleanup
// kills whatever is left.
func (s *soak) ffmpeg(args ...string) (*ffproc, error) {
	p := &ffproc{done: make(chan struct{}), stderr: tailWriter{max: 4 << 10}}
	p.cmd = exec.Command("ffmpeg", append([]string{"-hide_banner", "-nostdin", "-loglevel", "error"}, args...)...)
	p.cmd.Stderr = &p.stderr
	p.cmd.WaitDelay = 2 * time.Second
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	s.procsMu.Lock()
	s.procs[p] = struct{}{}
	s.procsMu.Unlock()
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
		s.procsMu.Lock()
		delete(s.procs, p)
		s.procsMu.Unlock()
	}()
	return p, nil
}

// runFor lets p run for d, or until it exits or ctx ends; it reports
// whether p exited by itself.
func (p *ffproc) runFor(ctx context.Context, d time.Duration) (exited bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// stop ends ffmpeg: SIGINT, then SIGKILL after 3 s.
func (p *ffproc) stop() {
	p.once.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.cmd.Process.Signal(os.Interrupt)
		t := time.NewTimer(3 * time.Second)
		defer t.Stop()
		select {
		case <-p.done:
		case <-t.C:
			_ = p.cmd.Process.Kill()
		}
	})
	<-p.done
}

// slowHooks is the hook server: every hook is answered after 200-800 ms
// while the run lasts; some answers are garbage (HTTP 200, not JSON),
// some connections are reset, a few publishers and players are denied.
type slowHooks struct {
	srv      *httptest.Server
	slow     atomic.Bool
	inflight atomic.Int64
	requests tally // by hook
	answers  tally // by behaviour

	mu         sync.Mutex
	rtpTimeout map[string]chan struct{} // stream_id -> signalled by on_rtp_server_timeout
}

func newSlowHooks() *slowHooks {
	h := &slowHooks{rtpTimeout: map[string]chan struct{}{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	return h
}

// jsonNumber prints a number of a JSON body as an integer, whether it
// came as a number or a string.
func jsonNumber(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// rtpTimeoutChan returns the channel that on_rtp_server_timeout of the
// RTP server id (STREAM_ID/SSRC, its SSRC filter) closes.
func (h *slowHooks) rtpTimeoutChan(id string) chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch, ok := h.rtpTimeout[id]
	if !ok {
		ch = make(chan struct{})
		h.rtpTimeout[id] = ch
	}
	return ch
}

func (h *slowHooks) serve(w http.ResponseWriter, r *http.Request) {
	h.inflight.Add(1)
	defer h.inflight.Add(-1)
	name := path.Base(r.URL.Path)
	h.requests.add(name)
	var body map[string]any
	_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body)
	if name == "on_rtp_server_timeout" {
		id, _ := body["stream_id"].(string)
		ch := h.rtpTimeoutChan(id + "/" + jsonNumber(body["ssrc"]))
		h.mu.Lock()
		select {
		case <-ch:
		default:
			close(ch)
		}
		h.mu.Unlock()
	}
	slow := h.slow.Load()
	if slow {
		t := time.NewTimer(between(200*time.Millisecond, 800*time.Millisecond))
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	roll := mrand.Float64()
	switch {
	case slow && roll < 0.04:
		h.answers.add("reset")
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // RST, not FIN
				}
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case slow && roll < 0.12:
		h.answers.add("garbage")
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
		return
	}
	reply := map[string]any{"code": 0, "msg": "success"}
	switch name {
	case "on_publish":
		if slow && mrand.Float64() < 0.03 {
			h.answers.add("deny")
			reply = map[string]any{"code": -1, "msg": "soak: publish denied"}
		} else if slow && mrand.Float64() < 0.15 {
			reply["enable_mp4"] = true
		}
	case "on_play":
		if slow && mrand.Float64() < 0.03 {
			h.answers.add("deny")
			reply = map[string]any{"code": -1, "msg": "soak: play denied"}
		}
	case "on_stream_none_reader":
		reply["close"] = mrand.Float64() < 0.3
	case "on_stream_not_found":
		reply["close"] = mrand.Float64() < 0.5
	}
	h.answers.add("json")
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(reply)
}

// Streams of the scenario.
const (
	streamA     = "live/a"    // RTMP publisher, churning
	streamB     = "live/b"    // RTMP publisher of the B-frame clip, churning
	streamR     = "live/r"    // RTSP publisher, churning
	streamX     = "live/x"    // RTMP, RTSP and RTP publishers colliding
	streamCam0  = "rtp/cam0"  // RTP cameras: opened, fed, timed out or closed, reopened
	streamCam1  = "rtp/cam1"  //
	streamProxy = "proxy/p"   // pull proxy of another stream
	streamPush  = "push/p"    // push proxy destination
	streamFF    = "ff/src"    // FFmpeg source
	streamNone  = "live/none" // never published
)

// playable are the streams players ask for.
var playable = []string{streamA, streamA, streamB, streamR, streamX, streamCam0, streamCam1, streamProxy, streamPush, streamFF, streamNone}

// api calls the API and records its latency; an answer that is not
// HTTP 200 with a JSON object is an API failure (a threshold), unless
// ctx ended.
func (s *soak) api(ctx context.Context, name string, params url.Values) (map[string]any, error) {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.srv.http+"/index/api/"+name+"?"+params.Encode(), nil)
	if err != nil {
		return nil, err
	}
	if !waitingCalls[name] {
		defer time.AfterFunc(stallAfter, func() { s.dumpStall(name, start) }).Stop()
	}
	resp, err := s.client.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, body)
		}
	}
	var reply map[string]any
	if err == nil {
		err = json.Unmarshal(body, &reply)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	s.lat.add(name, time.Since(start))
	s.noteSlow(name, start)
	if err != nil {
		s.violation("API %s: %v", name, err)
		return nil, err
	}
	return reply, nil
}

func code(reply map[string]any) int {
	c, _ := reply["code"].(float64)
	return int(c)
}

func msg(reply map[string]any) string {
	m, _ := reply["msg"].(string)
	return m
}

// apiKind counts the outcome of an API call by kind: ok, or its code and
// message.
func (s *soak) apiKind(what string, reply map[string]any, err error) bool {
	switch {
	case err != nil:
		return false // counted as a violation by api, or the run ended
	case code(reply) == 0:
		s.ops.add(what)
		return true
	default:
		s.errs.add(fmt.Sprintf("%s: %d %s", what, code(reply), errKind(msg(reply))))
		return false
	}
}

// streamParams are vhost, app and stream of "app/stream".
func streamParams(p string, extra ...string) url.Values {
	app, stream, _ := strings.Cut(p, "/")
	v := url.Values{"vhost": {"__defaultVhost__"}, "app": {app}, "stream": {stream}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v
}

// publisher publishes clip to path over RTMP (rtsp: over RTSP, TCP or
// UDP at random), for a random time, then leaves for a random time
// (sometimes shorter than the grace period, so that it comes back into
// the same stream), again and again.
func (s *soak) publisher(ctx context.Context, kind, clip, path string, rtsp bool, on, off [2]time.Duration) {
	for ctx.Err() == nil {
		args := []string{"-re", "-stream_loop", "-1", "-i", clip, "-c", "copy"}
		if rtsp {
			args = append(args, "-f", "rtsp", "-rtsp_transport", pick("tcp", "tcp", "udp"), "rtsp://"+s.srv.rtsp+"/"+path)
		} else {
			args = append(args, "-f", "flv", "rtmp://"+s.srv.rtmp+"/"+path)
		}
		p, err := s.ffmpeg(args...)
		if err != nil {
			s.errs.add(kind + ": start: " + errKind(err.Error()))
			backoff.Sleep(ctx, time.Second)
			continue
		}
		if p.runFor(ctx, between(on[0], on[1])) {
			s.errs.add(kind + ": " + ffmpegKind(p.stderr.String()))
		} else {
			s.ops.add(kind + ": published")
		}
		p.stop()
		backoff.Sleep(ctx, between(off[0], off[1]))
	}
}

// loopFrames returns the camera's frames, lap after lap, timestamps
// going on.
func loopFrames(frames []gbsender.Frame, lap int) []gbsender.Frame {
	if len(frames) == 0 {
		return nil
	}
	span := frames[len(frames)-1].PTS + 3600 // one 40 ms frame more
	out := make([]gbsender.Frame, len(frames))
	for i, f := range frames {
		f.PTS += int64(lap) * span
		out[i] = f
	}
	return out
}

// rtpCamera opens an RTP server for app/id, feeds it as a GB28181
// camera (PS over UDP or TCP) for a while, then either closes it with
// closeRtpServer or stops sending and lets it time out; then opens it
// again at once, often on the same port. exclusive: nothing else uses
// the id, so "already exists" after a close or a timeout is the false
// answer of failure-modes.md 3.
func (s *soak) rtpCamera(ctx context.Context, app, id string, exclusive bool, frames []gbsender.Frame) {
	kind := "rtp " + app + "/" + id
	port, closed := 0, false
	defer func() {
		r, err := s.api(context.Background(), "closeRtpServer", url.Values{"app": {app}, "stream_id": {id}})
		s.apiKind(kind+": closeRtpServer at the end", r, err)
	}()
	lap := 0
	for ctx.Err() == nil {
		tcpMode := pick(0, 1)
		params := url.Values{"app": {app}, "stream_id": {id}, "port": {strconv.Itoa(port)}, "tcp_mode": {strconv.Itoa(tcpMode)}}
		// The server ends by closeRtpServer or by its timeout. One that
		// times out filters a new random SSRC, so that its timeout hook
		// is told from a late one of the server before (the hook server
		// is slow, and hooks of a stream queue).
		timeout := mrand.IntN(2) == 0
		ssrc := 1 + mrand.Uint32N(1_000_000_000)
		if timeout || mrand.IntN(2) == 0 {
			params.Set("ssrc", strconv.FormatUint(uint64(ssrc), 10))
		}
		r, err := s.api(ctx, "openRtpServer", params)
		if err != nil {
			backoff.Sleep(ctx, time.Second)
			continue
		}
		switch {
		case code(r) == 0:
			s.ops.add(kind + ": opened")
			port = int(r["port"].(float64))
		case exclusive && closed && strings.Contains(msg(r), "already exists"):
			s.violation("openRtpServer %s/%s answered %q right after it was closed or timed out (failure-modes.md 3)", app, id, msg(r))
			closed = false
			backoff.Sleep(ctx, time.Second)
			continue
		default:
			s.errs.add(fmt.Sprintf("%s: openRtpServer port %v: %d %s", kind, port != 0, code(r), errKind(msg(r))))
			port = 0 // the port may have been taken meanwhile
			backoff.Sleep(ctx, time.Second)
			continue
		}
		closed = false

		network := "udp"
		if tcpMode == 1 && mrand.IntN(2) == 0 {
			network = "tcp"
		}
		cam, err := gbsender.Dial(gbsender.Options{Network: network, Addr: fmt.Sprintf("127.0.0.1:%d", port), SSRC: ssrc,
			VideoType: ps.StreamH264, AudioType: ps.StreamG711A, Realtime: true})
		if err != nil {
			s.errs.add(kind + ": dial: " + errKind(err.Error()))
		} else {
			fctx, cancel := context.WithTimeout(ctx, between(3*time.Second, 9*time.Second))
			for err == nil && fctx.Err() == nil {
				err = cam.Send(fctx, loopFrames(frames, lap))
				lap++
			}
			cancel()
			cam.Close()
			if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				s.errs.add(kind + ": send over " + network + ": " + errKind(err.Error()))
			} else {
				s.ops.add(kind + ": fed over " + network)
			}
		}
		if ctx.Err() != nil {
			return
		}
		if !timeout {
			r, err := s.api(ctx, "closeRtpServer", url.Values{"app": {app}, "stream_id": {id}})
			if s.apiKind(kind+": closeRtpServer", r, err) {
				closed = true
			}
		} else {
			// Wait for the timeout: its hook, or the server gone from
			// listRtpServer (a hook may be dropped by a full queue).
			ch := s.hooks.rtpTimeoutChan(id + "/" + strconv.FormatUint(uint64(ssrc), 10))
			deadline := time.Now().Add(s.cfg.rtpTimeout + 15*time.Second)
			for ctx.Err() == nil && !closed {
				select {
				case <-ch:
					closed = true
					s.ops.add(kind + ": timed out (hook)")
					continue
				case <-time.After(250 * time.Millisecond):
				case <-ctx.Done():
					return
				}
				if !s.rtpListed(ctx, app, id) {
					closed = true
					s.ops.add(kind + ": timed out (listRtpServer)")
				} else if time.Now().After(deadline) {
					s.violation("RTP server %s/%s still listed %v after its camera stopped", app, id, s.cfg.rtpTimeout+15*time.Second)
					break
				}
			}
		}
		if mrand.IntN(3) == 0 {
			port = 0
		}
	}
}

// rtpListed reports whether listRtpServer lists app/id.
func (s *soak) rtpListed(ctx context.Context, app, id string) bool {
	r, err := s.api(ctx, "listRtpServer", nil)
	if err != nil {
		return true
	}
	items, _ := r["data"].([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		if m["app"] == app && m["stream_id"] == id {
			return true
		}
	}
	return false
}

// goPlayer plays random streams over HTTP-FLV, WS-FLV, HTTP-TS or
// HTTP-fMP4 for a random time each, counting frames (FLV) or bytes.
func (s *soak) goPlayer(ctx context.Context) {
	for ctx.Err() == nil {
		proto := pick("flv", "flv", "wsflv", "wsflv", "ts", "fmp4")
		p := pick(playable...)
		outcome := s.playHTTP(ctx, proto, p, between(2*time.Second, 8*time.Second))
		if ctx.Err() != nil {
			return
		}
		if outcome == "left" || outcome == "end of stream" || outcome == "left while waiting" {
			s.ops.add("play " + proto + ": " + outcome)
		} else {
			s.errs.add("play " + proto + ": " + outcome)
		}
		backoff.Sleep(ctx, between(100*time.Millisecond, time.Second))
	}
}

// countingReader counts what is read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// wsReader reads the payloads of a server's WebSocket binary frames as
// one stream; a close frame is io.EOF.
type wsReader struct {
	br   *bufio.Reader
	left uint64
}

func (w *wsReader) Read(p []byte) (int, error) {
	for w.left == 0 {
		var h [2]byte
		if _, err := io.ReadFull(w.br, h[:]); err != nil {
			return 0, err
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(w.br, b[:]); err != nil {
				return 0, err
			}
			n = uint64(be.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(w.br, b[:]); err != nil {
				return 0, err
			}
			n = be.BigEndian.Uint64(b[:])
		}
		if h[1]&0x80 != 0 {
			return 0, errors.New("masked frame from the server")
		}
		switch op := h[0] & 0x0f; op {
		case 0, 2:
			w.left = n
		case 8:
			return 0, io.EOF
		case 9, 10:
			if _, err := io.CopyN(io.Discard, w.br, int64(n)); err != nil {
				return 0, err
			}
		default:
			return 0, fmt.Errorf("WebSocket opcode %d", op)
		}
	}
	if uint64(len(p)) > w.left {
		p = p[:w.left]
	}
	n, err := w.br.Read(p)
	w.left -= uint64(n)
	return n, err
}

// playHTTP plays p over proto for stay, and says how it ended.
func (s *soak) playHTTP(ctx context.Context, proto, p string, stay time.Duration) string {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", s.srv.http)
	if err != nil {
		return "dial: " + errKind(err.Error())
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	leave := time.Now().Add(stay)
	_ = conn.SetDeadline(leave)

	suffix := map[string]string{"flv": ".live.flv", "wsflv": ".live.flv", "ts": ".live.ts", "fmp4": ".live.mp4"}[proto]
	req := fmt.Sprintf("GET /%s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: mediakit-soak\r\n", p, suffix, s.srv.http)
	if proto == "wsflv" {
		var k [16]byte
		_, _ = rand.Read(k[:])
		req += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
			base64.StdEncoding.EncodeToString(k[:]) + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		return "write: " + errKind(err.Error())
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		if isTimeout(err) {
			return "left while waiting"
		}
		return "response: " + errKind(err.Error())
	}
	want := http.StatusOK
	var body io.Reader = resp.Body
	if proto == "wsflv" {
		want, body = http.StatusSwitchingProtocols, &wsReader{br: br}
	}
	if resp.StatusCode != want {
		return "HTTP " + strconv.Itoa(resp.StatusCode)
	}
	cr := &countingReader{r: body}
	switch proto {
	case "flv", "wsflv":
		err = s.readFLV(cr, p)
		if err == nil && proto == "wsflv" && mrand.IntN(2) == 0 {
			// a polite leave: a masked close frame
			_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = conn.Write([]byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8})
		}
	case "ts":
		var b [1]byte
		if _, err = io.ReadFull(cr, b[:]); err == nil && b[0] != 0x47 {
			s.violation("HTTP-TS of %s does not start with a sync byte: %#x", p, b[0])
		}
		if err == nil {
			_, err = io.Copy(io.Discard, cr)
		}
	case "fmp4":
		var b [8]byte
		if _, err = io.ReadFull(cr, b[:]); err == nil && string(b[4:8]) != "ftyp" {
			s.violation("HTTP-fMP4 of %s does not start with ftyp: %q", p, b[:])
		}
		if err == nil {
			_, err = io.Copy(io.Discard, cr)
		}
	}
	s.bytesIn.Add(cr.n)
	switch {
	case err == nil || errors.Is(err, io.EOF):
		return "end of stream"
	case isTimeout(err):
		return "left"
	case ctx.Err() != nil:
		return "left"
	}
	return "cut: " + errKind(err.Error())
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readFLV reads FLV tags until the stream ends or the connection's
// deadline, counting frames and checking that each track's timestamps
// never go back (README "Stream behaviour": a publisher that comes back
// within the grace period continues the timeline). It returns nil at the
// stream's clean end.
func (s *soak) readFLV(r io.Reader, p string) error {
	fr := flv.NewReader(r, 0)
	last := map[flv.TagType]time.Duration{}
	lastSeq := map[flv.TagType]bool{}
	for {
		tag, err := fr.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		switch tag.Type {
		case flv.TagVideo:
			s.videoFrames.Add(1)
		case flv.TagAudio:
			s.audioFrames.Add(1)
		default:
			continue
		}
		seq := isSequenceHeader(tag)
		if prev, ok := last[tag.Type]; ok && tag.Timestamp < prev {
			what := fmt.Sprintf("%s: %s at %v after %v", p, tagName(tag.Type, seq), tag.Timestamp, prev)
			if lastSeq[tag.Type] || seq {
				// A sequence header stamped after the frame that follows
				// it: no decoder uses its timestamp, but it is still
				// a timestamp going back.
				s.errs.add("play flv: a frame stamped before the sequence header sent ahead of it")
				s.noteSeqBackwards(what + " (a sequence header)")
			} else {
				s.errs.add("play flv: a frame timestamp went back")
				s.noteBackwards(what)
			}
		}
		last[tag.Type], lastSeq[tag.Type] = tag.Timestamp, seq
	}
}

func tagName(t flv.TagType, seq bool) string {
	kind := "audio"
	if t == flv.TagVideo {
		kind = "video"
	}
	if seq {
		return kind + " sequence header"
	}
	return kind + " frame"
}

// isSequenceHeader reports whether an FLV audio or video tag is a
// sequence header (AAC, AVC/HEVC, or an enhanced RTMP sequence start).
func isSequenceHeader(tag flv.Tag) bool {
	b := tag.Body
	if len(b) < 2 {
		return false
	}
	if tag.Type == flv.TagAudio {
		return b[0]>>4 == 10 && b[1] == 0
	}
	if b[0]&0x80 != 0 { // enhanced: the packet type in the low bits
		return b[0]&0x0f == 0
	}
	return (b[0]&0x0f == 7 || b[0]&0x0f == 12) && b[1] == 0
}

// hlsPlayer plays random streams over HLS or LL-HLS as a player does:
// the playlist, then every segment it has not fetched yet, again every
// half second, with a cookie jar (one viewer).
func (s *soak) hlsPlayer(ctx context.Context) {
	for ctx.Err() == nil {
		p := pick(playable...)
		playlist := "/hls.m3u8"
		kind := "play hls"
		if mrand.IntN(3) == 0 {
			playlist, kind = "/hls.fmp4.m3u8", "play ll-hls"
		}
		outcome := s.playHLS(ctx, "http://"+s.srv.http+"/"+p+playlist, between(3*time.Second, 9*time.Second))
		if ctx.Err() != nil {
			return
		}
		if outcome == "played" || outcome == "left while waiting" {
			s.ops.add(kind + ": " + outcome)
		} else {
			s.errs.add(kind + ": " + outcome)
		}
		backoff.Sleep(ctx, between(100*time.Millisecond, time.Second))
	}
}

func (s *soak) playHLS(ctx context.Context, playlist string, stay time.Duration) string {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{Proxy: nil}
	defer tr.CloseIdleConnections() // a player that leaves closes its connections
	client := &http.Client{Jar: jar, Transport: tr}
	pctx, cancel := context.WithTimeout(ctx, stay)
	defer cancel()
	base, _ := url.Parse(playlist)
	get := func(u string) ([]byte, int, error) {
		req, _ := http.NewRequestWithContext(pctx, http.MethodGet, u, nil)
		req.Header.Set("User-Agent", "mediakit-soak")
		resp, err := client.Do(req)
		if err != nil {
			return nil, 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return b, resp.StatusCode, err
	}
	seen := map[string]bool{}
	segments := 0
	for pctx.Err() == nil {
		pl, status, err := get(playlist)
		switch {
		case err != nil && pctx.Err() != nil:
			if segments > 0 {
				return "played"
			}
			return "left while waiting"
		case err != nil:
			return "playlist: " + errKind(err.Error())
		case status != http.StatusOK:
			return "playlist: HTTP " + strconv.Itoa(status)
		case !strings.HasPrefix(string(pl), "#EXTM3U"):
			s.violation("HLS playlist %s is not a playlist: %.100q", playlist, pl)
			return "bad playlist"
		}
		for _, line := range strings.Split(string(pl), "\n") {
			line = strings.TrimSpace(line)
			uri := line
			if rest, ok := strings.CutPrefix(line, "#EXT-X-MAP:"); ok {
				_, after, _ := strings.Cut(rest, `URI="`)
				uri, _, _ = strings.Cut(after, `"`)
			} else if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			ref, err := url.Parse(uri)
			if err != nil || uri == "" {
				continue
			}
			u := base.ResolveReference(ref).String()
			if seen[u] {
				continue
			}
			seen[u] = true
			b, status, err := get(u)
			if err != nil || status != http.StatusOK {
				if pctx.Err() != nil {
					break
				}
				if err != nil {
					return "segment: " + errKind(err.Error())
				}
				return "segment: HTTP " + strconv.Itoa(status)
			}
			s.bytesIn.Add(int64(len(b)))
			segments++
			s.hlsSegments.Add(1)
		}
		backoff.Sleep(pctx, 500*time.Millisecond)
	}
	if segments > 0 {
		return "played"
	}
	return "left while waiting"
}

// ffmpegPlayer plays random streams over RTMP or RTSP with ffmpeg.
func (s *soak) ffmpegPlayer(ctx context.Context, proto string) {
	for ctx.Err() == nil {
		p := pick(playable...)
		var args []string
		kind := "play " + proto
		if proto == "rtsp" {
			tr := pick("tcp", "tcp", "udp")
			kind += "/" + tr
			args = []string{"-rtsp_transport", tr, "-timeout", "8000000", "-i", "rtsp://" + s.srv.rtsp + "/" + p}
		} else {
			args = []string{"-rw_timeout", "8000000", "-i", "rtmp://" + s.srv.rtmp + "/" + p}
		}
		pr, err := s.ffmpeg(append(args, "-c", "copy", "-f", "null", "-")...)
		if err != nil {
			s.errs.add(kind + ": start: " + errKind(err.Error()))
			backoff.Sleep(ctx, time.Second)
			continue
		}
		if pr.runFor(ctx, between(3*time.Second, 9*time.Second)) {
			if pr.cmd.ProcessState.Success() {
				s.ops.add(kind + ": end of stream")
			} else {
				s.errs.add(kind + ": " + ffmpegKind(pr.stderr.String()))
			}
		} else if ctx.Err() == nil {
			s.ops.add(kind + ": left")
		}
		pr.stop()
		backoff.Sleep(ctx, between(100*time.Millisecond, time.Second))
	}
}

// proxies adds a pull proxy of one of the published streams (over RTMP,
// HTTP-FLV, RTSP or HLS), lets it run, deletes it; then a push proxy of
// a published stream to this server, over RTMP or RTSP.
func (s *soak) proxies(ctx context.Context) {
	var pullKey, pushKey string
	defer func() {
		bg := context.Background()
		if pullKey != "" {
			r, err := s.api(bg, "delStreamProxy", url.Values{"key": {pullKey}})
			s.apiKind("delStreamProxy at the end", r, err)
		}
		if pushKey != "" {
			r, err := s.api(bg, "delStreamPusherProxy", url.Values{"key": {pushKey}})
			s.apiKind("delStreamPusherProxy at the end", r, err)
		}
	}()
	for ctx.Err() == nil {
		src := pick("rtmp://"+s.srv.rtmp+"/"+streamA, "http://"+s.srv.http+"/"+streamB+".live.flv",
			"rtsp://"+s.srv.rtsp+"/"+streamR, "http://"+s.srv.http+"/"+streamA+"/hls.m3u8")
		scheme, _, _ := strings.Cut(src, ":")
		if strings.HasSuffix(src, ".m3u8") {
			scheme = "hls"
		}
		force := pick("0", "1")
		r, err := s.api(ctx, "addStreamProxy", streamParams(streamProxy, "url", src, "force", force, "timeout_sec", "5",
			"retry_count", "-1", "enable_mp4", pick("0", "0", "0", "1")))
		if s.apiKind("addStreamProxy "+scheme+" force="+force, r, err) {
			data, _ := r["data"].(map[string]any)
			pullKey, _ = data["key"].(string)
		}
		if !backoff.Sleep(ctx, between(3*time.Second, 9*time.Second)) {
			return
		}
		if pullKey != "" {
			r, err := s.api(ctx, "delStreamProxy", url.Values{"key": {pullKey}})
			if s.apiKind("delStreamProxy", r, err) {
				pullKey = ""
			}
		}

		schema := pick("rtmp", "rtsp")
		dst := "rtmp://" + s.srv.rtmp + "/" + streamPush
		if schema == "rtsp" {
			dst = "rtsp://" + s.srv.rtsp + "/" + streamPush
		}
		r, err = s.api(ctx, "addStreamPusherProxy", streamParams(pick(streamA, streamB, streamR), "schema", schema, "dst_url", dst,
			"retry_count", "3"))
		if s.apiKind("addStreamPusherProxy "+schema, r, err) {
			data, _ := r["data"].(map[string]any)
			pushKey, _ = data["key"].(string)
		}
		if !backoff.Sleep(ctx, between(3*time.Second, 9*time.Second)) {
			return
		}
		if pushKey != "" {
			r, err := s.api(ctx, "delStreamPusherProxy", url.Values{"key": {pushKey}})
			if s.apiKind("delStreamPusherProxy", r, err) {
				pushKey = ""
			}
		}
	}
}

// ffmpegSources adds an FFmpeg source (a clip in the data dir, or one
// of the published streams), lets it run, deletes it.
func (s *soak) ffmpegSources(ctx context.Context) {
	key := ""
	defer func() {
		if key != "" {
			r, err := s.api(context.Background(), "delFFmpegSource", url.Values{"key": {key}})
			s.apiKind("delFFmpegSource at the end", r, err)
		}
	}()
	for ctx.Err() == nil {
		src := pick("media/clip.flv", "rtmp://"+s.srv.rtmp+"/"+streamA)
		what := "file"
		if strings.HasPrefix(src, "rtmp") {
			what = "rtmp"
		}
		r, err := s.api(ctx, "addFFmpegSource", url.Values{"src_url": {src}, "dst_url": {"rtmp://" + s.srv.rtmp + "/" + streamFF},
			"timeout_ms": {"8000"}, "enable_mp4": {pick("0", "0", "1")}, "enable_hls": {pick("0", "1")}})
		if s.apiKind("addFFmpegSource "+what, r, err) {
			data, _ := r["data"].(map[string]any)
			key, _ = data["key"].(string)
		}
		if !backoff.Sleep(ctx, between(3*time.Second, 9*time.Second)) {
			return
		}
		if key != "" {
			r, err := s.api(ctx, "delFFmpegSource", url.Values{"key": {key}})
			if s.apiKind("delFFmpegSource", r, err) {
				if data, _ := r["data"].(map[string]any); data["flag"] != true {
					s.errs.add("delFFmpegSource: flag false")
				}
				key = ""
			}
		}
		backoff.Sleep(ctx, between(200*time.Millisecond, 2*time.Second))
	}
}

// recorder starts MP4 or HLS recordings of random streams and stops
// them after a while.
//
// Types take turns (HLS, MP4, MP4) and three times in four the stream is
// one that is online: a run of random picks of streams that come and go
// could otherwise miss one kind of recording altogether (a threshold).
func (s *soak) recorder(ctx context.Context) {
	candidates := []string{streamA, streamB, streamR, streamX, streamCam0, streamCam1, streamProxy, streamFF}
	for turn := 0; ctx.Err() == nil; turn++ {
		p := pick(candidates...)
		if online := s.online(ctx, candidates); len(online) > 0 && mrand.IntN(4) > 0 {
			p = pick(online...)
		}
		typ := []string{"0", "1", "1"}[turn%3]
		what := map[string]string{"0": "hls", "1": "mp4"}[typ]
		r, err := s.api(ctx, "startRecord", streamParams(p, "type", typ))
		started := s.apiKind("startRecord "+what, r, err)
		ended := !backoff.Sleep(ctx, between(2*time.Second, 7*time.Second))
		if started {
			cctx := ctx
			if ended {
				cctx = context.Background() // stop what was started
			}
			r, err := s.api(cctx, "isRecording", streamParams(p, "type", typ))
			s.apiKind("isRecording", r, err)
			r, err = s.api(cctx, "stopRecord", streamParams(p, "type", typ))
			s.apiKind("stopRecord "+what, r, err)
		}
		if ended {
			return
		}
		backoff.Sleep(ctx, between(200*time.Millisecond, 2*time.Second))
	}
}

// online returns those of paths that getMediaList lists now.
func (s *soak) online(ctx context.Context, paths []string) []string {
	r, err := s.api(ctx, "getMediaList", nil)
	if err != nil {
		return nil
	}
	listed := map[string]bool{}
	items, _ := r["data"].([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		listed[fmt.Sprint(m["app"], "/", m["stream"])] = true
	}
	var online []string
	for _, p := range paths {
		if listed[p] {
			online = append(online, p)
		}
	}
	return online
}

// chaos closes streams and kicks sessions through the API now and then.
func (s *soak) chaos(ctx context.Context) {
	for backoff.Sleep(ctx, between(4*time.Second, 10*time.Second)) {
		if mrand.IntN(2) == 0 {
			p := pick(streamA, streamB, streamR, streamCam0, streamProxy, streamFF)
			r, err := s.api(ctx, "close_streams", streamParams(p, "force", "1"))
			s.apiKind("close_streams", r, err)
			continue
		}
		r, err := s.api(ctx, "getAllSession", nil)
		if err != nil {
			continue
		}
		items, _ := r["data"].([]any)
		if len(items) == 0 {
			continue
		}
		m, _ := items[mrand.IntN(len(items))].(map[string]any)
		id := fmt.Sprint(m["id"])
		r, err = s.api(ctx, "kick_session", url.Values{"id": {id}})
		if err == nil && code(r) != 0 && strings.Contains(msg(r), "can not find") {
			s.ops.add("kick_session: already gone")
			continue
		}
		s.apiKind("kick_session", r, err)
	}
}

// pollPrimary calls getMediaList and getServerConfig ten times a second:
// the calls whose p99 is a threshold.
func (s *soak) pollPrimary(ctx context.Context) {
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"code":0}`)
	}))
	defer control.Close()
	for i := 0; backoff.Sleep(ctx, 100*time.Millisecond); i++ {
		name := "getMediaList"
		if i%2 == 1 {
			name = "getServerConfig"
		}
		r, err := s.api(ctx, name, nil)
		s.apiKind(name, r, err)
		if i%2 == 0 {
			// The same request to a no-op HTTP server in this process:
			// what the machine's load alone costs.
			start := time.Now()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, control.URL+"/index/api/getMediaList", nil)
			if resp, err := s.client.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				s.lat.add(controlName, time.Since(start))
			}
		}
	}
}

// controlName is the no-op HTTP server's row in the latencies.
const controlName = "(control: no-op HTTP server in the test)"

// pollOthers calls the other read-only endpoints a platform or the
// console polls, and /healthz.
func (s *soak) pollOthers(ctx context.Context) {
	calls := []struct {
		name   string
		params url.Values
	}{
		{"getAllSession", nil},
		{"listRtpServer", nil},
		{"getRtpInfo", url.Values{"stream_id": {"cam0"}}},
		{"listStreamProxy", nil},
		{"listStreamPusherProxy", nil},
		{"listFFmpegSource", nil},
		{"getStatistic", nil},
		{"getMediaPlayerList", streamParams(streamA, "schema", "rtmp")},
		{"isMediaOnline", streamParams(streamB, "schema", "rtmp")},
		{"getMediaInfo", streamParams(streamX, "schema", "rtmp")},
		{"getThreadsLoad", nil},
		{"getRecentLogs", nil},
	}
	for i := 0; backoff.Sleep(ctx, 250*time.Millisecond); i++ {
		if i%4 == 0 {
			s.healthz(ctx)
			continue
		}
		c := calls[mrand.IntN(len(calls))]
		r, err := s.api(ctx, c.name, c.params)
		if err == nil && (code(r) == 0 || c.name == "getMediaInfo" || c.name == "getMediaPlayerList") {
			s.ops.add("poll " + c.name)
		} else {
			s.apiKind(c.name, r, err)
		}
	}
}

// healthz checks that /healthz answers 200 (503 means the engine did not
// answer within 2 s: failure-modes.md 2).
func (s *soak) healthz(ctx context.Context) {
	start := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.srv.http+"/healthz", nil)
	defer time.AfterFunc(stallAfter, func() { s.dumpStall("/healthz", start) }).Stop()
	resp, err := s.client.Do(req)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		s.violation("/healthz: %v", err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	s.lat.add("/healthz", time.Since(start))
	s.noteSlow("/healthz", start)
	if resp.StatusCode != http.StatusOK {
		s.violation("/healthz: HTTP %d at %s", resp.StatusCode, start.UTC().Format("15:04:05.000"))
		return
	}
	s.ops.add("/healthz")
}
