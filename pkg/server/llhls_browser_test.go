package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
)

// requireBrowserEnv turns a missing browser (Chromium, node or the npm
// packages of test/browser) from a skip into a failure when "1".
const requireBrowserEnv = "MEDIAKIT_REQUIRE_BROWSER"

// browserTools returns node, the test/browser directory and Chromium, or
// skips (fails under MEDIAKIT_REQUIRE_BROWSER=1) when one is missing.
func browserTools(t *testing.T) (node, dir, chromium string) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "test", "browser"))
	if err != nil {
		t.Fatal(err)
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	var missing []string
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, chromium+" (apt-get install chromium)")
	}
	node, err = exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node")
	}
	for _, f := range []string{"node_modules/playwright-core/package.json", "node_modules/hls.js/dist/hls.min.js"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			missing = append(missing, filepath.Join(dir, f)+" (npm ci in test/browser)")
		}
	}
	if len(missing) == 0 {
		return node, dir, chromium
	}
	if os.Getenv(requireBrowserEnv) == "1" {
		t.Fatalf("browser test needs %v, but %s=1 requires it", missing, requireBrowserEnv)
	}
	t.Skipf("skipping: missing %v (set %s=1 to fail instead)", missing, requireBrowserEnv)
	return "", "", ""
}

// runBrowser runs a node script of test/browser (it drives Chromium) and
// returns its standard output; a failure or 2 minutes end the test.
func runBrowser(t *testing.T, node, dir, chromium, script string, args ...string) []byte {
	t.Helper()
	out, err := runBrowserScript(node, dir, chromium, script, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runBrowserScript is runBrowser for a goroutine other than the test's.
func runBrowserScript(node, dir, chromium, script string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	// Chromium's processes go with node's group when the test times out.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("node %s: %v\nstderr:\n%s", script, err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// hlsjsPage plays {{.Src}} with hls.js in low-latency mode and exposes
// window.state and window.sample() to test/browser/hlsjs.mjs.
var hlsjsPage = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>mediakit LL-HLS</title></head>
<body>
<video id="v" muted playsinline autoplay></video>
<script src="/hls.min.js"></script>
<script>
window.state = { errors: [], fatal: null };
const v = document.getElementById('v');
// As MediaMTX's page: catch up on the live edge by playing faster.
const hls = new Hls({ lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5 });
hls.on(Hls.Events.ERROR, (e, d) => {
  if (state.errors.length < 50) state.errors.push(d.type + ':' + d.details + (d.fatal ? ':fatal' : ''));
  if (d.fatal) state.fatal = d.details;
});
hls.on(Hls.Events.MANIFEST_PARSED, () => { v.play().catch((err) => state.errors.push('play: ' + err)); });
hls.loadSource({{.Src}});
hls.attachMedia(v);
window.sample = () => {
  const lvl = hls.levels && hls.currentLevel >= 0 ? hls.levels[hls.currentLevel] : null;
  const d = lvl && lvl.details;
  return {
    t: v.currentTime, rs: v.readyState, paused: v.paused, fatal: state.fatal,
    latency: hls.latency, target: hls.targetLatency, ll: hls.lowLatencyMode,
    parts: d && d.partList ? d.partList.length : 0, canBlock: !!(d && d.canBlockReload),
    w: v.videoWidth, h: v.videoHeight,
  };
};
</script>
</body></html>`))

type hlsjsSample struct {
	T        float64  `json:"t"`
	RS       int      `json:"rs"`
	Paused   bool     `json:"paused"`
	Latency  *float64 `json:"latency"`
	Target   *float64 `json:"target"`
	LL       bool     `json:"ll"`
	Parts    int      `json:"parts"`
	CanBlock bool     `json:"canBlock"`
	W        int      `json:"w"`
	H        int      `json:"h"`
}

type hlsjsResult struct {
	Started bool            `json:"started"`
	Samples []hlsjsSample   `json:"samples"`
	Errors  []string        `json:"errors"`
	Fatal   *string         `json:"fatal"`
	Console []string        `json:"console"`
	Support map[string]bool `json:"support"`
}

// TestLLHLSBrowser plays /APP/STREAM/hls.fmp4.m3u8 with hls.js in
// low-latency mode in headless Chromium: playback starts and goes on
// (currentTime advances, readyState >= 2), hls.js uses the parts and
// blocking reloads, reports no fatal error, and its latency estimate (live
// edge minus playhead, a media-time figure) stays under 3 s once playing
// for settle: hls.js starts at a keyframe up to a GOP behind its target
// and catches up by playing at up to 1.5x (on a loaded machine the start
// itself lags by a second or more).
//
// Not parallel: see TestPlayerPageBrowser.
func TestLLHLSBrowser(t *testing.T) {
	node, dir, chromium := browserTools(t)
	testutil.RequireFFmpeg(t)
	// The default 2 s segments: hls.js gives a blocking reload
	// max(3 parts, 0.8 target durations) before it times out.
	ts := startServer(t, nil)
	testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/browser", true)
	waitStream(t, ts, "live/browser")

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hls.min.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(dir, "node_modules", "hls.js", "dist", "hls.min.js"))
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = hlsjsPage.Execute(w, map[string]string{"Src": ts.httpURL + "/live/browser/hls.fmp4.m3u8"})
	})
	page := httptest.NewServer(mux)
	t.Cleanup(page.Close)

	const seconds = 12
	const settle = 4 * time.Second
	stdout := runBrowser(t, node, dir, chromium, "hlsjs.mjs", page.URL+"/", strconv.Itoa(seconds))
	var res hlsjsResult
	if err := json.Unmarshal(stdout, &res); err != nil {
		t.Fatalf("runner output: %v\n%s", err, stdout)
	}
	report := func() string {
		b, _ := json.MarshalIndent(res, "", " ")
		return string(b)
	}
	if !res.Started || len(res.Samples) < seconds {
		t.Fatalf("playback did not start:\n%s", report())
	}
	if res.Fatal != nil {
		t.Fatalf("hls.js fatal error %s:\n%s", *res.Fatal, report())
	}
	first, last := res.Samples[0], res.Samples[len(res.Samples)-1]
	// Playback goes on: over the sampling at least half as much media
	// played (generous for a loaded machine; a stall plays far less).
	if adv := last.T - first.T; adv < seconds/2 {
		t.Errorf("currentTime advanced %.2f s over %d s of samples:\n%s", adv, seconds, report())
	}
	maxLatency := 0.0
	for i, s := range res.Samples {
		if s.RS < 2 {
			t.Errorf("sample %d: readyState %d", i, s.RS)
		}
		if !s.LL || s.Parts == 0 || !s.CanBlock {
			t.Errorf("sample %d: hls.js not in low-latency mode (ll %v, parts %d, canBlockReload %v)", i, s.LL, s.Parts, s.CanBlock)
		}
		settled := time.Duration(i)*250*time.Millisecond >= settle // hlsjs.mjs samples every 250 ms
		if settled && s.Latency != nil && *s.Latency > maxLatency {
			maxLatency = *s.Latency
		}
		if s.Latency == nil {
			t.Errorf("sample %d: no latency estimate", i)
		}
	}
	if maxLatency > 3 {
		t.Errorf("hls.js latency up to %.2f s after %v of playback, want under 3 s:\n%s", maxLatency, settle, report())
	}
	if last.W != 320 || last.H != 240 {
		t.Errorf("video %dx%d, want 320x240", last.W, last.H)
	}
	t.Logf("hls.js: %.2f s played in %d s, latency at start %.2f s, max after %v %.2f s, at the end %.2f s (target %v), %d parts in the playlist",
		last.T-first.T, seconds, deref(first.Latency), settle, maxLatency, deref(last.Latency), deref(last.Target), last.Parts)
	if t.Failed() || os.Getenv("LLHLS_REPORT") != "" {
		t.Logf("runner report:\n%s", report())
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}
