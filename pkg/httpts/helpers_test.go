package httpts

import (
	"bufio"
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
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mediakit/mediakit/internal/testutil"
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

func testConfig() engine.Config {
	cfg := engine.DefaultConfig()
	cfg.ContinuePush = 200 * time.Millisecond
	cfg.MaxStreamWait = 10 * time.Second
	cfg.MaxReaderLag = 0
	return cfg
}

type testServer struct {
	e    *engine.Engine
	h    *Handler
	srv  *httptest.Server
	addr string
}

func newTestServer(t testing.TB, cfg engine.Config) *testServer {
	t.Helper()
	e := engine.New(cfg, nil)
	h := NewHandler(e, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close()
		e.Close()
		srv.Close()
	})
	return &testServer{e: e, h: h, srv: srv, addr: srv.Listener.Addr().String()}
}

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

func (ts *testServer) waitWaiting(t testing.TB, n int64) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("%d waiting players", n), func() bool {
		return ts.e.Stats().WaitingReaders.Load() == n
	})
}

var (
	clipOnce sync.Once
	clipTags []flv.Tag
	clipErr  error
)

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
			tag.Body = slices.Clone(tag.Body)
			clipTags = append(clipTags, tag)
		}
	})
	if clipErr != nil {
		t.Fatalf("reading %s: %v", clipName, clipErr)
	}
	return clipTags
}

// publishClip publishes the clip on key through a flv.Ingest without
// pacing. The caller closes the publisher.
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
	return pub
}

// ---- a minimal WebSocket client ----

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// wsOpen opens a WebSocket to path and checks the 101 answer; the
// returned reader is positioned after the response head.
func wsOpen(t testing.TB, addr, path string) (net.Conn, *bufio.Reader, error) {
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, addr, key)
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, nil, fmt.Errorf("WebSocket handshake: status %d, want 101", resp.StatusCode)
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), base64.StdEncoding.EncodeToString(sum[:]); got != want {
		return nil, nil, fmt.Errorf("Sec-WebSocket-Accept %q, want %q", got, want)
	}
	return conn, br, nil
}

// readWSStream concatenates binary frames until a Close frame.
func readWSStream(br *bufio.Reader) (data []byte, frames int, err error) {
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return data, frames, err
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return data, frames, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return data, frames, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			return data, frames, err
		}
		switch h[0] & 0x0f {
		case 2:
			frames++
			data = append(data, p...)
		case 8:
			return data, frames, nil
		default:
			return data, frames, fmt.Errorf("unexpected opcode %d", h[0]&0x0f)
		}
	}
}

// ---- checking an MPEG-TS stream ----

type tsStats struct {
	packets    int
	pes        map[int]int // PES starts per PID
	ccErrors   map[int]int // continuity counter jumps per PID after its first packet
	firstPID   int
	firstVideo bool // the first PES on PID 256 has the random access indicator
}

func parseTS(t testing.TB, data []byte) tsStats {
	t.Helper()
	if len(data)%tsPacketSize != 0 {
		t.Fatalf("%d bytes: not whole TS packets", len(data))
	}
	st := tsStats{pes: map[int]int{}, ccErrors: map[int]int{}, firstPID: -1}
	last := map[int]int{}
	for off := 0; off < len(data); off += tsPacketSize {
		p := data[off : off+tsPacketSize]
		if p[0] != 0x47 {
			t.Fatalf("packet %d: sync byte %#x", off/tsPacketSize, p[0])
		}
		pid := int(p[1]&0x1f)<<8 | int(p[2])
		if st.firstPID < 0 {
			st.firstPID = pid
		}
		st.packets++
		hasPayload := p[3]&0x10 != 0
		cc := int(p[3] & 0x0f)
		if l, ok := last[pid]; ok && hasPayload && cc != (l+1)&0x0f && cc != l {
			st.ccErrors[pid]++
		}
		if hasPayload {
			last[pid] = cc
		}
		if p[1]&0x40 != 0 && pid >= 256 && pid < 0x1000 {
			if pid == 256 && st.pes[256] == 0 {
				st.firstVideo = p[3]&0x20 != 0 && p[4] > 0 && p[5]&0x40 != 0
			}
			st.pes[pid]++
		}
	}
	return st
}

func httpGet(t testing.TB, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return http.DefaultClient.Do(req)
}

// audioBeforeKeyframe counts the clip's AAC frames that come before its
// first video keyframe.
func audioBeforeKeyframe(t testing.TB) int {
	n := 0
	for _, tag := range loadClip(t) {
		switch tag.Type {
		case flv.TagVideo:
			if p, err := flv.ParseVideo(tag.Body); err == nil && p.Type != flv.VideoSequenceHeader && p.Key {
				return n
			}
		case flv.TagAudio:
			if p, err := flv.ParseAudio(tag.Body); err == nil && !p.SequenceHeader {
				n++
			}
		}
	}
	return n
}

// publishClipTracks returns the clip's H.264 and AAC tracks, as the
// engine sees them after a flv.Ingest.
func publishClipTracks(t testing.TB) []*media.Track {
	t.Helper()
	e := engine.New(testConfig(), nil)
	defer e.Close()
	pub := publishClip(t, e, engine.NewKey("", "tracks", "x"))
	defer pub.Close()
	r, err := e.Play(context.Background(), pub.Key(), engine.SessionInfo{ID: "p", Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var video, audio *media.Track
	for _, tr := range r.Tracks() {
		switch tr.Kind() {
		case media.KindVideo:
			video = tr
		case media.KindAudio:
			audio = tr
		}
	}
	if video == nil || audio == nil {
		t.Fatalf("clip tracks %v", r.Tracks())
	}
	return []*media.Track{video, audio}
}
