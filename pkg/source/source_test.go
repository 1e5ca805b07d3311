package source

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/rtmp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The committed clip's frame counts (testdata/clips/README.md).
const (
	clipName  = "h264_aac.flv"
	clipVideo = 150
	clipAudio = 260
)

// recSink records what a source delivers.
type recSink struct {
	mu       sync.Mutex
	tracks   []*media.Track
	md       media.Metadata
	frames   []*media.Frame
	video    int
	audio    int
	failFrom int // WriteFrame fails from this frame on, when > 0
}

var errSinkFull = errors.New("sink full")

func (s *recSink) SetTracks(tracks []*media.Track) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tracks = append([]*media.Track(nil), tracks...)
	return nil
}

func (s *recSink) SetMetadata(md media.Metadata) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.md = md
}

func (s *recSink) WriteFrame(f *media.Frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failFrom > 0 && len(s.frames)+1 >= s.failFrom {
		return errSinkFull
	}
	s.frames = append(s.frames, f)
	if f.Track.Kind() == media.KindVideo {
		s.video++
	} else {
		s.audio++
	}
	return nil
}

func (s *recSink) count() (video, audio int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.video, s.audio
}

// checkClip checks that s got all of h264_aac.flv.
func (s *recSink) checkClip(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.video != clipVideo || s.audio != clipAudio {
		t.Errorf("%d video and %d audio frames, want %d and %d", s.video, s.audio, clipVideo, clipAudio)
	}
	var v, a *media.Track
	for _, tr := range s.tracks {
		switch tr.Kind() {
		case media.KindVideo:
			v = tr
		case media.KindAudio:
			a = tr
		}
	}
	if v == nil || v.Codec != media.CodecH264 || v.Width != 320 || v.Height != 240 {
		t.Errorf("video track %v, want H.264 320x240", v)
	}
	if a == nil || a.Codec != media.CodecAAC || a.SampleRate != 44100 || a.Channels != 2 {
		t.Errorf("audio track %v, want AAC 44100 Hz stereo", a)
	}
	for i := 1; i < len(s.frames); i++ {
		if f, prev := s.frames[i], s.frames[i-1]; f.Track.Kind() == prev.Track.Kind() && f.DTS < prev.DTS {
			t.Errorf("frame %d goes back in time: %v after %v", i, f.DTS, prev.DTS)
			break
		}
	}
}

// sameFrames checks that got holds the frames of want, payloads included.
func sameFrames(t *testing.T, got, want *recSink) {
	t.Helper()
	if len(got.frames) != len(want.frames) {
		t.Fatalf("%d frames, want %d", len(got.frames), len(want.frames))
	}
	for i, w := range want.frames {
		g := got.frames[i]
		if g.Track.Kind() != w.Track.Kind() || g.DTS != w.DTS || g.PTS != w.PTS || g.Key != w.Key || !bytes.Equal(g.Payload, w.Payload) {
			t.Fatalf("frame %d differs from the clip's", i)
		}
	}
}

// referenceClip reads the clip with flv.Reader and an Ingest directly.
func referenceClip(t *testing.T) *recSink {
	t.Helper()
	sink := &recSink{}
	in := flv.NewIngest(sink)
	if err := flv.IngestAll(bytes.NewReader(clipBytes(t)), in); err != nil {
		t.Fatal(err)
	}
	return sink
}

func clipBytes(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(testutil.Clip(t, clipName))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustOpen(t *testing.T, input string, opts Options) Source {
	t.Helper()
	s, err := Open(input, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// runAsync runs src in a goroutine; the channel gets Run's result.
func runAsync(ctx context.Context, src Source, sink flv.FrameSink) <-chan error {
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	return done
}

// requireStopsAfterCancel cancels and checks Run returns
// context.Canceled within 5 s: a Run that missed the cancel would wait for
// DefaultTimeout (10 s) or for ever; a slow machine takes milliseconds.
func requireStopsAfterCancel(t *testing.T, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	cancel()
	start := time.Now()
	defer func() { t.Logf("Run returned %v after cancel", time.Since(start)) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(DefaultTimeout / 2):
		t.Errorf("Run still running %v after cancel", DefaultTimeout/2)
		<-done
		t.FailNow()
	}
}

func TestOpenUnsupported(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, in := range []string{
		"",
		"clip.mkv",
		filepath.Join(dir, "noext"),
		"srt://host:9000/x",
		"http://host/live/s/index.mp4",
		"https://host/live/s.m3u8.flv.mp4?x=.flv",
		"rtmp://host/app",
		"rtmp:///app/s",
		"http:///s.flv",
		"ftp://host/x.flv",
	} {
		s, err := Open(in, Options{})
		if err == nil {
			t.Errorf("Open(%q) = %v, want an error", in, s)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "source: ") || !strings.Contains(msg, in) {
			t.Errorf("Open(%q): %q does not name the input", in, msg)
		}
		if errors.Is(err, ErrUnsupported) && !strings.Contains(msg, Supported) {
			t.Errorf("Open(%q): %q does not list what is supported", in, msg)
		}
	}
	if _, err := Open(filepath.Join(dir, "missing.flv"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "d.flv"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(filepath.Join(dir, "d.flv"), Options{}); err == nil {
		t.Error("a directory opened as a file")
	}
	for _, ok := range []string{"rtmp://h/app/s?x=1", "http://h/live/s.live.flv?token=1", "HTTPS://h/a/B.FLV",
		"http://h/live/s.live.ts", "https://h/live/s/hls.m3u8?token=.flv", "http://h/a/B.M3U8",
		testutil.Clip(t, clipName), "file://" + testutil.Clip(t, clipName), testutil.Clip(t, "h265_aac.mp4")} {
		if _, err := Open(ok, Options{}); err != nil {
			t.Errorf("Open(%q): %v", ok, err)
		}
	}
}

func TestFile(t *testing.T) {
	t.Parallel()
	path := testutil.Clip(t, clipName)
	src := mustOpen(t, path, Options{})
	size := int64(len(clipBytes(t)))
	if src.Size() != size {
		t.Errorf("Size %d, want %d", src.Size(), size)
	}
	sink := &recSink{}
	start := time.Now()
	if err := src.Run(context.Background(), sink); err != nil {
		t.Fatal(err)
	}
	// Paced, the 6 s clip would take 6 s; unpaced it takes milliseconds,
	// and a slow machine does not make that 5 s.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("reading took %v; not paced, it should take milliseconds", d)
	}
	sink.checkClip(t)
	sameFrames(t, sink, referenceClip(t))
	if n := src.BytesRead(); n != size {
		t.Errorf("BytesRead %d, want %d", n, size)
	}
	if src.String() != path {
		t.Errorf("String %q", src.String())
	}
	// Run again: the source is read anew.
	again := &recSink{}
	if err := src.Run(context.Background(), again); err != nil {
		t.Fatal(err)
	}
	again.checkClip(t)
	if n := src.BytesRead(); n != 2*size {
		t.Errorf("BytesRead after two runs %d, want %d", n, 2*size)
	}
}

// TestFileRealtime paces the 6 s clip in real time. It mostly sleeps, so
// it runs in parallel with the others without loading the machine.
func TestFileRealtime(t *testing.T) {
	t.Parallel()
	src := mustOpen(t, testutil.Clip(t, clipName), Options{Realtime: true})
	sink := &recSink{}
	start := time.Now()
	// Paced, frames never run ahead of the wall clock: after t, at most
	// t x 25 fps plus a small read-ahead has been delivered. Only this
	// direction is checked, so a slow machine cannot fail it.
	done := runAsync(context.Background(), src, sink)
	var err error
	for running := true; running; {
		select {
		case err = <-done:
			running = false
		case <-time.After(50 * time.Millisecond):
		}
		// Read the clock before the count: the count can only have grown.
		elapsed := time.Since(start)
		if v, _ := sink.count(); float64(v) > elapsed.Seconds()*25+15 {
			t.Fatalf("%d video frames after %v of a 25 fps clip paced in real time: ahead of the clock", v, elapsed)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 5500*time.Millisecond {
		t.Errorf("took %v, want at least the clip's 6 s", d)
	}
	sink.checkClip(t)
	sameFrames(t, sink, referenceClip(t))
}

func TestFileCancel(t *testing.T) {
	t.Parallel()
	src := mustOpen(t, testutil.Clip(t, clipName), Options{Realtime: true})
	ctx, cancel := context.WithCancel(context.Background())
	sink := &recSink{}
	done := runAsync(ctx, src, sink)
	deadline := time.Now().Add(10 * time.Second)
	for v, a := sink.count(); v == 0 || a == 0; v, a = sink.count() {
		if time.Now().After(deadline) {
			t.Fatal("no frames within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	requireStopsAfterCancel(t, cancel, done)
	if v, a := sink.count(); v == 0 || a == 0 || v >= clipVideo {
		t.Errorf("%d video and %d audio frames before the cancel", v, a)
	}
	// A cancelled context does not even start.
	if err := src.Run(ctx, &recSink{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a cancelled context: %v", err)
	}
}

func TestFileBadInput(t *testing.T) {
	t.Parallel()
	clip := clipBytes(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("truncated", func(t *testing.T) {
		p := write("half.flv", clip[:len(clip)/2])
		sink := &recSink{}
		err := mustOpen(t, p, Options{}).Run(context.Background(), sink)
		if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), p) {
			t.Fatalf("error %v, want an unexpected EOF naming %s", err, p)
		}
		if v, a := sink.count(); v == 0 || a == 0 {
			t.Errorf("%d video and %d audio frames from half the clip", v, a)
		}
	})

	t.Run("not FLV", func(t *testing.T) {
		for name, b := range map[string][]byte{
			"empty.flv":   nil,
			"short.flv":   clip[:5],
			"garbage.flv": bytes.Repeat([]byte("garbage!"), 100),
		} {
			err := mustOpen(t, write(name, b), Options{}).Run(context.Background(), &recSink{})
			if !errors.Is(err, flv.ErrNotFLV) || !strings.Contains(err.Error(), name) {
				t.Errorf("%s: %v", name, err)
			}
		}
	})

	t.Run("every truncation", func(t *testing.T) {
		// Cut the clip everywhere in its first tags and at growing steps
		// after: each run ends with an error, or cleanly where the cut
		// falls between tags, never with a panic.
		for n := 0; n < len(clip); n += 1 + n/16 {
			err := readFLV(testFeed(&recSink{}), "cut", bytes.NewReader(clip[:n]), 0)
			if n < 13 && err == nil {
				t.Errorf("cut at %d, in the header: no error", n)
			}
		}
	})

	t.Run("corrupt bodies", func(t *testing.T) {
		b := bytes.Clone(clip)
		// Flip bytes in tag bodies: codec errors, not panics.
		for i := 13 + 11; i < len(b); i += 997 {
			b[i] ^= 0xff
		}
		_ = readFLV(testFeed(&recSink{}), "corrupt", bytes.NewReader(b), 0)
	})

	t.Run("sink error", func(t *testing.T) {
		sink := &recSink{failFrom: 50}
		err := mustOpen(t, testutil.Clip(t, clipName), Options{}).Run(context.Background(), sink)
		if !errors.Is(err, errSinkFull) {
			t.Fatalf("error %v, want the sink's", err)
		}
	})
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	clip := clipBytes(t)
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/live/s.live.flv", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/x-flv")
		http.ServeContent(w, r, "s.flv", time.Time{}, bytes.NewReader(clip))
	})
	mux.HandleFunc("/live/half.flv", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(clip[:len(clip)/2])
	})
	// a live stream that stops sending after its first tags
	mux.HandleFunc("/live/stall.flv", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(clip[:20000])
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(release)

	t.Run("clip", func(t *testing.T) {
		u := srv.URL + "/live/s.live.flv?token=secret"
		src := mustOpen(t, u, Options{})
		sink := &recSink{}
		if err := src.Run(context.Background(), sink); err != nil {
			t.Fatal(err)
		}
		sink.checkClip(t)
		sameFrames(t, sink, referenceClip(t))
		if src.BytesRead() != int64(len(clip)) || src.Size() != int64(len(clip)) {
			t.Errorf("BytesRead %d, Size %d, want %d", src.BytesRead(), src.Size(), len(clip))
		}
	})

	t.Run("404", func(t *testing.T) {
		u := srv.URL + "/live/missing.flv"
		err := mustOpen(t, u, Options{}).Run(context.Background(), &recSink{})
		if err == nil || !strings.Contains(err.Error(), "404 Not Found") || !strings.Contains(err.Error(), u) {
			t.Fatalf("error %v, want a 404 naming %s", err, u)
		}
	})

	t.Run("truncated", func(t *testing.T) {
		err := mustOpen(t, srv.URL+"/live/half.flv", Options{}).Run(context.Background(), &recSink{})
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("error %v, want an unexpected EOF", err)
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		u := "http://" + testutil.FreeAddr(t) + "/live/s.flv"
		err := mustOpen(t, u, Options{}).Run(context.Background(), &recSink{})
		if err == nil || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), u) {
			t.Fatalf("error %v", err)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		sink := &recSink{}
		done := runAsync(ctx, mustOpen(t, srv.URL+"/live/stall.flv", Options{}), sink)
		// Frames from the first bytes: Run is reading the stalled body
		// when the cancel comes, not still connecting.
		testutil.Eventually(t, 10*time.Second, "the first frames of the stalled stream", func() bool {
			v, a := sink.count()
			return v+a > 0
		})
		requireStopsAfterCancel(t, cancel, done)
	})

	t.Run("idle", func(t *testing.T) {
		start := time.Now()
		err := mustOpen(t, srv.URL+"/live/stall.flv", Options{ReadTimeout: 300 * time.Millisecond}).Run(context.Background(), &recSink{})
		if !errors.Is(err, ErrNoMedia) || !strings.Contains(err.Error(), "no media for 300ms") || !strings.Contains(err.Error(), "/live/stall.flv") {
			t.Fatalf("error %v", err)
		}
		// At the 300ms ReadTimeout, not DefaultTimeout's 10 s; a slow
		// machine does not take 5.
		if d := time.Since(start); d > DefaultTimeout/2 {
			t.Errorf("gave up after %v", d)
		}
	})
}

type rtmpTestServer struct {
	eng  *engine.Engine
	addr string
}

func startRTMPServer(t *testing.T, cfg engine.Config) *rtmpTestServer {
	t.Helper()
	eng := engine.New(cfg, nil)
	srv := rtmp.NewServer(eng, slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		eng.Close()
	})
	return &rtmpTestServer{eng: eng, addr: ln.Addr().String()}
}

func (s *rtmpTestServer) url(stream string) string { return "rtmp://" + s.addr + "/live/" + stream }

func (s *rtmpTestServer) waitWaiting(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.eng.Stats().WaitingReaders.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d waiting players", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRTMP pulls what ffmpeg publishes to the in-process server.
func TestRTMP(t *testing.T) {
	testutil.RequireFFmpeg(t)
	t.Parallel()
	cfg := engine.DefaultConfig()
	cfg.ContinuePush = 0 // the stream ends when ffmpeg does
	ts := startRTMPServer(t, cfg)
	u := ts.url("ff")
	src := mustOpen(t, u, Options{})
	sink := &recSink{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := runAsync(ctx, src, sink)
	ts.waitWaiting(t, 1)
	pub := testutil.PublishClip(t, clipName, u, false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := pub.Wait(10 * time.Second); err != nil {
		t.Error(err)
	}
	sink.checkClip(t)
	if n := src.BytesRead(); n < int64(len(clipBytes(t)))*9/10 {
		t.Errorf("BytesRead %d", n)
	}
	if src.Size() != -1 {
		t.Errorf("Size %d of a live source", src.Size())
	}
}

func TestRTMPErrors(t *testing.T) {
	t.Parallel()
	cfg := engine.DefaultConfig()
	cfg.MaxStreamWait = 200 * time.Millisecond
	ts := startRTMPServer(t, cfg)

	t.Run("not found", func(t *testing.T) {
		u := ts.url("missing")
		err := mustOpen(t, u, Options{}).Run(context.Background(), &recSink{})
		var se *rtmp.StatusError
		if !errors.As(err, &se) || se.Code != "NetStream.Play.StreamNotFound" || !strings.Contains(err.Error(), u) {
			t.Fatalf("error %v, want StreamNotFound naming %s", err, u)
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		u := "rtmp://" + testutil.FreeAddr(t) + "/live/s"
		err := mustOpen(t, u, Options{}).Run(context.Background(), &recSink{})
		if err == nil || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), u) {
			t.Fatalf("error %v", err)
		}
	})

	t.Run("not RTMP", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		defer srv.Close()
		u := "rtmp://" + srv.Listener.Addr().String() + "/live/s"
		err := mustOpen(t, u, Options{ReadTimeout: time.Second}).Run(context.Background(), &recSink{})
		if err == nil || !strings.Contains(err.Error(), u) {
			t.Fatalf("error %v", err)
		}
	})
}

// TestRTMPCancel: Run stops within a second of a cancel, both while the
// server holds the player for a stream not published yet and while
// playing a stream that sends nothing new.
func TestRTMPCancel(t *testing.T) {
	t.Parallel()
	cfg := engine.DefaultConfig()
	cfg.MaxStreamWait = 30 * time.Second
	ts := startRTMPServer(t, cfg)

	t.Run("waiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := runAsync(ctx, mustOpen(t, ts.url("later"), Options{}), &recSink{})
		ts.waitWaiting(t, 1)
		requireStopsAfterCancel(t, cancel, done)
		ts.waitWaiting(t, 0)
	})

	t.Run("playing", func(t *testing.T) {
		// Publish the first second of the clip and keep the publisher.
		clip := &recSink{}
		if err := mustOpen(t, testutil.Clip(t, clipName), Options{}).Run(context.Background(), clip); err != nil {
			t.Fatal(err)
		}
		pub, err := rtmp.DialPublish(context.Background(), ts.url("idle"), rtmp.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		if err := pub.WriteTracks(clip.tracks, clip.md); err != nil {
			t.Fatal(err)
		}
		for _, f := range clip.frames {
			if f.DTS > time.Second {
				break
			}
			if err := pub.WriteFrame(f); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		sink := &recSink{}
		src := mustOpen(t, ts.url("idle"), Options{})
		done := runAsync(ctx, src, sink)
		deadline := time.Now().Add(5 * time.Second)
		for {
			// the GOP cache gives the player the frames sent so far
			if v, a := sink.count(); v+a > 0 && src.BytesRead() > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no frame reached the sink")
			}
			time.Sleep(5 * time.Millisecond)
		}
		requireStopsAfterCancel(t, cancel, done)
	})
}

// testFeed is the feed of a Run into sink, for calling readers directly.
func testFeed(sink flv.FrameSink) *feed {
	return newFeed(context.Background(), sink, Options{}.withDefaults(), false)
}
