package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/hls"
)

// httpGet fetches url with optional request headers.
func httpGet(t *testing.T, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, body
}

// livePlaylist fetches and parses a live playlist, which must answer 200.
func livePlaylist(t *testing.T, url string) *hls.MediaPlaylist {
	t.Helper()
	resp, body := httpGet(t, url, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	p, err := hls.ParsePlaylist(body)
	if err != nil {
		t.Fatalf("playlist %s: %v\n%s", url, err, body)
	}
	return p
}

// streamInfo returns the engine's view of live/NAME.
func streamInfo(t *testing.T, ts *testServer, app, stream string) (engine.StreamInfo, bool) {
	t.Helper()
	info, found, err := ts.Engine.Stream(context.Background(), engine.NewKey("", app, stream))
	if err != nil {
		t.Fatal(err)
	}
	return info, found
}

// sinkCount counts the running sinks of that name on app/stream.
func sinkCount(t *testing.T, ts *testServer, app, stream, name string) int {
	t.Helper()
	info, _ := streamInfo(t, ts, app, stream)
	n := 0
	for _, s := range info.Sinks {
		if s == name {
			n++
		}
	}
	return n
}

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLiveHLS plays a looping publisher as live HLS: playlist and segment
// headers, target duration, sliding window, retention of segments that
// left the window, playback by ffmpeg, one muxer for several viewers.
func TestLiveHLS(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	const segNum, retain = 2, 1
	ts := startServer(t, func(c *config.Config) {
		c.HLS.SegDur = 2 * time.Second
		c.HLS.SegNum = segNum
		c.HLS.SegRetain = retain
		c.API.AllowOrigin = "http://player.example" // gets credentials; others get *
	})
	testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/hls1", true)
	waitStream(t, ts, "live/hls1")
	base := ts.httpURL + "/live/hls1/"

	// The first request waits for the first segment.
	resp, body := httpGet(t, base+"hls.m3u8", map[string]string{"Origin": "http://player.example"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("playlist: %d %s", resp.StatusCode, body)
	}
	for k, want := range map[string]string{
		"Content-Type":                     "application/vnd.apple.mpegurl",
		"Cache-Control":                    "no-cache",
		"Access-Control-Allow-Origin":      "http://player.example",
		"Access-Control-Allow-Credentials": "true",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("playlist %s = %q, want %q", k, got, want)
		}
	}
	first, err := hls.ParsePlaylist(body)
	if err != nil {
		t.Fatalf("playlist: %v\n%s", err, body)
	}
	if resp, _ := httpGet(t, base+"hls.m3u8", nil); resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("playlist without Origin: Access-Control-Allow-Origin %q, want *", resp.Header.Get("Access-Control-Allow-Origin"))
	}
	checkLivePlaylist(t, first, segNum)

	// Two viewers play the live playlist while the window moves.
	type played struct {
		p   *testutil.Probe
		err error
	}
	viewers := make(chan played, 2)
	for range 2 {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			p, err := testutil.FFprobe(ctx, t, base+"hls.m3u8", "-read_intervals", "%+4")
			viewers <- played{p, err}
		}()
	}

	// Segments: MPEG-TS, cacheable for long.
	last := first.Segments[len(first.Segments)-1]
	resp, seg := httpGet(t, base+last.URI, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("segment %s: %d", last.URI, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "video/mp2t" {
		t.Errorf("segment Content-Type %q", ct)
	}
	if age := maxAge(resp.Header.Get("Cache-Control")); age < 60 {
		t.Errorf("segment Cache-Control %q: want a max-age of a minute or more", resp.Header.Get("Cache-Control"))
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("segment without CORS header")
	}
	if len(seg) == 0 || len(seg)%188 != 0 || seg[0] != 0x47 {
		t.Errorf("segment of %d bytes is not MPEG-TS", len(seg))
	}

	// The window slides: a segment leaves the listing, is still served
	// while retained, then answers 404.
	s := first.Segments[0].Seq
	var sawListed, sawRetained bool
	deadline := time.Now().Add(30 * time.Second)
	maxListed := 0
window:
	for {
		if time.Now().After(deadline) {
			t.Fatalf("segment %d not dropped within 30 s (listed seen %v, retained seen %v)", s, sawListed, sawRetained)
		}
		p1 := livePlaylist(t, base+"hls.m3u8")
		resp, _ := httpGet(t, base+hls.SegmentURI(s), nil)
		p2 := livePlaylist(t, base+"hls.m3u8")
		checkLivePlaylist(t, p2, segNum)
		maxListed = max(maxListed, len(p2.Segments))
		if p1.MediaSequence != p2.MediaSequence {
			continue // the window moved meanwhile
		}
		ms := p1.MediaSequence
		switch {
		case ms <= s:
			sawListed = true
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("listed segment %d: %d", s, resp.StatusCode)
			}
		case ms <= s+retain:
			sawRetained = true
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("segment %d retained (media sequence %d): %d", s, ms, resp.StatusCode)
			}
		default:
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("segment %d beyond retention (media sequence %d): %d, want 404", s, ms, resp.StatusCode)
			}
			if !sawRetained {
				t.Fatalf("segment %d never seen retained before its removal", s)
			}
			if ms <= first.MediaSequence {
				t.Fatalf("media sequence did not advance: %d then %d", first.MediaSequence, ms)
			}
			break window
		}
		time.Sleep(150 * time.Millisecond)
	}
	if maxListed != segNum {
		t.Errorf("playlist listed at most %d segments, want hls.segNum %d", maxListed, segNum)
	}

	if n := sinkCount(t, ts, "live", "hls1", hls.SinkName); n != 1 {
		t.Errorf("%d hls sinks with two viewers, want 1", n)
	}
	for range 2 {
		v := <-viewers
		if v.err != nil {
			t.Fatalf("ffprobe of the live playlist: %v", v.err)
		}
		video, audio := v.p.Video(), v.p.Audio()
		if video == nil || audio == nil || video.CodecName != "h264" || audio.CodecName != "aac" {
			t.Fatalf("live HLS streams: %+v", v.p.Streams)
		}
		// 4 s at 25 fps
		if video.NbReadFrames < 90 || audio.NbReadFrames < 150 {
			t.Errorf("live HLS viewer decoded %d video and %d audio frames in 4 s", video.NbReadFrames, audio.NbReadFrames)
		}
	}
	if n := sinkCount(t, ts, "live", "hls1", hls.SinkName); n != 1 {
		t.Errorf("%d hls sinks after two viewers, want 1", n)
	}
}

// checkLivePlaylist checks what every live playlist of a 1 s-GOP stream
// with hls.segDur 2 s must satisfy.
func checkLivePlaylist(t *testing.T, p *hls.MediaPlaylist, segNum int) {
	t.Helper()
	if p.Ended || p.PlaylistType != "" {
		t.Errorf("live playlist: ended %v, type %q", p.Ended, p.PlaylistType)
	}
	if p.TargetDuration != 2 {
		t.Errorf("EXT-X-TARGETDURATION %d, want 2 (hls.segDur)", p.TargetDuration)
	}
	if n := len(p.Segments); n == 0 || n > segNum {
		t.Errorf("%d segments listed, want 1 to %d", n, segNum)
	}
	for i, s := range p.Segments {
		if s.Seq != p.MediaSequence+uint64(i) || s.URI != hls.SegmentURI(s.Seq) {
			t.Errorf("segment %d: seq %d uri %s (media sequence %d)", i, s.Seq, s.URI, p.MediaSequence)
		}
		// cut on the first keyframe at least segDur in: 2 s here, give or
		// take the seam where ffmpeg loops the clip (about 15 ms)
		if s.Duration < 1950*time.Millisecond || s.Duration > 2050*time.Millisecond {
			t.Errorf("segment %d lasts %v, want 2 s", s.Seq, s.Duration)
		}
	}
}

func maxAge(cacheControl string) int {
	for _, d := range strings.Split(cacheControl, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(d), "max-age="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return -1
}

// TestLiveHLSDiscontinuity: a publisher that comes back within the grace
// period continues the same playlist after EXT-X-DISCONTINUITY.
func TestLiveHLSDiscontinuity(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, func(c *config.Config) {
		c.Protocol.ContinuePush = 3 * time.Second
		c.HLS.SegDur = time.Second
		c.HLS.SegNum = 6
	})
	url := ts.rtmpURL + "/live/disc"
	pub := testutil.PublishClip(t, "h264_aac.flv", url, true)
	waitStream(t, ts, "live/disc")
	playlist := ts.httpURL + "/live/disc/hls.m3u8"
	var before *hls.MediaPlaylist
	waitFor(t, 15*time.Second, "two live segments", func() bool {
		before = livePlaylist(t, playlist)
		return len(before.Segments) >= 2
	})
	lastBefore := before.Segments[len(before.Segments)-1].Seq

	pub.Stop()
	time.Sleep(300 * time.Millisecond) // the publisher's absence, not a wait
	testutil.PublishClip(t, "h264_aac.flv", url, true)

	var after *hls.MediaPlaylist
	disc := -1
	waitFor(t, 15*time.Second, "EXT-X-DISCONTINUITY after the publisher came back", func() bool {
		after = livePlaylist(t, playlist)
		for i, s := range after.Segments {
			if s.Discontinuity && i < len(after.Segments)-1 {
				disc = i
				return true
			}
		}
		return false
	})
	if after.Ended {
		t.Error("playlist ended while the publisher came back")
	}
	d := after.Segments[disc]
	if d.Seq <= lastBefore {
		t.Errorf("segment after the discontinuity has seq %d, not after %d: the playlist restarted", d.Seq, lastBefore)
	}
	for i, s := range after.Segments {
		if s.Discontinuity != (i == disc) {
			t.Errorf("segment %d: discontinuity %v", s.Seq, s.Discontinuity)
		}
	}
	_, raw := httpGet(t, playlist, nil)
	if !bytes.Contains(raw, []byte("#EXT-X-DISCONTINUITY\n")) {
		t.Errorf("playlist text has no EXT-X-DISCONTINUITY:\n%s", raw)
	}
	// The segment after the tag decodes on its own.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := testutil.FFprobe(ctx, t, ts.httpURL+"/live/disc/"+d.URI)
	if err != nil || p.Video() == nil || p.Video().NbReadFrames < 20 {
		t.Fatalf("segment after the discontinuity: %v %+v", err, p)
	}
	if n := sinkCount(t, ts, "live", "disc", hls.SinkName); n != 1 {
		t.Errorf("%d hls sinks, want 1", n)
	}
}

// TestLiveHLSDemand: with protocol.hls_demand, live HLS starts on the
// first playlist request. (The server's idle stop is 30 s or more, too
// long here; TestLiveHLSReap checks Live.Reap on the real engine.)
func TestLiveHLSDemand(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, func(c *config.Config) {
		c.Protocol.HLSDemand = true
		c.HLS.SegDur = time.Second
	})
	testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/dem", true)
	waitStream(t, ts, "live/dem")
	// The sinks a stream starts with are started by the engine's sink
	// policy on the stream's goroutine as it becomes ready, before
	// waitStream sees it ready: there is nothing more to wait for.
	if n := sinkCount(t, ts, "live", "dem", hls.SinkName); n != 0 {
		t.Fatalf("%d hls sinks before any request, want 0", n)
	}
	// A segment request does not start the muxer.
	if resp, _ := httpGet(t, ts.httpURL+"/live/dem/hls-0.ts", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("segment before the playlist: %d, want 404", resp.StatusCode)
	}
	if n := sinkCount(t, ts, "live", "dem", hls.SinkName); n != 0 {
		t.Fatalf("%d hls sinks after a segment request, want 0", n)
	}
	p := livePlaylist(t, ts.httpURL+"/live/dem/hls.m3u8")
	if len(p.Segments) == 0 || p.Ended {
		t.Fatalf("on-demand playlist: %+v", p)
	}
	if n := sinkCount(t, ts, "live", "dem", hls.SinkName); n != 1 {
		t.Fatalf("%d hls sinks after the first request, want 1", n)
	}
	resp, seg := httpGet(t, ts.httpURL+"/live/dem/"+p.Segments[0].URI, nil)
	if resp.StatusCode != http.StatusOK || len(seg) == 0 {
		t.Fatalf("on-demand segment: %d, %d bytes", resp.StatusCode, len(seg))
	}
	// A missing stream is a 404, quickly.
	start := time.Now()
	if resp, _ := httpGet(t, ts.httpURL+"/live/none/hls.m3u8", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("playlist of a missing stream: %d", resp.StatusCode)
	}
	// Not after general.maxStreamWait (15 s); the bound tells the two
	// apart, a slow machine does not reach it.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("playlist of a missing stream took %v", d)
	}
}

// TestLiveHLSReap: Live.Reap stops on-demand muxers nobody requests for
// IdleTimeout, keeps requested ones and those started with the stream,
// and a later request starts the muxer again. It runs a Live of its own
// (short idle timeout) on the server's engine.
func TestLiveHLSReap(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, func(c *config.Config) { c.Protocol.HLSDemand = true })
	const idle = 700 * time.Millisecond
	live := hls.NewLive(ts.Engine, func() hls.LiveSettings {
		return hls.LiveSettings{SegDur: time.Second, SegNum: 3, SegRetain: 1, IdleTimeout: idle}
	}, nil)
	srv := httptest.NewServer(live.Handler(func(engine.StreamInfo) (bool, bool) { return true, true }))
	t.Cleanup(srv.Close)

	for _, name := range []string{"reap", "keep"} {
		testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/"+name, true)
		waitStream(t, ts, "live/"+name)
	}
	ctx := context.Background()
	if err := live.Start(ctx, engine.NewKey("", "live", "keep"), false); err != nil {
		t.Fatal(err)
	}
	// The first request starts the on-demand muxer.
	livePlaylist(t, srv.URL+"/live/reap/hls.m3u8")
	if n := sinkCount(t, ts, "live", "reap", hls.SinkName); n != 1 {
		t.Fatalf("%d hls sinks after the first request", n)
	}
	// Requested more often than the idle timeout: kept. Only Reap
	// reaps, each right after a request; if a loaded machine took the
	// idle timeout between a request and its Reap, reaping was right.
	slow := false
	for range 6 {
		time.Sleep(idle / 3) // the requests' pace, not a wait
		requested := time.Now()
		livePlaylist(t, srv.URL+"/live/reap/hls.m3u8")
		live.Reap(ctx)
		slow = slow || time.Since(requested) >= idle
	}
	if n := sinkCount(t, ts, "live", "reap", hls.SinkName); n != 1 {
		if !slow {
			t.Fatalf("watched on-demand HLS was reaped")
		}
		t.Logf("a request and its Reap took more than the %v idle timeout: keeping is not checked", idle)
	}
	// Unwatched: stopped; the muxer started with the stream stays. The
	// sleep makes the muxer idle, which a slow machine only makes truer.
	time.Sleep(idle + 200*time.Millisecond)
	live.Reap(ctx)
	waitFor(t, 5*time.Second, "the idle muxer to stop", func() bool {
		return sinkCount(t, ts, "live", "reap", hls.SinkName) == 0
	})
	if n := sinkCount(t, ts, "live", "keep", hls.SinkName); n != 1 {
		t.Errorf("muxer started with the stream was reaped")
	}
	if resp, _ := httpGet(t, srv.URL+"/live/reap/hls-0.ts", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("segment of a reaped muxer: %d", resp.StatusCode)
	}
	// The next request starts it again.
	livePlaylist(t, srv.URL+"/live/reap/hls.m3u8")
	if n := sinkCount(t, ts, "live", "reap", hls.SinkName); n != 1 {
		t.Fatalf("%d hls sinks after a new request", n)
	}
}
