package httpflv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/access"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Frame counts of testdata/clips/h264_aac.flv (testdata/clips/README.md).
const (
	clipName        = "h264_aac.flv"
	clipVideoFrames = 150
	clipAudioFrames = 260
)

// testConfig is an engine configuration for fast tests: a short grace
// period and no lag-based skipping, so an unpaced publisher loses nothing.
func testConfig() engine.Config {
	cfg := engine.DefaultConfig()
	cfg.ContinuePush = 200 * time.Millisecond
	cfg.MaxStreamWait = 10 * time.Second
	cfg.MaxReaderLag = 0
	return cfg
}

// testServer is an engine, a Handler and an HTTP server in front of it.
type testServer struct {
	e    *engine.Engine
	h    *Handler
	srv  *httptest.Server
	addr string
	logs *logRecorder
}

func newTestServer(t testing.TB, cfg engine.Config) *testServer {
	t.Helper()
	e := engine.New(cfg, nil)
	logs := &logRecorder{}
	h := NewHandler(e, slog.New(&recHandler{r: logs}))
	// testOrigin is listed, as api.allow_origin does in the server: it gets
	// credentials; any other origin gets "*".
	policy, err := access.NewPolicy(access.Settings{AllowOrigin: testOrigin})
	if err != nil {
		t.Fatal(err)
	}
	h.CORS = policy.MediaCORS
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		// Sessions first (hijacked connections are the handler's), then
		// the engine (releases players still waiting for a stream), then
		// the server (waits for requests in flight).
		h.Close()
		e.Close()
		srv.Close()
	})
	return &testServer{e: e, h: h, srv: srv, addr: srv.Listener.Addr().String(), logs: logs}
}

func (ts *testServer) url(path string) string { return ts.srv.URL + path }

// waitFor polls cond every few milliseconds until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitWaiting waits until n players are waiting for a stream.
func (ts *testServer) waitWaiting(t testing.TB, n int64) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("%d waiting players", n), func() bool {
		return ts.e.Stats().WaitingReaders.Load() == n
	})
}

// waitIdle waits until no reader is attached and no session is served.
func (ts *testServer) waitIdle(t testing.TB, d time.Duration) {
	t.Helper()
	waitFor(t, d, "readers and sessions to drop to 0", func() bool {
		return ts.e.Stats().Readers.Load() == 0 && ts.h.Sessions() == 0
	})
}

// ---- logs ----

// logRecorder keeps the handler's log records as flat key/value maps.
type logRecorder struct {
	mu   sync.Mutex
	recs []map[string]string
}

// ended returns the "flv play ended" records.
func (l *logRecorder) ended() []map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]string
	for _, r := range l.recs {
		if r["msg"] == "flv play ended" {
			out = append(out, r)
		}
	}
	return out
}

type recHandler struct {
	r     *logRecorder
	attrs []slog.Attr
}

func (h *recHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recHandler) Handle(_ context.Context, rec slog.Record) error {
	m := map[string]string{"msg": rec.Message, "level": rec.Level.String()}
	for _, a := range h.attrs {
		m[a.Key] = a.Value.String()
	}
	rec.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	h.r.mu.Lock()
	h.r.recs = append(h.r.recs, m)
	h.r.mu.Unlock()
	return nil
}

func (h *recHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &recHandler{r: h.r, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h *recHandler) WithGroup(string) slog.Handler { return h }

// ---- the source clip ----

var (
	clipOnce sync.Once
	clipTags []flv.Tag
	clipErr  error
)

// loadClip returns the tags of h264_aac.flv with their bodies copied. The
// bodies are shared and must not be modified.
func loadClip(t testing.TB) []flv.Tag {
	t.Helper()
	path := testutil.Clip(t, clipName)
	clipOnce.Do(func() {
		f, err := os.Open(path)
		if err != nil {
			clipErr = err
			return
		}
		defer f.Close()
		r := flv.NewReader(f, 0)
		for {
			tag, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				clipErr = err
				return
			}
			// The reader reuses its buffer; Ingest keeps what it is given.
			tag.Body = slices.Clone(tag.Body)
			clipTags = append(clipTags, tag)
		}
	})
	if clipErr != nil {
		t.Fatalf("reading %s: %v", clipName, clipErr)
	}
	return clipTags
}

// clipTracks returns H.264 and AAC tracks built from the clip's sequence
// headers.
func clipTracks(t testing.TB) (video, audio *media.Track) {
	t.Helper()
	for _, tag := range loadClip(t) {
		switch tag.Type {
		case flv.TagVideo:
			p, err := flv.ParseVideo(tag.Body)
			if err == nil && p.Type == flv.VideoSequenceHeader && video == nil {
				c, err := media.ParseAVCConfig(p.Data)
				if err != nil {
					t.Fatal(err)
				}
				if video, err = media.NewH264Track(c.SPS[0], c.PPS[0]); err != nil {
					t.Fatal(err)
				}
			}
		case flv.TagAudio:
			p, err := flv.ParseAudio(tag.Body)
			if err == nil && p.SequenceHeader && audio == nil {
				if audio, err = media.NewAACTrack(p.Data); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if video == nil || audio == nil {
		t.Fatal("clip has no H.264 or AAC sequence header")
	}
	return video, audio
}

// publishClip publishes the clip on key through a flv.Ingest, as an RTMP
// publisher would, without pacing. The caller closes the publisher.
func publishClip(t testing.TB, e *engine.Engine, key engine.Key) *engine.Publisher {
	t.Helper()
	pub, err := e.Publish(context.Background(), key, engine.SessionInfo{ID: "pub", Protocol: "test"})
	if err != nil {
		t.Fatalf("publish %s: %v", key, err)
	}
	in := flv.NewIngest(pub)
	for _, tag := range loadClip(t) {
		if err := in.Tag(tag); err != nil {
			pub.Close()
			t.Fatalf("ingest tag at %v: %v", tag.Timestamp, err)
		}
	}
	if err := in.Flush(); err != nil {
		t.Fatal(err)
	}
	if in.Dropped != 0 {
		t.Fatalf("ingest dropped %d frames of the clip", in.Dropped)
	}
	return pub
}

// ---- checking an FLV stream ----

// flvStream is a parsed FLV byte stream.
type flvStream struct {
	hasAudio, hasVideo bool
	tags               []flv.Tag // bodies copied
}

func parseFLV(t testing.TB, data []byte) flvStream {
	t.Helper()
	r := flv.NewReader(bytes.NewReader(data), 0)
	if err := r.ReadHeader(); err != nil {
		t.Fatalf("FLV header: %v (first bytes %q)", err, data[:min(len(data), 16)])
	}
	s := flvStream{hasAudio: r.HasAudio, hasVideo: r.HasVideo}
	for {
		tag, err := r.Next()
		if errors.Is(err, io.EOF) {
			return s
		}
		if err != nil {
			t.Fatalf("FLV tag %d: %v", len(s.tags), err)
		}
		tag.Body = slices.Clone(tag.Body)
		s.tags = append(s.tags, tag)
	}
}

// mediaTag is a coded frame (not a sequence header) of an FLV stream.
type mediaTag struct {
	ts   time.Duration
	body []byte
	key  bool
}

// splitTags sorts tags into sequence headers and coded frames.
func splitTags(t testing.TB, tags []flv.Tag) (video, audio []mediaTag, videoSeq, audioSeq [][]byte) {
	t.Helper()
	for i, tag := range tags {
		switch tag.Type {
		case flv.TagVideo:
			p, err := flv.ParseVideo(tag.Body)
			if err != nil {
				t.Fatalf("tag %d: %v", i, err)
			}
			switch p.Type {
			case flv.VideoSequenceHeader:
				videoSeq = append(videoSeq, p.Data)
			case flv.VideoFrame:
				video = append(video, mediaTag{ts: tag.Timestamp, body: tag.Body, key: p.Key})
			}
		case flv.TagAudio:
			p, err := flv.ParseAudio(tag.Body)
			if err != nil {
				t.Fatalf("tag %d: %v", i, err)
			}
			if p.SequenceHeader {
				audioSeq = append(audioSeq, p.Data)
			} else {
				audio = append(audio, mediaTag{ts: tag.Timestamp, body: tag.Body, key: true})
			}
		}
	}
	return video, audio, videoSeq, audioSeq
}

// checkClipStream asserts that data is the whole clip as a player that
// attached before the publisher must get it: header flags, onMetaData at 0,
// both sequence headers before any frame, a keyframe first, and every
// frame with the source's bytes and timestamps.
func checkClipStream(t testing.TB, data []byte) {
	t.Helper()
	got := parseFLV(t, data)
	if !got.hasAudio || !got.hasVideo {
		t.Errorf("FLV header flags audio=%v video=%v, want both", got.hasAudio, got.hasVideo)
	}
	if len(got.tags) < 3 {
		t.Fatalf("only %d tags", len(got.tags))
	}
	md := got.tags[0]
	if md.Type != flv.TagScript || md.Timestamp != 0 {
		t.Fatalf("first tag: type %d at %v, want onMetaData (script) at 0", md.Type, md.Timestamp)
	}
	meta, ok, err := flv.ParseMetadata(md.Body)
	if err != nil || !ok {
		t.Fatalf("first tag is not onMetaData: ok=%v err=%v", ok, err)
	}
	if w, _ := meta.Number("width"); w != 320 {
		t.Errorf("onMetaData width %v, want 320", w)
	}
	if id, _ := meta.Number("videocodecid"); id != 7 {
		t.Errorf("onMetaData videocodecid %v, want 7", id)
	}
	if id, _ := meta.Number("audiocodecid"); id != 10 {
		t.Errorf("onMetaData audiocodecid %v, want 10", id)
	}

	// Both sequence headers come right after the metadata, before any
	// coded frame, whichever track's frame comes first.
	var kinds []string
	for _, tag := range got.tags[1:3] {
		switch {
		case tag.Type == flv.TagVideo && len(tag.Body) > 1 && tag.Body[1] == 0:
			kinds = append(kinds, "avc-seq")
		case tag.Type == flv.TagAudio && len(tag.Body) > 1 && tag.Body[1] == 0:
			kinds = append(kinds, "aac-seq")
		default:
			kinds = append(kinds, fmt.Sprintf("type %d %x", tag.Type, tag.Body[:min(len(tag.Body), 2)]))
		}
	}
	slices.Sort(kinds)
	if !slices.Equal(kinds, []string{"aac-seq", "avc-seq"}) {
		t.Errorf("tags 1 and 2 are %v, want the AVC and AAC sequence headers", kinds)
	}

	video, audio, videoSeq, audioSeq := splitTags(t, got.tags)
	srcVideo, srcAudio, srcVideoSeq, srcAudioSeq := splitTags(t, loadClip(t))
	if len(videoSeq) != 1 || len(audioSeq) != 1 {
		t.Fatalf("%d AVC and %d AAC sequence headers, want 1 each", len(videoSeq), len(audioSeq))
	}
	gotAVC, err := media.ParseAVCConfig(videoSeq[0])
	if err != nil {
		t.Fatal(err)
	}
	srcAVC, err := media.ParseAVCConfig(srcVideoSeq[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotAVC.SPS[0], srcAVC.SPS[0]) || !bytes.Equal(gotAVC.PPS[0], srcAVC.PPS[0]) {
		t.Errorf("AVC sequence header SPS/PPS differ from the source")
	}
	if !bytes.Equal(audioSeq[0], srcAudioSeq[0]) {
		t.Errorf("AudioSpecificConfig %x, want %x", audioSeq[0], srcAudioSeq[0])
	}

	if len(video) == 0 || !video[0].key {
		t.Fatalf("first video frame is not a keyframe")
	}
	if len(video) != clipVideoFrames || len(audio) != clipAudioFrames {
		t.Fatalf("%d video and %d audio frames, want %d and %d", len(video), len(audio), clipVideoFrames, clipAudioFrames)
	}
	compareFrames(t, "video", video, srcVideo)
	compareFrames(t, "audio", audio, srcAudio)
}

func compareFrames(t testing.TB, kind string, got, want []mediaTag) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d %s frames, source has %d", len(got), kind, len(want))
	}
	bad := 0
	for i := range got {
		if got[i].ts != want[i].ts || got[i].key != want[i].key || !bytes.Equal(got[i].body, want[i].body) {
			if bad++; bad <= 3 {
				t.Errorf("%s frame %d: ts %v key %v %d bytes; source ts %v key %v %d bytes (equal bodies: %v)",
					kind, i, got[i].ts, got[i].key, len(got[i].body), want[i].ts, want[i].key, len(want[i].body),
					bytes.Equal(got[i].body, want[i].body))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d %s frames differ from the source", bad, len(got), kind)
	}
}

// ---- a raw HTTP client ----

// rawResponse is a response read off a raw TCP connection.
type rawResponse struct {
	conn   net.Conn
	br     *bufio.Reader
	proto  string
	status int
	head   string // status line and header lines as received
	header http.Header
}

// rawRequest sends a request with the given method, protocol and extra
// header lines on a new connection and reads the response head.
func rawRequest(t testing.TB, addr, method, path, proto string, extra ...string) *rawResponse {
	t.Helper()
	return readHead(t, sendRequest(t, addr, method, path, proto, extra...))
}

// sendRequest dials addr and sends a request without reading the answer.
func sendRequest(t testing.TB, addr, method, path, proto string, extra ...string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	writeRequest(t, conn, addr, method, path, proto, extra...)
	return conn
}

// sendRequestSmallWindow sends a GET of path on a new connection whose
// receive buffer is readBuffer bytes, so that the server's socket fills
// while the test does not read.
func sendRequestSmallWindow(t testing.TB, addr, path string, readBuffer int) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.(*net.TCPConn).SetReadBuffer(readBuffer); err != nil {
		t.Fatal(err)
	}
	writeRequest(t, conn, addr, http.MethodGet, path, "HTTP/1.1")
	return conn
}

// publishTrack publishes key with one track and nothing sent yet; the
// test's end closes the publisher.
func publishTrack(t testing.TB, e *engine.Engine, key engine.Key, track *media.Track) *engine.Publisher {
	t.Helper()
	pub, err := e.Publish(context.Background(), key, engine.SessionInfo{ID: "pub", Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	if err := pub.SetTracks([]*media.Track{track}); err != nil {
		t.Fatal(err)
	}
	return pub
}

func writeRequest(t testing.TB, conn net.Conn, addr, method, path, proto string, extra ...string) {
	t.Helper()
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s %s\r\nHost: %s\r\nUser-Agent: httpflv-test\r\n", method, path, proto, addr)
	for _, h := range extra {
		req.WriteString(h + "\r\n")
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(conn, req.String()); err != nil {
		t.Fatal(err)
	}
}

func readHead(t testing.TB, conn net.Conn) *rawResponse {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	br := bufio.NewReader(conn)
	var head strings.Builder
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		t.Fatalf("reading status line: %v", err)
	}
	head.WriteString(line + "\r\n")
	proto, rest, _ := strings.Cut(line, " ")
	code, _, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if err != nil {
		t.Fatalf("bad status line %q", line)
	}
	hdr := http.Header{}
	for {
		line, err := tp.ReadLine()
		if err != nil {
			t.Fatalf("reading header: %v", err)
		}
		if line == "" {
			break
		}
		head.WriteString(line + "\r\n")
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("malformed header line %q", line)
		}
		hdr.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return &rawResponse{conn: conn, br: br, proto: proto, status: status, head: head.String(), header: hdr}
}

// chunkedReader decodes HTTP/1.1 chunked encoding strictly: every chunk
// must be well formed and the body must end with the 0-length chunk and an
// empty trailer.
type chunkedReader struct {
	br         *bufio.Reader
	left       int // bytes left in the current chunk
	chunks     int
	terminated bool
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.terminated {
		return 0, io.EOF
	}
	if c.left == 0 {
		if c.chunks > 0 {
			if err := c.expectCRLF(); err != nil {
				return 0, err
			}
		}
		line, err := c.br.ReadString('\n')
		if err != nil {
			return 0, fmt.Errorf("chunk size line: %w", noEOF(err))
		}
		if !strings.HasSuffix(line, "\r\n") {
			return 0, fmt.Errorf("chunk size line %q does not end with CRLF", line)
		}
		size, err := strconv.ParseUint(strings.TrimSuffix(line, "\r\n"), 16, 31)
		if err != nil {
			return 0, fmt.Errorf("chunk size line %q: %w", line, err)
		}
		if size == 0 {
			if err := c.expectCRLF(); err != nil {
				return 0, fmt.Errorf("after the last chunk: %w", err)
			}
			c.terminated = true
			return 0, io.EOF
		}
		c.chunks++
		c.left = int(size)
	}
	n, err := c.br.Read(p[:min(len(p), c.left)])
	c.left -= n
	return n, noEOF(err)
}

func (c *chunkedReader) expectCRLF() error {
	var b [2]byte
	if _, err := io.ReadFull(c.br, b[:]); err != nil {
		return fmt.Errorf("chunk CRLF: %w", noEOF(err))
	}
	if b != [2]byte{'\r', '\n'} {
		return fmt.Errorf("chunk ends with %q, want CRLF", b[:])
	}
	return nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readChunkedBody reads a whole chunked body and then the end of the
// connection.
func (r *rawResponse) readChunkedBody(t testing.TB) (body []byte, cr *chunkedReader) {
	t.Helper()
	cr = &chunkedReader{br: r.br}
	body, err := io.ReadAll(cr)
	if err != nil {
		t.Fatalf("chunked body after %d bytes in %d chunks: %v", len(body), cr.chunks, err)
	}
	if !cr.terminated {
		t.Fatalf("chunked body not terminated")
	}
	r.expectClosed(t)
	return body, cr
}

// expectClosed asserts that nothing follows and the server closes.
func (r *rawResponse) expectClosed(t testing.TB) {
	t.Helper()
	_ = r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	extra, err := io.ReadAll(r.br)
	if err != nil {
		t.Errorf("after the body: %v, want the connection closed", err)
	}
	if len(extra) > 0 {
		t.Errorf("%d bytes after the body: %q", len(extra), extra[:min(len(extra), 32)])
	}
}

// ---- a minimal WebSocket client ----

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// wsDial opens a WebSocket to path and checks the 101 answer.
func wsDial(t testing.TB, addr, path string, extra ...string) *rawResponse {
	t.Helper()
	conn, key := wsSend(t, addr, path, extra...)
	return wsHandshake(t, conn, key)
}

// wsSend sends a WebSocket opening handshake and returns its key.
func wsSend(t testing.TB, addr, path string, extra ...string) (net.Conn, string) {
	t.Helper()
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	conn := sendRequest(t, addr, http.MethodGet, path, "HTTP/1.1", append([]string{
		"Upgrade: websocket",
		"Connection: Upgrade",
		"Sec-WebSocket-Key: " + key,
		"Sec-WebSocket-Version: 13",
	}, extra...)...)
	return conn, key
}

// wsHandshake reads and checks the server's handshake answer.
func wsHandshake(t testing.TB, conn net.Conn, key string) *rawResponse {
	t.Helper()
	r := readHead(t, conn)
	if r.status != http.StatusSwitchingProtocols {
		t.Fatalf("WebSocket handshake: status %d, want 101\n%s", r.status, r.head)
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	if got, want := r.header.Get("Sec-WebSocket-Accept"), base64.StdEncoding.EncodeToString(sum[:]); got != want {
		t.Fatalf("Sec-WebSocket-Accept %q, want %q", got, want)
	}
	return r
}

// wsFrame is a server frame.
type wsFrame struct {
	fin     bool
	op      byte
	payload []byte
}

// readWSFrame reads one server frame, which must be unmasked.
func readWSFrame(br *bufio.Reader) (wsFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return wsFrame{}, err
	}
	if h[1]&0x80 != 0 {
		return wsFrame{}, errors.New("server frame is masked")
	}
	if h[0]&0x70 != 0 {
		return wsFrame{}, fmt.Errorf("reserved bits set: %#x", h[0])
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return wsFrame{}, noEOF(err)
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return wsFrame{}, noEOF(err)
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 64<<20 {
		return wsFrame{}, fmt.Errorf("frame of %d bytes", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		return wsFrame{}, noEOF(err)
	}
	return wsFrame{fin: h[0]&0x80 != 0, op: h[0] & 0x0f, payload: p}, nil
}

// readWSStream concatenates binary frames until a Close frame and returns
// the close code (-1 when the connection ended without one).
func readWSStream(t testing.TB, r *rawResponse) (data []byte, frames int, closeCode int) {
	t.Helper()
	for {
		f, err := readWSFrame(r.br)
		if err != nil {
			t.Fatalf("after %d frames (%d bytes): %v", frames, len(data), err)
		}
		switch f.op {
		case 2:
			if !f.fin {
				t.Fatalf("binary frame %d is fragmented", frames)
			}
			frames++
			data = append(data, f.payload...)
		case 8:
			if len(f.payload) < 2 {
				return data, frames, 0
			}
			return data, frames, int(binary.BigEndian.Uint16(f.payload))
		default:
			t.Fatalf("unexpected opcode %d", f.op)
		}
	}
}

// wsClientFrame returns a masked client frame.
func wsClientFrame(op byte, payload []byte) []byte {
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	b := []byte{0x80 | op}
	switch {
	case len(payload) <= 125:
		b = append(b, 0x80|byte(len(payload)))
	default:
		b = append(b, 0x80|126, byte(len(payload)>>8), byte(len(payload)))
	}
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return b
}
