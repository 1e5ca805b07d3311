package httpfmp4

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

func TestParsePath(t *testing.T) {
	def := engine.DefaultVhost
	for _, c := range []struct {
		path, query string
		want        engine.Key
		ok          bool
	}{
		{"/live/a.live.mp4", "", engine.Key{Vhost: def, App: "live", Stream: "a"}, true},
		{"/live/a/b.live.mp4", "vhost=v", engine.Key{Vhost: "v", App: "live", Stream: "a/b"}, true},
		{"/live/a.mp4", "", engine.Key{}, false}, // a recording, not the live stream
		{"/live/a.live.ts", "", engine.Key{}, false},
		{"/a.live.mp4", "", engine.Key{}, false},
		{"/live/.live.mp4", "", engine.Key{}, false},
		{"//a.live.mp4", "", engine.Key{}, false},
	} {
		q, _ := url.ParseQuery(c.query)
		got, ok := ParsePath(c.path, q)
		if ok != c.ok || got != c.want {
			t.Errorf("ParsePath(%q, %q) = %v, %v; want %v, %v", c.path, c.query, got, ok, c.want, c.ok)
		}
	}
}

// HTTP and WebSocket players that wait for the stream get the same
// bytes: the init segment, every frame from the first keyframe, and a
// clean end (last chunk, WebSocket Close). ffprobe reads the result as
// H.264 320x240 and AAC with every frame.
func TestHTTPAndWebSocketReadersShareBytes(t *testing.T) {
	ts := newTestServer(t, testConfig())
	key := engine.NewKey("", "live", "x")
	const nHTTP = 2
	var wg sync.WaitGroup
	bodies := make([][]byte, nHTTP+1)
	errs := make([]error, nHTTP+1)
	for i := range nHTTP {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(ts.srv.URL + "/live/x.live.mp4")
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/mp4" {
				t.Errorf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			bodies[i], errs[i] = io.ReadAll(resp.Body)
		}()
	}
	wg.Add(1)
	var wsFrames int
	go func() {
		defer wg.Done()
		_, br, err := wsOpen(t, ts.addr, "/live/x.live.mp4")
		if err != nil {
			errs[nHTTP] = err
			return
		}
		bodies[nHTTP], wsFrames, errs[nHTTP] = readWSStream(br)
	}()
	waitWaiting(t, ts.e, nHTTP+1)
	publishClip(t, ts.e, key, clipName).Close()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("reader %d: %v", i, err)
		}
	}
	for i := 1; i <= nHTTP; i++ {
		if !bytes.Equal(bodies[i], bodies[0]) {
			t.Fatalf("reader %d got %d bytes, reader 0 %d: not the same", i, len(bodies[i]), len(bodies[0]))
		}
	}
	if wsFrames == 0 {
		t.Error("no WebSocket frames")
	}
	s := parseStream(t, bodies[0])
	if _, vs := s.samples(1); len(vs) != clipVideoFrames {
		t.Errorf("%d video samples, want %d", len(vs), clipVideoFrames)
	}
	waitFor(t, 5*time.Second, "sessions to end", func() bool { return ts.h.Sessions() == 0 })

	testutil.RequireFFmpeg(t)
	path := filepath.Join(t.TempDir(), "x.mp4")
	if err := os.WriteFile(path, bodies[0], 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	probe, err := testutil.FFprobe(ctx, t, path)
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	v, a := probe.Video(), probe.Audio()
	if v == nil || a == nil {
		t.Fatalf("streams %+v", probe.Streams)
	}
	wantAudio := clipAudioFrames - audioBeforeKeyframe(t, clipName)
	if v.CodecName != "h264" || v.Width != 320 || v.Height != 240 || v.NbReadFrames != clipVideoFrames {
		t.Errorf("video: %s %dx%d, %d frames; want h264 320x240, %d", v.CodecName, v.Width, v.Height, v.NbReadFrames, clipVideoFrames)
	}
	if a.CodecName != "aac" || a.NbReadFrames != wantAudio {
		t.Errorf("audio: %s, %d frames; want aac, %d", a.CodecName, a.NbReadFrames, wantAudio)
	}
	if d := probe.Format.Duration; d < 5.8 || d > 6.2 {
		t.Errorf("duration %.3f s, want about 6", d)
	}
}

func TestMissingStreamIs404(t *testing.T) {
	cfg := testConfig()
	cfg.MaxStreamWait = 50 * time.Millisecond
	ts := newTestServer(t, cfg)
	for _, p := range []string{"/live/none.live.mp4", "/live/x.mp4", "/x.live.mp4"} {
		resp, err := http.Get(ts.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, resp.StatusCode)
		}
	}
}

// A stream with nothing fMP4 can carry is refused with a 404 that says
// why, and holds no session.
func TestUnplayableStreamIs404(t *testing.T) {
	ts := newTestServer(t, testConfig())
	key := engine.NewKey("", "live", "g711")
	g711, err := media.NewG711Track(media.CodecG711U, 8000, 1)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ts.e.Publish(context.Background(), key, engine.SessionInfo{ID: "pub", Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.SetTracks([]*media.Track{g711}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(ts.srv.URL + "/live/g711.live.mp4")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "no H.264, H.265, AV1, VP9, AAC, MP3 or Opus") {
		t.Errorf("status %d %q, want 404 naming the codecs", resp.StatusCode, body)
	}
	if n := ts.h.Sessions(); n != 0 {
		t.Errorf("%d sessions", n)
	}
}

// A player that stops reading is ended by the write timeout, while a
// player that keeps reading the same stream is not held back by it.
func TestStuckPlayerIsCutOff(t *testing.T) {
	ts := newTestServer(t, testConfig())
	ts.h.WriteTimeout = 300 * time.Millisecond
	key := engine.NewKey("", "live", "slow")
	video, audio := clipTracks(t)
	pub, err := ts.e.Publish(context.Background(), key, engine.SessionInfo{ID: "pub", Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.SetTracks([]*media.Track{video, audio}); err != nil {
		t.Fatal(err)
	}
	frame := func(i int) *media.Frame {
		const size = 256 << 10
		p := make([]byte, size)
		binary.BigEndian.PutUint32(p, size-4)
		p[4] = 0x41
		key := i%10 == 0
		if key {
			p[4] = 0x65
		}
		d := time.Duration(i) * 40 * time.Millisecond
		return &media.Frame{Track: video, DTS: d, PTS: d, Key: key, Payload: p}
	}
	if err := pub.WriteFrame(frame(0)); err != nil {
		t.Fatal(err)
	}
	stuck, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	_ = stuck.(*net.TCPConn).SetReadBuffer(4 << 10)
	fmt.Fprintf(stuck, "GET /live/slow.live.mp4 HTTP/1.1\r\nHost: %s\r\n\r\n", ts.addr)

	good, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	fmt.Fprintf(good, "GET /live/slow.live.mp4 HTTP/1.1\r\nHost: %s\r\n\r\n", ts.addr)
	resp, err := http.ReadResponse(bufio.NewReader(good), nil)
	if err != nil {
		t.Fatal(err)
	}
	goodDone := make(chan int64)
	go func() {
		n, _ := io.Copy(io.Discard, resp.Body)
		goodDone <- n
	}()
	waitFor(t, 5*time.Second, "two sessions", func() bool { return ts.h.Sessions() == 2 })
	for i := 1; ts.h.Sessions() == 2; i++ {
		if i > 500 {
			t.Fatal("the stuck player was not cut off after 500 frames of 256 KiB")
		}
		if err := pub.WriteFrame(frame(i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if ts.h.Sessions() != 1 {
		t.Fatalf("%d sessions, want the good one left", ts.h.Sessions())
	}
	pub.Close()
	if n := <-goodDone; n < 1<<20 {
		t.Errorf("the good player got %d bytes", n)
	}
}
