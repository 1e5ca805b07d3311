package httpfmp4

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
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"go.uber.org/goleak"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Frame counts of testdata/clips (testdata/clips/README.md).
const (
	clipName        = "h264_aac.flv"
	clipVideoFrames = 150
	clipAudioFrames = 260
	h265Frames      = 100
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

func waitWaiting(t testing.TB, e *engine.Engine, n int64) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("%d waiting players", n), func() bool {
		return e.Stats().WaitingReaders.Load() == n
	})
}

var (
	clipMu   sync.Mutex
	clipTags = map[string][]flv.Tag{}
)

// loadClip returns the tags of an FLV clip.
func loadClip(t testing.TB, name string) []flv.Tag {
	t.Helper()
	clipMu.Lock()
	defer clipMu.Unlock()
	if tags, ok := clipTags[name]; ok {
		return tags
	}
	f, err := os.Open(testutil.Clip(t, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var tags []flv.Tag
	r := flv.NewReader(f, 0)
	for {
		tag, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading %s: %v", name, err)
		}
		tag.Body = slices.Clone(tag.Body)
		tags = append(tags, tag)
	}
	clipTags[name] = tags
	return tags
}

// ingestTags feeds tags to in.
func ingestTags(t testing.TB, in *flv.Ingest, tags []flv.Tag) {
	t.Helper()
	for _, tag := range tags {
		if err := in.Tag(tag); err != nil {
			t.Fatalf("ingest tag at %v: %v", tag.Timestamp, err)
		}
	}
}

// publishClip publishes an FLV clip on key without pacing. The caller
// closes the publisher.
func publishClip(t testing.TB, e *engine.Engine, key engine.Key, name string) *engine.Publisher {
	t.Helper()
	pub, err := e.Publish(context.Background(), key, engine.SessionInfo{ID: "pub", Protocol: "test"})
	if err != nil {
		t.Fatalf("publish %s: %v", key, err)
	}
	in := flv.NewIngest(pub)
	ingestTags(t, in, loadClip(t, name))
	if err := in.Flush(); err != nil {
		t.Fatal(err)
	}
	return pub
}

// clipTracks returns the H.264 and AAC tracks of h264_aac.flv as the
// engine sees them after a flv.Ingest.
func clipTracks(t testing.TB) (video, audio *media.Track) {
	t.Helper()
	e := engine.New(testConfig(), nil)
	defer e.Close()
	pub := publishClip(t, e, engine.NewKey("", "tracks", "x"), clipName)
	defer pub.Close()
	r, err := e.Play(context.Background(), pub.Key(), engine.SessionInfo{ID: "p", Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
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
	return video, audio
}

// h265Clip returns the H.265 track and the 100 frames (AVCC, 25 fps) of
// testdata/clips/h265.hevc.
func h265Clip(t testing.TB) (*media.Track, []*media.Frame) {
	t.Helper()
	aus := testutil.ClipAccessUnits(t, "h265.hevc", true)
	var vps, sps, pps []byte
	for _, n := range aus[0] {
		switch (n[0] >> 1) & 0x3f {
		case 32:
			vps = n
		case 33:
			sps = n
		case 34:
			pps = n
		}
	}
	track, err := media.NewH265Track(vps, sps, pps)
	if err != nil {
		t.Fatal(err)
	}
	frames := make([]*media.Frame, len(aus))
	for i, au := range aus {
		payload := media.AppendAVCC(nil, au...)
		d := time.Duration(i) * 40 * time.Millisecond
		frames[i] = &media.Frame{Track: track, DTS: d, PTS: d, Key: media.IsRandomAccess(media.CodecH265, payload), Payload: payload}
	}
	return track, frames
}

// readAll runs an encoder over r's frames until the stream ends and
// returns the bytes and the frames the reader got.
func readAll(t testing.TB, r *engine.Reader, enc *encoder) ([]byte, []*media.Frame) {
	t.Helper()
	var out []byte
	var got []*media.Frame
	buf := make([]*media.Frame, 0, 64)
	for {
		var err error
		buf, err = r.Next(buf[:0])
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, engine.ErrReaderClosed) {
				t.Errorf("reader: %v", err)
			}
			return out, got
		}
		got = append(got, buf...)
		for _, b := range enc.Append(nil, buf) {
			out = append(out, b...)
		}
	}
}

// stream is an fMP4 stream split into its init segment and fragments.
type stream struct {
	init    fmp4.Init
	initLen int
	parts   fmp4.Parts
}

// samples returns the samples of track id with their decode times.
func (s *stream) samples(id int) (base []uint64, smp []*fmp4.Sample) {
	for _, p := range s.parts {
		for _, pt := range p.Tracks {
			if pt.ID != id {
				continue
			}
			at := pt.BaseTime
			for _, x := range pt.Samples {
				base = append(base, at)
				smp = append(smp, x)
				at += uint64(x.Duration)
			}
		}
	}
	return base, smp
}

// parseStream checks the top-level boxes of an fMP4 stream (ftyp, moov,
// then moof+mdat pairs) and reads them with mediacommon.
func parseStream(t testing.TB, data []byte) *stream {
	t.Helper()
	var types []string
	for off := 0; off < len(data); {
		if len(data)-off < 8 {
			t.Fatalf("%d trailing bytes at %d", len(data)-off, off)
		}
		size := int(binary.BigEndian.Uint32(data[off:]))
		if size < 8 || off+size > len(data) {
			t.Fatalf("box %q at %d: size %d of %d left", data[off+4:off+8], off, size, len(data)-off)
		}
		types = append(types, string(data[off+4:off+8]))
		off += size
	}
	if len(types) < 2 || types[0] != "ftyp" || types[1] != "moov" {
		t.Fatalf("stream starts with %v, want ftyp, moov", types[:min(len(types), 4)])
	}
	for i, typ := range types[2:] {
		if want := []string{"moof", "mdat"}[i%2]; typ != want {
			t.Fatalf("box %d is %q, want %q", i+2, typ, want)
		}
	}
	s := &stream{}
	s.initLen = int(binary.BigEndian.Uint32(data)) + int(binary.BigEndian.Uint32(data[binary.BigEndian.Uint32(data):]))
	if err := s.init.Unmarshal(bytes.NewReader(data[:s.initLen])); err != nil {
		t.Fatalf("init segment: %v", err)
	}
	if err := s.parts.Unmarshal(data[s.initLen:]); err != nil {
		t.Fatalf("fragments: %v", err)
	}
	return s
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

// audioBeforeKeyframe counts the AAC frames of an FLV clip before its
// first video keyframe.
func audioBeforeKeyframe(t testing.TB, name string) int {
	n := 0
	for _, tag := range loadClip(t, name) {
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

// syncBuffer is a bytes.Buffer safe for a logger and a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
