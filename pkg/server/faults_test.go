package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/rtmp"
)

// Faults around the server (issue 18, item 2): a hook server that resets,
// answers garbage or hangs; a publisher whose clock jumps.

// goPublish publishes the clip's frames to u with mediakit's RTMP client,
// laps times over, paced at speed times real time; stamp maps a frame's
// DTS in lap i to the DTS sent (a clock jump is a lap stamped away from
// the last). It returns when the frames are sent, ctx ends or the server
// refuses or drops the publisher.
func goPublish(ctx context.Context, u string, clip clipFrames, laps int, speed float64, stamp func(lap int, dts time.Duration) time.Duration) error {
	tracks, frames := clip.tracks, clip.frames
	c, err := rtmp.DialPublish(ctx, u, rtmp.ClientOptions{ReadTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.WriteTracks(tracks, media.Metadata{}); err != nil {
		return err
	}
	clipLen := frames[len(frames)-1].DTS + 40*time.Millisecond
	start := time.Now()
	for lap := 0; lap < laps; lap++ {
		for _, f := range frames {
			at := time.Duration(float64(time.Duration(lap)*clipLen+f.DTS) / speed)
			if d := time.Until(start.Add(at)); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			shift := stamp(lap, f.DTS) - f.DTS
			out := &media.Frame{Track: f.Track, DTS: f.DTS + shift, PTS: f.PTS + shift, Key: f.Key, Payload: f.Payload}
			if err := c.WriteFrame(out); err != nil {
				return err
			}
		}
	}
	return nil
}

// clipFrames are a clip's tracks and frames, read once.
type clipFrames struct {
	tracks []*media.Track
	frames []*media.Frame
}

func readClipFrames(t *testing.T) clipFrames {
	tracks, frames := clipframes.Read(t, "h264_aac.flv")
	return clipFrames{tracks, frames}
}

func sameStamps(lap int, d time.Duration) time.Duration { return d }

// faultHooks is a hook server whose answer to each hook is set by mode:
// "" answers {"code":0}; "reset" resets the connection; "garbage" answers
// 200 with HTML; "truncated" promises a JSON body and closes after ten
// bytes; "status500" answers 500; "hang" never answers.
type faultHooks struct {
	*httptest.Server
	mu    sync.Mutex
	modes map[string]string
	calls map[string]int
}

func newFaultHooks(t *testing.T) *faultHooks {
	h := &faultHooks{modes: map[string]string{}, calls: map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/index/hook/")
		_, _ = io.Copy(io.Discard, r.Body)
		h.mu.Lock()
		h.calls[name]++
		mode := h.modes[name]
		h.mu.Unlock()
		switch mode {
		case "reset", "truncated":
			conn, bw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			if mode == "truncated" {
				bw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"code\":0,")
				bw.Flush()
			} else if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST instead of FIN
			}
			conn.Close()
		case "garbage":
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
		case "status500":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"code":0}`)
		case "hang":
			<-r.Context().Done() // until mediakit gives up
		default:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"code":0,"msg":"success"}`)
		}
	}))
	t.Cleanup(func() {
		h.CloseClientConnections()
		h.Close()
	})
	return h
}

func (h *faultHooks) set(mode string, names ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range names {
		h.modes[n] = mode
	}
}

func (h *faultHooks) count(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[name]
}

// TestHookServerFaults: for each way a hook server can fail (reset,
// garbage, a truncated body, HTTP 500, hanging past hook.timeoutSec),
// every hook on the publish and play paths falls back as documented:
// on_publish and on_play (and on_rtsp_realm, on_http_access) deny, after
// the retry, within the timeout; notifications (on_stream_changed,
// on_flow_report, on_server_keepalive) and on_stream_none_reader change
// nothing, so publishing and playing go on. The server stays responsive
// throughout, and afterwards no goroutine is left behind.
//
// Not parallel: it counts the whole process's goroutines, and bounds how
// long the API takes to answer.
func TestHookServerFaults(t *testing.T) {
	h := newFaultHooks(t)
	clip := readClipFrames(t)
	const secret = "s3cret"
	ts := startServer(t, func(c *config.Config) {
		c.API.Secret = secret
		c.General.NoneReaderDelay = 300 * time.Millisecond
	})
	hooks := []string{"on_publish", "on_play", "on_stream_changed", "on_flow_report", "on_stream_none_reader",
		"on_server_keepalive", "on_rtsp_realm", "on_http_access"}
	set := url.Values{"secret": {secret}, "hook.enable": {"1"}, "hook.timeoutSec": {"1"}, "hook.retry": {"1"},
		"hook.retry_delay": {"0.1"}, "hook.alive_interval": {"1"}}
	for _, name := range hooks {
		set.Set("hook."+name, h.URL+"/index/hook/"+name)
	}
	if r := ts.apiCall(t, "setServerConfig", set); code(r) != 0 {
		t.Fatalf("setServerConfig: %v", r)
	}
	_, recURL, _ := plantRecording(t, ts, "live/cam/2026-12-01/10-00-00.mp4", 1000)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The stream players ask for, published while the hooks answer.
	pubCtx, stopPub := context.WithCancel(ctx)
	pubDone := make(chan error, 1)
	go func() { pubDone <- goPublish(pubCtx, ts.rtmpURL+"/live/on", clip, 1000, 1, sameStamps) }()
	waitStream(t, ts, "live/on")
	runtime.GC()
	goroutines := runtime.NumGoroutine()

	// A decision takes the first try, one retry and its delay: with a
	// 1 s timeout, 2.1 s for a hang. The bound tells that from a hook
	// that never gives up.
	const bound = 8 * time.Second
	timed := func(what string, f func() error) error {
		start := time.Now()
		err := f()
		if d := time.Since(start); d > bound {
			t.Errorf("%s: took %v", what, d)
		}
		return err
	}
	modes := []string{"reset", "garbage", "truncated", "status500", "hang"}
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			// on_publish fails: the publisher is refused.
			h.set("", hooks...)
			h.set(mode, "on_publish")
			err := timed("publish", func() error {
				return goPublish(ctx, ts.rtmpURL+"/live/denied", clip, 1, 1, sameStamps)
			})
			var se *rtmp.StatusError
			if !errors.As(err, &se) {
				t.Errorf("publish with on_publish %s: %v, want a refusal", mode, err)
			}
			if _, ok := streamInfo(t, ts, "live", "denied"); ok {
				t.Errorf("live/denied published with on_publish %s", mode)
			}

			// on_play, on_rtsp_realm, on_http_access fail: players and
			// file readers are refused, each within the bound.
			h.set("", hooks...)
			h.set(mode, "on_play", "on_rtsp_realm", "on_http_access")
			var wg sync.WaitGroup
			wg.Add(4)
			go func() {
				defer wg.Done()
				timed("HTTP-FLV play", func() error {
					resp, err := http.Get(ts.httpURL + "/live/on.live.flv")
					if err != nil {
						t.Errorf("HTTP-FLV: %v", err)
						return err
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusForbidden {
						t.Errorf("HTTP-FLV with on_play %s: %d, want 403", mode, resp.StatusCode)
					}
					return nil
				})
			}()
			go func() {
				defer wg.Done()
				timed("RTMP play", func() error {
					c, err := rtmp.DialPlay(ctx, ts.rtmpURL+"/live/on", rtmp.ClientOptions{ReadTimeout: 10 * time.Second})
					if err == nil {
						c.Close()
						t.Errorf("RTMP play with on_play %s: accepted", mode)
					}
					return err
				})
			}()
			go func() {
				defer wg.Done()
				timed("RTSP DESCRIBE", func() error {
					c, err := net.Dial("tcp", ts.RTSPAddr())
					if err != nil {
						t.Error(err)
						return err
					}
					defer c.Close()
					if res := srvDescribe(t, c, "rtsp://"+ts.RTSPAddr()+"/live/on"); !strings.HasPrefix(res, "RTSP/1.0 401") {
						t.Errorf("RTSP DESCRIBE with on_rtsp_realm %s: %.100q, want 401", mode, res)
					}
					return nil
				})
			}()
			go func() {
				defer wg.Done()
				timed("recording GET", func() error {
					resp, err := http.Get(ts.httpURL + recURL)
					if err != nil {
						t.Errorf("recording: %v", err)
						return err
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusUnauthorized {
						t.Errorf("recording with on_http_access %s: %d, want 401", mode, resp.StatusCode)
					}
					return nil
				})
			}()
			// The API answers meanwhile.
			start := time.Now()
			if r := ts.apiCall(t, "getMediaList", url.Values{"secret": {secret}}); code(r) != 0 {
				t.Errorf("getMediaList while hooks fail: %v", r)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("getMediaList took %v while hooks fail", d)
			}
			wg.Wait()

			// Notifications and on_stream_none_reader fail: a publisher
			// and a player are served, and the stream is not closed when
			// it has no reader.
			// (Without the retry: notifications of a stream are sent in
			// order, and on_stream_none_reader waits behind five
			// on_stream_changed that each hang for the timeout.)
			h.set("", hooks...)
			h.set(mode, "on_stream_changed", "on_flow_report", "on_server_keepalive", "on_stream_none_reader")
			ts.apiCall(t, "setServerConfig", url.Values{"secret": {secret}, "hook.retry": {"0"}})
			defer ts.apiCall(t, "setServerConfig", url.Values{"secret": {secret}, "hook.retry": {"1"}})
			failedNoneReader := `mediakit_hook_requests_total{hook="on_stream_none_reader",result="failed"}`
			before := metricOr0(t, ts, failedNoneReader)
			pctx, pcancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				done <- goPublish(pctx, ts.rtmpURL+"/live/"+mode, clip, 1000, 1, sameStamps)
			}()
			waitStream(t, ts, "live/"+mode)
			resp, err := http.Get(ts.httpURL + "/live/" + mode + ".live.flv")
			if err != nil {
				t.Fatal(err)
			}
			n, _ := io.CopyN(io.Discard, resp.Body, 100<<10)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || n < 100<<10 {
				t.Errorf("player with failing notifications: %d, %d bytes", resp.StatusCode, n)
			}
			// Once the call has failed, its callback runs at once on the
			// same goroutine: a stream it closed would be gone within
			// milliseconds.
			waitFor(t, 20*time.Second, "on_stream_none_reader to fail", func() bool { return metricOr0(t, ts, failedNoneReader) > before })
			if testutil.Poll(500*time.Millisecond, func() bool { _, ok := streamInfo(t, ts, "live", mode); return !ok }) {
				t.Errorf("live/%s closed after on_stream_none_reader %s", mode, mode)
			}
			pcancel()
			<-done
		})
	}
	h.set("", hooks...)
	stopPub()
	<-pubDone
	if code, _ := ts.get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("healthz %d", code)
	}
	// The hook calls given up on left nothing running.
	http.DefaultClient.CloseIdleConnections()
	if !testutil.Poll(15*time.Second, func() bool { return runtime.NumGoroutine() <= goroutines+3 }) {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines %d, %d before the faults\n%s", runtime.NumGoroutine(), goroutines, buf[:runtime.Stack(buf, true)])
	}
	if n := h.count("on_server_keepalive"); n == 0 {
		t.Error("on_server_keepalive never called")
	}
}

// metricOr0 is a sample of /metrics, name with its labels, 0 when absent.
func metricOr0(t *testing.T, ts *testServer, name string) float64 {
	_, body := ts.get(t, "/metrics")
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return 0
}

// TestPublisherClockJumps: a publisher whose timestamps jump an hour
// forward, then back by more than an hour, and stutter back half a
// second: a player attached throughout gets monotonic timestamps without
// a gap, the MP4 recording holds the media's length (not an hour, and
// not cut into files by the jump), and the stream goes on after every
// jump.
func TestPublisherClockJumps(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, func(c *config.Config) { c.Protocol.EnableMP4 = true })
	const laps, speed = 4, 3.0
	// Lap 0 from 100 s; lap 1 an hour later; lap 2 from 50 s (back by
	// more than an hour); lap 3 half a second before lap 2 ended.
	clipLen := 6040 * time.Millisecond
	offsets := []time.Duration{100 * time.Second, 100*time.Second + clipLen + time.Hour, 50 * time.Second, 50*time.Second + clipLen - 500*time.Millisecond}
	stamp := func(lap int, d time.Duration) time.Duration { return offsets[lap] + d }

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The player waits for the stream, then reads it to its end.
	type result struct {
		pkts []testutil.Packet
		err  error
	}
	played := make(chan result, 1)
	go func() {
		p, err := testutil.FramePackets(ctx, t, ts.httpURL+"/live/jumpy.live.flv", "-select_streams", "v")
		played <- result{p, err}
	}()
	waitFor(t, 10*time.Second, "the player to wait", func() bool { return ts.Engine.Stats().WaitingReaders.Load() >= 1 })
	clip := readClipFrames(t)
	if err := goPublish(ctx, ts.rtmpURL+"/live/jumpy", clip, laps, speed, stamp); err != nil {
		t.Fatalf("publisher: %v", err)
	}
	res := <-played
	if res.err != nil {
		t.Fatalf("player: %v", res.err)
	}
	sentVideo := 0
	for _, f := range clip.frames {
		if f.Track.Kind() == media.KindVideo {
			sentVideo += laps
		}
	}
	pkts := res.pkts
	if len(pkts) < sentVideo*9/10 {
		t.Fatalf("player got %d video frames of %d sent", len(pkts), sentVideo)
	}
	var worst float64
	for i := 1; i < len(pkts); i++ {
		d := pkts[i].DTSTime - pkts[i-1].DTSTime
		if d < 0 {
			t.Errorf("video DTS goes back at packet %d: %.3f after %.3f", i, pkts[i].DTSTime, pkts[i-1].DTSTime)
		}
		worst = max(worst, d)
	}
	length := float64(laps) * clipLen.Seconds()
	last := pkts[len(pkts)-1].DTSTime - pkts[0].DTSTime
	if worst > 1 || last < length-3 || last > length+3 {
		t.Errorf("player timeline: %.3f s over %d frames, largest step %.3f s; want about %.1f s without a jump", last, len(pkts), worst, length)
	}

	// The recording closes when the stream ends: one file of the media's
	// length.
	dir := filepath.Join(ts.Config().General.DataDir, "record", "live", "jumpy")
	var files []string
	waitFor(t, 20*time.Second, "the recording to be finished", func() bool {
		files = mp4Files(t, dir)
		return len(files) > 0 && !ts.records.Writing(files[len(files)-1])
	})
	if len(files) != 1 {
		t.Errorf("recording cut into %d files by the jumps: %q", len(files), files)
	}
	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	defer pcancel()
	p, err := testutil.FFprobe(pctx, t, files[0])
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Format.Duration; d < length-3 || d > length+3 {
		t.Errorf("recording of %.3f s, want about %.1f s", d, length)
	}
	if v := p.Video(); v == nil || v.NbReadFrames < sentVideo*9/10 {
		t.Errorf("recording's video: %+v, %d frames sent", v, sentVideo)
	}
}

// freezer relays TCP connections to target until frozen: from then on
// every connection it holds, and every one it accepts, stays open and
// passes nothing (a source that stalls without closing); thawing lets
// only connections accepted afterwards through.
type freezer struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	frozen bool
	epoch  int // counts freezes
	conns  []net.Conn
}

func newFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns = append(f.conns, c)
			epoch, frozen := f.epoch, f.frozen
			f.mu.Unlock()
			if frozen {
				continue // held open, never answered
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.conns = append(f.conns, up)
			f.mu.Unlock()
			go f.pipe(c, up, epoch)
			go f.pipe(up, c, epoch)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range f.conns {
			c.Close()
		}
	})
	return f
}

// pipe copies src to dst while the freezer is in the epoch the
// connection was accepted in and not frozen; after that it reads and
// drops, so the connection stays open and silent.
func (f *freezer) pipe(dst, src net.Conn, epoch int) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		f.mu.Lock()
		live := !f.frozen && f.epoch == epoch
		f.mu.Unlock()
		if live {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
	}
}

func (f *freezer) set(frozen bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if frozen && !f.frozen {
		f.epoch++
	}
	f.frozen = frozen
}

// TestProxySourceStalls: the source of a pull proxy stops sending without
// closing its connection (and answers no new connection). The proxy sees
// it within its timeout_sec, reports it, and ends its players after the
// grace; once the source answers again, the proxy plays again by itself.
func TestProxySourceStalls(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	origin := startServer(t, nil)
	pub := testutil.PublishClip(t, "h264_aac.flv", origin.rtmpURL+"/live/src", true)
	defer pub.Stop()
	waitStream(t, origin, "live/src")
	relay := newFreezer(t, origin.RTMPAddr())
	edge := startServer(t, nil)
	const key = "__defaultVhost__/proxy/stalled"
	if r := edge.apiCall(t, "addStreamProxy", url.Values{"app": {"proxy"}, "stream": {"stalled"},
		"url": {"rtmp://" + relay.ln.Addr().String() + "/live/src"}, "timeout_sec": {"2"}}); code(r) != 0 {
		t.Fatalf("addStreamProxy: %v", r)
	}
	info := func() map[string]any {
		r := edge.apiCall(t, "getProxyInfo", url.Values{"key": {key}})
		d, _ := r["data"].(map[string]any)
		return d
	}
	if err := fltPlaysIn(t, edge.rtmpURL+"/proxy/stalled"); err != nil {
		t.Fatalf("the proxy before the stall: %v", err)
	}

	// A player attached through the stall.
	playerDone := make(chan error, 1)
	go func() {
		resp, err := http.Get(edge.httpURL + "/proxy/stalled.live.flv")
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		playerDone <- err
	}()
	waitFor(t, 10*time.Second, "the player to be attached", func() bool {
		in, ok := streamInfo(t, edge, "proxy", "stalled")
		return ok && len(in.Readers) > 0
	})
	relay.set(true)
	stalled := time.Now()
	waitFor(t, 15*time.Second, "the proxy to report the stall", func() bool { return info()["status"] != float64(0) })
	// timeout_sec (2 s) plus a loaded machine; a proxy that never gives
	// up would wait here until the deadline.
	if d := time.Since(stalled); d > 8*time.Second {
		t.Errorf("stall seen after %v with timeout_sec 2", d)
	} else {
		t.Logf("stall seen after %v: %v", d.Round(time.Millisecond), info()["status_str"])
	}
	select {
	case <-playerDone:
	case <-time.After(15 * time.Second):
		t.Error("the player of the stalled proxy was not ended")
	}

	relay.set(false)
	thawed := time.Now()
	waitFor(t, 30*time.Second, "the proxy to play again", func() bool { return info()["status"] == float64(0) })
	t.Logf("playing again %v after the source returned", time.Since(thawed).Round(time.Millisecond))
	if err := fltPlaysIn(t, edge.rtmpURL+"/proxy/stalled"); err != nil {
		t.Errorf("the proxy after the source returned: %v", err)
	}
	if n, _ := info()["rePullCount"].(float64); n < 1 {
		t.Errorf("rePullCount %v after a recovery", info()["rePullCount"])
	}
}

// fltPlaysIn reports whether ffprobe reads video from u within a few
// seconds.
func fltPlaysIn(t *testing.T, u string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := testutil.FFprobe(ctx, t, u, "-read_intervals", "%+1")
	if err != nil {
		return err
	}
	if v := p.Video(); v == nil || v.NbReadFrames < 10 {
		return fmt.Errorf("%s: %+v", u, p.Streams)
	}
	return nil
}
