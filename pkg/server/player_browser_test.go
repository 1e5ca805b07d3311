package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/engine"
)

// pageSample is one look at the player page's window.mediakit
// (test/browser/page.mjs).
type pageSample struct {
	MS      int64              `json:"ms"`
	Timing  map[string]float64 `json:"timing"`
	Mode    string             `json:"mode"`
	Frames  int                `json:"frames"`
	Latency *float64           `json:"latency"`
	Errors  []string           `json:"errors"`
	T       float64            `json:"t"`
	W       int                `json:"w"`
	H       int                `json:"h"`
}

type pageResult struct {
	FirstFrameMS *int64       `json:"firstFrameMs"`
	Samples      []pageSample `json:"samples"`
	Errors       []string     `json:"errors"`
	Console      []string     `json:"console"`
}

func (r pageResult) last() pageSample {
	if len(r.Samples) == 0 {
		return pageSample{}
	}
	return r.Samples[len(r.Samples)-1]
}

func (r pageResult) String() string {
	b, _ := json.Marshal(struct {
		FirstFrameMS *int64
		Last         pageSample
		Errors       []string
		Console      []string
	}{r.FirstFrameMS, r.last(), r.Errors, r.Console})
	return string(b)
}

func seconds(v *float64) string {
	if v == nil {
		return "unknown"
	}
	return strconv.FormatFloat(*v, 'f', 2, 64) + " s"
}

// openPage runs the player page of url in headless Chromium for seconds.
func openPage(t *testing.T, url string, seconds int) pageResult {
	t.Helper()
	node, dir, chromium := browserTools(t)
	res, err := runPage(node, dir, chromium, url, seconds)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// runPage is openPage for a goroutine other than the test's.
func runPage(node, dir, chromium, url string, seconds int) (pageResult, error) {
	var res pageResult
	out, err := runBrowserScript(node, dir, chromium, "page.mjs", url, strconv.Itoa(seconds))
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return res, fmt.Errorf("page.mjs output: %v\n%s", err, out)
	}
	return res, nil
}

// TestPlayerPageBrowser: the page the binary serves at /APP/STREAM/
// plays an RTMP publish in headless Chromium over WebRTC first (frames
// presented; the time from the page's script to the first frame is
// logged, and bounded loosely), and over LL-HLS and HTTP-FLV
// when asked; with ?publish=1 it publishes Chromium's fake camera with
// WHIP (H.264 first, and Opus), which ffprobe then reads over RTSP.
//
// Not parallel (as the other browser tests): Chromium's decoding and the
// page's bounds on first frame and latency need the machine to
// themselves; run alongside the parallel tests they fail.
func TestPlayerPageBrowser(t *testing.T) {
	browserTools(t)
	testutil.RequireFFmpeg(t)
	ts := startServer(t, func(c *config.Config) { c.WebRTC.Addr = "127.0.0.1:0" })
	publishAndWait(t, ts, "page")

	t.Run("webrtc first", func(t *testing.T) {
		res := openPage(t, ts.httpURL+"/live/page/", 5)
		last := res.last()
		if last.Mode != "WebRTC" || res.FirstFrameMS == nil || last.Frames < 10 || last.W != 320 || last.H != 240 {
			t.Fatalf("page over WebRTC: %s", res)
		}
		// From the page's script to a presented frame: offer, answer,
		// ICE, DTLS and the GOP cache's keyframe. About 0.7-1.7 s here
		// (BENCHMARKS.md); the bound is loose because this machine is
		// shared and tests do not judge speed: it catches a page that
		// waits for a timeout (a fallback, a gathering wait) instead.
		toFrame := last.Timing["firstFrame"] - last.Timing["script"]
		if toFrame > 5000 {
			t.Errorf("first frame %.0f ms after the page's script started: %s", toFrame, res)
		}
		t.Logf("WebRTC: first frame %.0f ms after the script started (%d ms after navigation), %d frames in 5 s, latency %s",
			toFrame, *res.FirstFrameMS, last.Frames, seconds(last.Latency))
	})
	t.Run("webrtc vp9", func(t *testing.T) {
		// VP9 and Opus published over RTSP pass through to the browser.
		testutil.StartFFmpeg(t, "-re", "-stream_loop", "-1", "-i", testutil.Clip(t, "vp9_opus.mp4"), "-c", "copy",
			"-strict", "experimental", "-f", "rtsp", "-rtsp_transport", "tcp", ts.rtspURL("live/vp9"))
		waitFor(t, 20*time.Second, "the VP9 stream", func() bool {
			info, ok := streamInfo(t, ts, "live", "vp9")
			return ok && info.Ready && info.State == engine.StateLive && len(info.Tracks) == 2
		})
		res := openPage(t, ts.httpURL+"/live/vp9/", 5)
		// Every frame decodes, not only the keyframes (one a second): a
		// receiver shown non-consecutive VP9 picture IDs drops the rest.
		if last := res.last(); last.Mode != "WebRTC" || last.Frames < 30 || last.W != 320 || last.H != 240 {
			t.Fatalf("VP9 page over WebRTC: %s", res)
		}
	})
	for _, tc := range []struct{ mode, want string }{{"llhls", "LL-HLS (hls.js)"}, {"flv", "HTTP-FLV (mpegts.js)"}} {
		t.Run(tc.mode, func(t *testing.T) {
			res := openPage(t, ts.httpURL+"/live/page/?mode="+tc.mode, 8)
			last := res.last()
			if last.Mode != tc.want || last.Frames < 10 || last.T <= 0 || len(last.Errors) != 0 {
				t.Fatalf("page with mode=%s: %s", tc.mode, res)
			}
			t.Logf("%s: first frame after %d ms, latency %s", tc.mode, *res.FirstFrameMS, seconds(last.Latency))
		})
	}
	t.Run("whip publish", func(t *testing.T) {
		type pageRun struct {
			res pageResult
			err error
		}
		done := make(chan pageRun, 1)
		node, dir, chromium := browserTools(t)
		go func() {
			res, err := runPage(node, dir, chromium, ts.httpURL+"/live/cam/?publish=1", 15)
			done <- pageRun{res, err}
		}()
		waitFor(t, 30*time.Second, "the page's WHIP stream", func() bool {
			info, ok := streamInfo(t, ts, "live", "cam")
			return ok && info.Ready && info.Publisher != nil && info.Publisher.Protocol == "webrtc"
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		p, err := testutil.FFprobe(ctx, t, ts.rtspURL("live/cam"), "-rtsp_transport", "tcp", "-read_intervals", "%+2")
		if err != nil {
			t.Fatal(err)
		}
		if v, a := p.Video(), p.Audio(); v == nil || v.CodecName != "h264" || v.NbReadFrames < 10 || a == nil || a.CodecName != "opus" {
			t.Errorf("the browser's publish over RTSP: %+v", p)
		}
		run := <-done
		if run.err != nil {
			t.Fatal(run.err)
		}
		if res := run.res; !strings.HasPrefix(res.last().Mode, "publishing") {
			t.Errorf("page with publish=1: %s", res)
		}
	})
}
