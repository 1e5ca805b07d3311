package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/store"
)

// syncBuffer collects the server log for failing tests.
type syncBuffer = testutil.SyncBuffer

type testServer struct {
	*Server
	rtmpURL  string
	httpURL  string
	logs     *syncBuffer
	stopOnce sync.Once
}

// stop shuts the server down once; cleanup calls it too.
func (ts *testServer) stop(t *testing.T) {
	ts.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ts.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
}

func startServer(t *testing.T, mutate func(*config.Config)) *testServer {
	t.Helper()
	return startServerCfg(t, mutate, nil)
}

// startServerWithSaved starts a server with the settings an earlier one
// saved in dir through setServerConfig, as `mediakit serve` loads them.
func startServerWithSaved(t *testing.T, mutate func(*config.Config), dir string) *testServer {
	t.Helper()
	saved, err := store.ReadConfig(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return startServerCfg(t, mutate, saved)
}

func startServerCfg(t *testing.T, mutate func(*config.Config), saved map[string]string) *testServer {
	t.Helper()
	cfg := config.Default()
	cfg.RTMP.Addr = "127.0.0.1:0"
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.RTPProxy.Addr = "127.0.0.1:0"
	cfg.RTSP.Addr = "127.0.0.1:0"
	cfg.RTSP.RTPAddr, cfg.RTSP.RTCPAddr = "127.0.0.1:0", "127.0.0.1:0" // a free even/odd pair
	cfg.RTSP.TLSAddr = "127.0.0.1:0"
	cfg.General.DataDir = t.TempDir()
	cfg.Protocol.ContinuePush = time.Second
	cfg.General.MaxStreamWait = 15 * time.Second
	if mutate != nil {
		mutate(cfg)
	}
	for k, v := range saved {
		if s, ok := config.Lookup(k); ok && !s.Restart {
			if err := cfg.Set(k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := New(cfg, Options{Log: log, Version: "test"})
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

func (ts *testServer) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(ts.httpURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// metric returns the value of a mediakit metric from /metrics.
func (ts *testServer) metric(t *testing.T, name string) float64 {
	t.Helper()
	_, body := ts.get(t, "/metrics")
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

type probeResult struct {
	probe *testutil.Probe
	err   error
}

// probeAsync starts ffprobe counting frames of url until the stream ends.
func probeAsync(t *testing.T, url string) <-chan probeResult {
	ch := make(chan probeResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		p, err := testutil.FFprobe(ctx, t, url)
		ch <- probeResult{p, err}
	}()
	return ch
}

// TestPublishAndPlayEveryFrame pushes a clip with ffmpeg while ffprobe plays
// it over RTMP and HTTP-FLV from before the first frame to the clean end of
// stream, and checks that every frame arrived.
func TestPublishAndPlayEveryFrame(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	for _, clip := range []string{"h264_aac.flv", "h264_bframes_aac.flv"} {
		t.Run(clip, func(t *testing.T) {
			t.Parallel() // each on its own server: waitWaiting counts the server's players
			ts := startServer(t, nil)
			stream := strings.TrimSuffix(clip, ".flv")
			rtmpPlay := probeAsync(t, ts.rtmpURL+"/live/"+stream)
			flvPlay := probeAsync(t, ts.httpURL+"/live/"+stream+".live.flv")
			// Every frame reaches only players that wait for the stream.
			ts.waitWaiting(t, 2)
			pub := testutil.PublishClip(t, clip, ts.rtmpURL+"/live/"+stream, false)
			if err := pub.Wait(30 * time.Second); err != nil {
				t.Fatalf("publisher: %v", err)
			}
			for name, ch := range map[string]<-chan probeResult{"rtmp": rtmpPlay, "http-flv": flvPlay} {
				res := <-ch
				if res.err != nil {
					t.Fatalf("%s player: %v", name, res.err)
				}
				v, a := res.probe.Video(), res.probe.Audio()
				if v == nil || a == nil {
					t.Fatalf("%s player: streams %+v", name, res.probe.Streams)
				}
				if v.CodecName != "h264" || v.Width != 320 || v.Height != 240 {
					t.Errorf("%s video: %s %dx%d, want h264 320x240", name, v.CodecName, v.Width, v.Height)
				}
				if a.CodecName != "aac" || a.SampleRate != 44100 || a.Channels != 2 {
					t.Errorf("%s audio: %s %d Hz %d ch, want aac 44100 Hz 2 ch", name, a.CodecName, a.SampleRate, a.Channels)
				}
				if v.NbReadFrames != 150 || a.NbReadFrames != 260 {
					t.Errorf("%s: %d video and %d audio frames, want 150 and 260", name, v.NbReadFrames, a.NbReadFrames)
				}
				if len(res.probe.Streams) != 2 {
					t.Errorf("%s: %d streams, want 2", name, len(res.probe.Streams))
				}
			}
		})
	}
}

// TestSecondPublisherRefused: a second ffmpeg publishing to a live stream
// fails at once while the first keeps streaming to its players.
func TestSecondPublisherRefused(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, nil)
	url := ts.rtmpURL + "/live/dup"
	first := testutil.PublishClip(t, "h264_aac.flv", url, true)
	waitStream(t, ts, "live/dup")

	second := testutil.PublishClip(t, "h264_aac.flv", url, true)
	if err := second.Wait(10 * time.Second); err == nil {
		t.Fatal("second publisher succeeded")
	}
	if first.Exited() {
		t.Fatalf("first publisher stopped: %s", first.Stderr())
	}
	if got := ts.metric(t, "mediakit_publishers_refused_total"); got != 1 {
		t.Fatalf("publishers_refused_total = %v, want 1", got)
	}
	if !strings.Contains(ts.logs.String(), "already being published") {
		t.Error("refusal not logged")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := testutil.FFprobe(ctx, t, ts.httpURL+"/live/dup.live.flv", "-read_intervals", "%+2")
	if err != nil {
		t.Fatalf("player of the first publisher: %v", err)
	}
	if v := p.Video(); v == nil || v.NbReadFrames < 40 {
		t.Fatalf("player got %+v, want at least 40 video frames in 2 s", v)
	}
}

func waitStream(t *testing.T, ts *testServer, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		infos, err := ts.Engine.Streams(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range infos {
			if in.Key.App+"/"+in.Key.Stream == name && in.Ready {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("stream %s not published", name)
}

func TestHealthzAndMetrics(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	code, body := ts.get(t, "/healthz")
	if code != http.StatusOK {
		t.Fatalf("healthz: %d %s", code, body)
	}
	var h health
	if err := json.Unmarshal(body, &h); err != nil || h.Status != "ok" || h.Streams != 0 {
		t.Fatalf("healthz body %s (%v)", body, err)
	}
	_, metrics := ts.get(t, "/metrics")
	for _, name := range []string{"go_goroutines", "process_open_fds", "mediakit_streams", "mediakit_readers",
		"mediakit_bytes_in_total", "mediakit_bytes_out_total", "mediakit_frames_skipped_total",
		"mediakit_readers_dropped_total", "mediakit_publishers_refused_total", "mediakit_rtmp_sessions"} {
		if !bytes.Contains(metrics, []byte("\n"+name+" ")) {
			t.Errorf("metric %s missing", name)
		}
	}
	if code, _ := ts.get(t, "/nothing"); code != http.StatusNotFound {
		t.Errorf("unknown path: %d", code)
	}
}

func TestPlayMissingStreamIs404(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(c *config.Config) { c.General.MaxStreamWait = 200 * time.Millisecond })
	code, _ := ts.get(t, "/live/none.live.flv")
	if code != http.StatusNotFound {
		t.Fatalf("got %d, want 404", code)
	}
	if got := ts.metric(t, "mediakit_readers_not_found_total"); got != 1 {
		t.Fatalf("readers_not_found_total = %v", got)
	}
}

func TestListenErrorIsClear(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	cfg := config.Default()
	cfg.General.DataDir = t.TempDir()
	cfg.RTMP.Addr = ts.RTMPAddr() // taken
	cfg.HTTP.Addr = "127.0.0.1:0"
	s := New(cfg, Options{Log: slog.New(slog.DiscardHandler), Version: "test"})
	err := s.Start()
	if err == nil {
		s.Shutdown(context.Background())
		t.Fatal("second server bound a taken address")
	}
	if !strings.Contains(err.Error(), "rtmp: listen "+ts.RTMPAddr()) {
		t.Fatalf("error %q does not name the listener and address", err)
	}
}

// flvPlayer reads an HTTP-FLV stream and checks it as it goes.
type flvPlayer struct {
	videoFrames int
	audioFrames int
	keyframes   int
	err         error
	lastVideo   time.Duration
	lastAudio   time.Duration
	// seen counts video frames like videoFrames, and ended is set when
	// play returns, for polling while the player plays (the other fields
	// are read once play returned).
	seen  atomic.Int64
	ended atomic.Bool
}

// minSeen is the fewest video frames any of players has seen so far, or
// MaxInt64 once one has ended: what a wait for frames checks next.
func minSeen(players []*flvPlayer) int64 {
	n := int64(math.MaxInt64)
	for _, p := range players {
		if p.ended.Load() {
			return math.MaxInt64
		}
		n = min(n, p.seen.Load())
	}
	return n
}

func (p *flvPlayer) play(ctx context.Context, url string) {
	defer p.ended.Store(true)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.err = err
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		p.err = fmt.Errorf("status %d", resp.StatusCode)
		return
	}
	r := flv.NewReader(resp.Body, 0)
	for {
		tag, err := r.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.err = err
			}
			return
		}
		switch tag.Type {
		case flv.TagVideo:
			pkt, err := flv.ParseVideo(tag.Body)
			if err != nil {
				p.err = err
				return
			}
			if pkt.Type != flv.VideoFrame {
				continue
			}
			if tag.Timestamp < p.lastVideo {
				p.err = fmt.Errorf("video timestamp %v after %v", tag.Timestamp, p.lastVideo)
				return
			}
			if p.videoFrames == 0 && !pkt.Key {
				p.err = errors.New("first video frame is not a keyframe")
				return
			}
			p.lastVideo = tag.Timestamp
			p.videoFrames++
			p.seen.Add(1)
			if pkt.Key {
				p.keyframes++
			}
		case flv.TagAudio:
			if tag.Timestamp < p.lastAudio {
				p.err = fmt.Errorf("audio timestamp %v after %v", tag.Timestamp, p.lastAudio)
				return
			}
			p.lastAudio = tag.Timestamp
			p.audioFrames++
		}
	}
}

func openFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries)
}

// TestPlayersSurvivePublisherRestarts is failure-modes 2 and 5: 20
// HTTP-FLV players stay attached while the publisher restarts five times
// within the grace period, see monotonic timestamps throughout, and get a
// clean end once the publisher is gone for good; /healthz answers all
// along; goroutines and file descriptors return to their baseline.
//
// Not parallel: the baseline is the whole process's.
func TestPlayersSurvivePublisherRestarts(t *testing.T) {
	runRestartChurn(t, 20, 5)
}

// TestSoakPublisherRestarts is the long version (make soak): 100 players
// across 60 publisher restarts.
func TestSoakPublisherRestarts(t *testing.T) {
	if os.Getenv("MEDIAKIT_SOAK") == "" {
		t.Skip("set MEDIAKIT_SOAK=1 (make soak)")
	}
	runRestartChurn(t, 100, 60)
}

func runRestartChurn(t *testing.T, players, restarts int) {
	testutil.RequireFFmpeg(t)
	baseGoroutines := runtime.NumGoroutine()
	baseFDs := openFDs()
	func() {
		ts := startServer(t, func(c *config.Config) { c.Protocol.ContinuePush = 3 * time.Second })
		url := ts.rtmpURL + "/live/churn"

		pub := testutil.PublishClip(t, "h264_aac.flv", url, true)
		waitStream(t, ts, "live/churn")

		results := make([]*flvPlayer, players)
		var wg sync.WaitGroup
		for i := range results {
			results[i] = &flvPlayer{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i].play(context.Background(), ts.httpURL+"/live/churn.live.flv")
			}()
		}

		healthStop := make(chan struct{})
		healthErr := make(chan error, 1)
		go func() {
			defer close(healthErr)
			client := &http.Client{Timeout: 2 * time.Second}
			for {
				select {
				case <-healthStop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				resp, err := client.Get(ts.httpURL + "/healthz")
				if err != nil {
					healthErr <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					healthErr <- fmt.Errorf("healthz %d", resp.StatusCode)
					return
				}
			}
		}()

		// Each publisher plays until every player has had 1.5 s of its
		// video (38 frames at 25 fps), however long a loaded machine
		// takes to start ffmpeg; then it is gone for 300ms, within the
		// grace period. A player that ended early ends the waits; the
		// checks below say why it ended.
		publishes := func() {
			t.Helper()
			from := minSeen(results)
			if from == math.MaxInt64 {
				return
			}
			waitFor(t, 60*time.Second, "every player to get 1.5 s of the publisher's video", func() bool {
				return minSeen(results) >= from+38
			})
		}
		for i := 0; i < restarts; i++ {
			publishes()
			pub.Stop()
			time.Sleep(300 * time.Millisecond) // the publisher's absence, not a wait
			pub = testutil.PublishClip(t, "h264_aac.flv", url, true)
		}
		publishes()
		pub.Stop()
		wg.Wait() // players end after the grace period
		close(healthStop)
		if err := <-healthErr; err != nil {
			t.Fatalf("/healthz during restarts: %v", err)
		}
		for i, p := range results {
			if p.err != nil {
				t.Fatalf("player %d: %v", i, p.err)
			}
			// 1.5 s of 25 fps video per publisher, at least
			if p.videoFrames < 25*(restarts+1) || p.keyframes < restarts+1 || p.audioFrames < 40*(restarts+1) {
				t.Fatalf("player %d: %d video (%d key), %d audio frames", i, p.videoFrames, p.keyframes, p.audioFrames)
			}
		}
		if got := ts.metric(t, "mediakit_publisher_returns_total"); got != float64(restarts) {
			t.Fatalf("publisher_returns_total = %v, want %d", got, restarts)
		}
		ts.stop(t)
	}()
	waitBaseline(t, baseGoroutines, baseFDs)
}

// waitBaseline waits for goroutines and fds to come back near where they
// were; a few goroutines of net/http's idle client connections may linger.
func waitBaseline(t *testing.T, goroutines, fds int) {
	t.Helper()
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	var g, f int
	for time.Now().Before(deadline) {
		g, f = runtime.NumGoroutine(), openFDs()
		if g <= goroutines+2 && f <= fds+2 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	t.Fatalf("goroutines %d (baseline %d), fds %d (baseline %d)\n%s", g, goroutines, f, fds, buf[:n])
}

// TestTakeover: with --takeover a second ffmpeg publisher replaces the
// first, whose connection is closed, and a player attached throughout
// keeps receiving with monotonic timestamps.
func TestTakeover(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, func(c *config.Config) {
		c.General.Takeover = true
		c.Protocol.ContinuePush = 500 * time.Millisecond
	})
	url := ts.rtmpURL + "/live/take"
	first := testutil.PublishClip(t, "h264_aac.flv", url, true)
	waitStream(t, ts, "live/take")

	player := &flvPlayer{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		player.play(context.Background(), ts.httpURL+"/live/take.live.flv")
	}()
	waitFor(t, 20*time.Second, "the player to get a second of the first publisher", func() bool {
		return player.seen.Load() >= 25 || player.ended.Load()
	})
	second := testutil.PublishClip(t, "h264_aac.flv", url, true)
	if err := first.Wait(10 * time.Second); err == nil {
		t.Fatal("replaced publisher exited cleanly; want an error from the closed connection")
	}
	// The new publisher goes on: the player gets more than a second of
	// it (or it stops, which fails).
	from := player.seen.Load()
	waitFor(t, 20*time.Second, "the player to get a second of the new publisher", func() bool {
		return second.Exited() || player.ended.Load() || player.seen.Load() >= from+30
	})
	if second.Exited() {
		t.Fatalf("new publisher stopped: %s", second.Stderr())
	}
	second.Stop()
	<-done // ends after the grace period
	if player.err != nil {
		t.Fatalf("player: %v", player.err)
	}
	if player.videoFrames < 50 || player.keyframes < 2 {
		t.Fatalf("player got %d video frames (%d key)", player.videoFrames, player.keyframes)
	}
	if got := ts.metric(t, "mediakit_publishers_replaced_total"); got != 1 {
		t.Fatalf("publishers_replaced_total = %v, want 1", got)
	}
}
