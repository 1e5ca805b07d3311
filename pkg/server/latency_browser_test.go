package server

import (
	"encoding/json"
	"testing"

	"github.com/mediakit/mediakit/pkg/config"
)

// latencyMode is one player mode of test/browser/latency.mjs's output;
// times in ms.
type latencyMode struct {
	Page           string    `json:"page"`
	Samples        int       `json:"samples"`
	P50            float64   `json:"p50"`
	P95            float64   `json:"p95"`
	Min            float64   `json:"min"`
	Max            float64   `json:"max"`
	DecodeFailures int       `json:"decodeFailures"`
	WindowComplete bool      `json:"windowComplete"`
	Video          string    `json:"video"`
	Values         []float64 `json:"values"`
	PageErrors     []string  `json:"pageErrors"`
}

type latencyResult struct {
	Publisher map[string]any         `json:"publisher"`
	Modes     map[string]latencyMode `json:"modes"`
	Errors    []string               `json:"errors"`
	Console   []string               `json:"console"`
}

// TestGlassToGlassBrowser runs the glass-to-glass runner of bench/latency
// (test/browser/latency.mjs) against this server: Chromium publishes a
// canvas carrying its drawing time with the player page's WHIP code, and
// the player page reads the times back from the frames it presents over
// WebRTC, LL-HLS and HTTP-FLV, the three at once, 5 s each after 1 s of
// warm-up. It checks the measurement works, not its figures
// (BENCHMARKS.md has those): each mode reads at least 10 distinct
// timestamps back, most frames decode, and every latency is between 0 and
// 10 s.
//
// Not parallel: see TestPlayerPageBrowser.
func TestGlassToGlassBrowser(t *testing.T) {
	node, dir, chromium := browserTools(t)
	ts := startServer(t, func(c *config.Config) {
		c.WebRTC.Addr = "127.0.0.1:0"
		// LL-HLS from publish: its first frame does not wait for a
		// muxer started by the first request.
		c.Protocol.EnableHLSFMP4 = true
	})

	out, err := runBrowserScript(node, dir, chromium, "latency.mjs", ts.httpURL+"/live/g2g", "webrtc,llhls,flv", "1", "5")
	if err != nil {
		t.Fatal(err)
	}
	var res latencyResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("latency.mjs output: %v\n%s", err, out)
	}
	if len(res.Errors) > 0 {
		t.Fatalf("latency.mjs: %q\nconsole: %q", res.Errors, res.Console)
	}
	for _, mode := range []string{"webrtc", "llhls", "flv"} {
		m, ok := res.Modes[mode]
		switch {
		case !ok:
			t.Errorf("%s: no result", mode)
		case !m.WindowComplete || m.Samples < 10:
			t.Errorf("%s: %d timestamps read back (window complete: %v), want at least 10: %+v", mode, m.Samples, m.WindowComplete, m)
		case m.DecodeFailures > m.Samples:
			t.Errorf("%s: %d frames did not decode, %d did: %+v", mode, m.DecodeFailures, m.Samples, m)
		case m.Min <= 0 || m.Max >= 10000:
			t.Errorf("%s: latency from %.1f to %.1f ms, want within (0, 10000): %v", mode, m.Min, m.Max, m.Values)
		}
		t.Logf("%s (%s, %s): %d samples, p50 %.0f ms, p95 %.0f ms, %d did not decode", mode, m.Page, m.Video, m.Samples, m.P50, m.P95, m.DecodeFailures)
	}
	if t.Failed() {
		t.Logf("publisher: %v\nconsole: %q", res.Publisher, res.Console)
	}
}
