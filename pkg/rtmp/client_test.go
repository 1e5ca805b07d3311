package rtmp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

// The committed clip's frame counts (testdata/clips/README.md).
const (
	clientClipVideo = 150
	clientClipAudio = 260
)

// clientRecSink records what an flv.Ingest produces.
type clientRecSink struct {
	mu     sync.Mutex
	tracks []*media.Track
	md     media.Metadata
	frames []*media.Frame
	video  int
	audio  int
}

func (s *clientRecSink) SetTracks(tracks []*media.Track) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tracks = append([]*media.Track(nil), tracks...)
	return nil
}

func (s *clientRecSink) SetMetadata(md media.Metadata) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.md = md
}

func (s *clientRecSink) WriteFrame(f *media.Frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames = append(s.frames, f)
	if f.Track.Kind() == media.KindVideo {
		s.video++
	} else {
		s.audio++
	}
	return nil
}

// checkClip checks that s holds all of h264_aac.flv.
func (s *clientRecSink) checkClip(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.video != clientClipVideo || s.audio != clientClipAudio {
		t.Errorf("%d video and %d audio frames, want %d and %d", s.video, s.audio, clientClipVideo, clientClipAudio)
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
}

// feedIngest hands a played message to an ingest.
func feedIngest(in *flv.Ingest, msg *Message) error {
	if len(msg.Body) == 0 {
		return nil
	}
	switch msg.Type {
	case MsgVideo:
		return in.Video(msg.Timestamp, msg.Body)
	case MsgAudio:
		return in.Audio(msg.Timestamp, msg.Body)
	case MsgDataAMF0:
		return in.Script(msg.Body)
	case MsgDataAMF3:
		return in.Script(msg.Body[1:])
	}
	return nil
}

// clientReadClip reads an FLV clip with flv.Reader and an Ingest.
func clientReadClip(t *testing.T, name string) *clientRecSink {
	t.Helper()
	f, err := os.Open(testutil.Clip(t, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sink := &clientRecSink{}
	in := flv.NewIngest(sink)
	if err := flv.IngestAll(f, in); err != nil {
		t.Fatal(err)
	}
	return sink
}

type clientTestServer struct {
	eng  *engine.Engine
	addr string
}

func startClientTestServer(t *testing.T, cfg engine.Config) *clientTestServer {
	t.Helper()
	eng := engine.New(cfg, nil)
	srv := NewServer(eng, slog.New(slog.DiscardHandler))
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
	return &clientTestServer{eng: eng, addr: ln.Addr().String()}
}

func (ts *clientTestServer) url(app, stream string) string {
	return "rtmp://" + ts.addr + "/" + app + "/" + stream
}

// waitWaiting allows 20 s: ffprobe, the player here, can take seconds to
// start on a loaded machine.
func (ts *clientTestServer) waitWaiting(t *testing.T, n int64) {
	t.Helper()
	clientWaitFor(t, 20*time.Second, "waiting players", func() bool {
		return ts.eng.Stats().WaitingReaders.Load() == n
	})
}

func clientWaitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func endingConfig() engine.Config {
	cfg := engine.DefaultConfig()
	cfg.ContinuePush = 0 // the stream ends as soon as its publisher leaves
	return cfg
}

// TestClientPlayFFmpegPublisher: a player that waits for the stream gets
// every frame ffmpeg publishes, then a clean end.
func TestClientPlayFFmpegPublisher(t *testing.T) {
	testutil.RequireFFmpeg(t)
	t.Parallel()
	ts := startClientTestServer(t, endingConfig())
	u := ts.url("live", "ff")

	type result struct {
		c   *Client
		err error
	}
	dialed := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() {
		c, err := DialPlay(ctx, u, ClientOptions{})
		dialed <- result{c, err}
	}()
	ts.waitWaiting(t, 1)
	pub := testutil.PublishClip(t, "h264_aac.flv", u, false)
	res := <-dialed
	if res.err != nil {
		t.Fatal(res.err)
	}
	c := res.c
	defer c.Close()
	if c.StreamID() != 1 {
		t.Errorf("stream id %d, want 1", c.StreamID())
	}

	sink := &clientRecSink{}
	in := flv.NewIngest(sink)
	for {
		msg, err := c.ReadMessage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("ReadMessage: %v", err)
		}
		switch msg.Type {
		case MsgVideo, MsgAudio, MsgDataAMF0, MsgDataAMF3:
		default:
			t.Fatalf("ReadMessage returned a message of type %d", msg.Type)
		}
		if err := feedIngest(in, msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := in.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadMessage(); !errors.Is(err, io.EOF) {
		t.Errorf("ReadMessage after the end: %v, want io.EOF", err)
	}
	if err := pub.Wait(10 * time.Second); err != nil {
		t.Error(err)
	}
	sink.checkClip(t)
	if n := c.BytesRead(); n < 290000 {
		t.Errorf("BytesRead %d, want at least the clip's media", n)
	}
	if c.BytesWritten() == 0 {
		t.Error("BytesWritten is 0")
	}
}

// TestClientPublishFFprobe: what DialPublish sends plays in ffprobe with
// every frame.
func TestClientPublishFFprobe(t *testing.T) {
	testutil.RequireFFmpeg(t)
	t.Parallel()
	clip := clientReadClip(t, "h264_aac.flv")
	if clip.video != clientClipVideo || clip.audio != clientClipAudio {
		t.Fatalf("clip read as %d/%d frames", clip.video, clip.audio)
	}
	cfg := endingConfig()
	cfg.MaxStreamWait = 20 * time.Second
	ts := startClientTestServer(t, cfg)
	u := ts.url("live", "pub")

	type result struct {
		p   *testutil.Probe
		err error
	}
	probed := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		p, err := testutil.FFprobe(ctx, t, u)
		probed <- result{p, err}
	}()
	ts.waitWaiting(t, 1)

	c, err := DialPublish(ctx, u, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.StreamID() != 1 {
		t.Errorf("stream id %d, want 1 (the FrameMessage path)", c.StreamID())
	}
	if err := c.WriteTracks(clip.tracks, clip.md); err != nil {
		t.Fatal(err)
	}
	for _, f := range clip.frames {
		if err := c.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	written := c.BytesWritten()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if written < 290000 {
		t.Errorf("BytesWritten %d, want at least the clip's media", written)
	}
	res := <-probed
	if res.err != nil {
		t.Fatal(res.err)
	}
	v, a := res.p.Video(), res.p.Audio()
	if v == nil || a == nil {
		t.Fatalf("streams %+v, want video and audio", res.p.Streams)
	}
	if v.CodecName != "h264" || v.Width != 320 || v.Height != 240 || v.NbReadFrames != clientClipVideo {
		t.Errorf("video %s %dx%d, %d frames; want h264 320x240, %d frames", v.CodecName, v.Width, v.Height, v.NbReadFrames, clientClipVideo)
	}
	if a.CodecName != "aac" || a.SampleRate != 44100 || a.Channels != 2 || a.NbReadFrames != clientClipAudio {
		t.Errorf("audio %s %d Hz x%d, %d frames; want aac 44100 Hz x2, %d frames", a.CodecName, a.SampleRate, a.Channels, a.NbReadFrames, clientClipAudio)
	}
}

// TestClientPlayRoundTrip: DialPublish to DialPlay through the server,
// frame for frame.
func TestClientPlayRoundTrip(t *testing.T) {
	t.Parallel()
	clip := clientReadClip(t, "h264_bframes_aac.flv")
	ts := startClientTestServer(t, endingConfig())
	u := ts.url("live", "rt") + "?token=abc"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	type result struct {
		sink *clientRecSink
		err  error
	}
	played := make(chan result, 1)
	go func() {
		c, err := DialPlay(ctx, u, ClientOptions{})
		if err != nil {
			played <- result{err: err}
			return
		}
		defer c.Close()
		sink := &clientRecSink{}
		in := flv.NewIngest(sink)
		for {
			msg, err := c.ReadMessage()
			if errors.Is(err, io.EOF) {
				played <- result{sink, in.Flush()}
				return
			}
			if err == nil {
				err = feedIngest(in, msg)
			}
			if err != nil {
				played <- result{err: err}
				return
			}
		}
	}()
	ts.waitWaiting(t, 1)
	c, err := DialPublish(ctx, u, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteTracks(clip.tracks, clip.md); err != nil {
		t.Fatal(err)
	}
	for _, f := range clip.frames {
		if err := c.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	res := <-played
	if res.err != nil {
		t.Fatal(res.err)
	}
	got := res.sink.frames
	if len(got) != len(clip.frames) {
		t.Fatalf("played %d frames, published %d", len(got), len(clip.frames))
	}
	// The engine puts the stream on a timeline starting at zero.
	offset := got[0].DTS - clip.frames[0].DTS
	for i, f := range clip.frames {
		g := got[i]
		if g.Track.Kind() != f.Track.Kind() || g.DTS-offset != f.DTS || g.PTS-offset != f.PTS || g.Key != f.Key || !bytes.Equal(g.Payload, f.Payload) {
			t.Fatalf("frame %d: got %v dts %v pts %v key %v (%d bytes), want %v dts %v pts %v key %v (%d bytes)",
				i, g.Track.Kind(), g.DTS, g.PTS, g.Key, len(g.Payload), f.Track.Kind(), f.DTS, f.PTS, f.Key, len(f.Payload))
		}
	}
}

func TestClientPlayStreamNotFound(t *testing.T) {
	t.Parallel()
	cfg := engine.DefaultConfig()
	cfg.MaxStreamWait = 200 * time.Millisecond
	ts := startClientTestServer(t, cfg)
	u := ts.url("live", "missing")
	start := time.Now()
	c, err := DialPlay(context.Background(), u, ClientOptions{})
	if err == nil {
		c.Close()
		t.Fatal("DialPlay of a missing stream succeeded")
	}
	var se *StatusError
	if !errors.As(err, &se) || se.Code != "NetStream.Play.StreamNotFound" || se.Op != "play" {
		t.Fatalf("error %v (%T), want a play StatusError NetStream.Play.StreamNotFound", err, err)
	}
	want := "rtmp: play " + u + ": NetStream.Play.StreamNotFound"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start with %q", err, want)
	}
	// At MaxStreamWait (200ms), not DefaultStartTimeout (30 s): the
	// bound tells the two apart, a slow machine does not reach it.
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestClientPublishBusy(t *testing.T) {
	t.Parallel()
	ts := startClientTestServer(t, engine.DefaultConfig())
	u := ts.url("live", "busy")
	ctx := context.Background()
	first, err := DialPublish(ctx, u, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := DialPublish(ctx, u, ClientOptions{})
	if err == nil {
		second.Close()
		t.Fatal("a second publisher was accepted")
	}
	var se *StatusError
	if !errors.As(err, &se) || se.Code != "NetStream.Publish.BadName" || se.Op != "publish" {
		t.Fatalf("error %v, want a publish StatusError NetStream.Publish.BadName", err)
	}
	if want := "rtmp: publish " + u + ": NetStream.Publish.BadName"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start with %q", err, want)
	}
	// The first publisher is unaffected.
	clip := clientReadClip(t, "h264_aac.flv")
	if err := first.WriteTracks(clip.tracks, clip.md); err != nil {
		t.Fatal(err)
	}
	if err := first.WriteFrame(clip.frames[0]); err != nil {
		t.Fatal(err)
	}
}

// TestClientPublisherKicked: a publisher whose stream is closed by the
// server learns it on its next writes.
func TestClientPublisherKicked(t *testing.T) {
	t.Parallel()
	ts := startClientTestServer(t, engine.DefaultConfig())
	u := ts.url("live", "kick")
	c, err := DialPublish(context.Background(), u, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	clip := clientReadClip(t, "h264_aac.flv")
	if err := c.WriteTracks(clip.tracks, clip.md); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.eng.CloseStream(context.Background(), engine.NewKey("", "live", "kick"), "kicked"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; ; i++ {
		err := c.WriteFrame(clip.frames[i%len(clip.frames)])
		if err != nil {
			if !strings.Contains(err.Error(), u) {
				t.Errorf("error %q does not name the URL", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("writes still succeed after the server closed the stream")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestParseClientURL(t *testing.T) {
	for _, tc := range []struct {
		in                       string
		addr, app, stream, tcURL string
	}{
		{"rtmp://h/app/s", "h:1935", "app", "s", "rtmp://h/app"},
		{"rtmp://h:1940/live/a/b?token=x&vhost=v", "h:1940", "live", "a/b?token=x&vhost=v", "rtmp://h:1940/live"},
		{"RTMP://[::1]/app/s", "[::1]:1935", "app", "s", "rtmp://[::1]/app"},
		{"rtmp://user:pw@h/app/s", "h:1935", "app", "s", "rtmp://h/app"},
	} {
		u, err := ParseClientURL(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if u.Addr != tc.addr || u.App != tc.app || u.Stream != tc.stream || u.TCURL != tc.tcURL {
			t.Errorf("%s: %+v, want %s %s %s %s", tc.in, u, tc.addr, tc.app, tc.stream, tc.tcURL)
		}
	}
	for _, bad := range []string{"http://h/app/s", "rtmp://h/app", "rtmp://h/app/", "rtmp:///app/s", "rtmp://h", "rtmp:h/app/s", "::"} {
		if u, err := ParseClientURL(bad); err == nil {
			t.Errorf("%s: parsed as %+v", bad, u)
		}
	}
	if u, _ := ParseClientURL("rtmp://user:secret@h/app/s"); strings.Contains(u.Display, "secret") {
		t.Errorf("Display %q shows the password", u.Display)
	}
}

func TestClientDialErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("bad URL", func(t *testing.T) {
		_, err := DialPlay(ctx, "rtmp://127.0.0.1/app", ClientOptions{})
		if err == nil || !strings.Contains(err.Error(), "rtmp: play") || !strings.Contains(err.Error(), "rtmp://127.0.0.1/app") {
			t.Errorf("error %v", err)
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		u := "rtmp://" + testutil.FreeAddr(t) + "/live/s"
		_, err := DialPlay(ctx, u, ClientOptions{})
		if err == nil || !strings.HasPrefix(err.Error(), "rtmp: play "+u+": ") || !strings.Contains(err.Error(), "refused") {
			t.Errorf("error %v, want a refusal naming %s", err, u)
		}
		_, err = DialPublish(ctx, u, ClientOptions{})
		if err == nil || !strings.HasPrefix(err.Error(), "rtmp: publish "+u+": ") {
			t.Errorf("error %v, want a refusal naming %s", err, u)
		}
	})

	t.Run("silent server", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		accepted := make(chan net.Conn, 1)
		go func() {
			nc, err := ln.Accept()
			if err == nil {
				accepted <- nc
			}
			close(accepted)
		}()
		defer func() {
			ln.Close()
			for nc := range accepted {
				nc.Close()
			}
		}()
		u := "rtmp://" + ln.Addr().String() + "/live/s"
		start := time.Now()
		_, err = DialPlay(ctx, u, ClientOptions{ReadTimeout: 200 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "handshake") || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("error %v, want a handshake timeout", err)
		}
		// At the 200ms ReadTimeout, not DefaultClientTimeout (10 s).
		if d := time.Since(start); d > DefaultClientTimeout/2 {
			t.Errorf("gave up after %v", d)
		}
	})

	t.Run("cancel while waiting for the stream", func(t *testing.T) {
		cfg := engine.DefaultConfig()
		cfg.MaxStreamWait = 30 * time.Second
		ts := startClientTestServer(t, cfg)
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		_, err := DialPlay(cctx, ts.url("live", "later"), ClientOptions{})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
		// Cancelled at 200ms; waiting out MaxStreamWait would take 30 s.
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("returned %v after the start, want promptly after the cancel", d)
		}
		ts.waitWaiting(t, 0)
	})

	t.Run("start timeout", func(t *testing.T) {
		cfg := engine.DefaultConfig()
		cfg.MaxStreamWait = 30 * time.Second
		ts := startClientTestServer(t, cfg)
		_, err := DialPlay(ctx, ts.url("live", "later"), ClientOptions{StartTimeout: 300 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "waiting for NetStream.Play.Start") {
			t.Errorf("error %v, want a timeout waiting for NetStream.Play.Start", err)
		}
		ts.waitWaiting(t, 0)
	})
}
