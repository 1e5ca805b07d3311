package server

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/gbsender"
	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/format/ps"
)

// consoleScreenshotsEnv names a directory to keep the console test's
// screenshots in; without it they go to the test's temporary directory
// (named in the log, removed afterwards).
const consoleScreenshotsEnv = "MEDIAKIT_CONSOLE_SCREENSHOTS"

// consoleResult is what test/browser/console.mjs saw.
type consoleResult struct {
	Steps         []string `json:"steps"`
	Errors        []string `json:"errors"`
	ConsoleErrors []string `json:"consoleErrors"`
	Login         struct {
		FormShown         bool           `json:"formShown"`
		NavHidden         bool           `json:"navHidden"`
		APIWithoutSession map[string]any `json:"apiWithoutSession"`
		WrongError        string         `json:"wrongError"`
		WrongStillOut     bool           `json:"wrongStillOut"`
		Who               string         `json:"who"`
		APIWithSession    map[string]any `json:"apiWithSession"`
		APICookieNoHeader map[string]any `json:"apiCookieNoHeader"`
	} `json:"login"`
	Cookie *struct {
		HTTPOnly bool   `json:"httpOnly"`
		SameSite string `json:"sameSite"`
		Path     string `json:"path"`
	} `json:"cookie"`
	Views map[string]struct {
		Text    string   `json:"text"`
		Missing []string `json:"missing"`
		MS      int64    `json:"ms"`
	} `json:"views"`
	Phone map[string]struct {
		ScrollWidth int      `json:"scrollWidth"`
		InnerWidth  int      `json:"innerWidth"`
		Wide        []string `json:"wide"`
	} `json:"phone"`
	Player *struct {
		Mode   string   `json:"mode"`
		Frames int      `json:"frames"`
		Errors []string `json:"errors"`
		W, H   int
		MS     int64  `json:"ms"`
		Src    string `json:"src"`
	} `json:"player"`
	Recording *struct {
		Playback *struct {
			Frames int     `json:"frames"`
			W      int     `json:"w"`
			H      int     `json:"h"`
			T      float64 `json:"t"`
		} `json:"playback"`
		File, Range *struct {
			Status int    `json:"status"`
			Type   string `json:"type"`
			Bytes  int    `json:"bytes"`
			Href   string `json:"href"`
		}
	} `json:"recording"`
	Proxy struct {
		Added       bool   `json:"added"`
		AddStatus   string `json:"addStatus"`
		ArmedLabel  string `json:"armedLabel"`
		Deleted     bool   `json:"deleted"`
		DeleteError string `json:"deleteError"`
	} `json:"proxy"`
	Logout struct {
		LoginShown    bool           `json:"loginShown"`
		APIAfter      map[string]any `json:"apiAfter"`
		CookieLeft    bool           `json:"cookieLeft"`
		RequestsAfter []string       `json:"requestsAfter"`
	} `json:"logout"`
}

// TestConsoleBrowser drives the web console in headless Chromium against
// a real server with an api.secret, a live stream (ffmpeg), pull and push
// proxies, an FFmpeg source, an RTP server receiving a GB28181 camera and
// MP4 recordings: the login is required and a wrong secret refused; each
// view shows the real data (stream name and codecs, proxy keys, pusher and
// FFmpeg URLs, RTP port and packets, recording file names, version and a
// warning of the log ring); the player decodes frames; a recording plays
// and downloads; a proxy added and one deleted from the page are so
// through the API afterwards; on a phone-size viewport no view is wider
// than the screen; logout ends the session and the polling; the page logs
// no console error. Screenshots of every view, desktop and phone, are
// kept (see consoleScreenshotsEnv).
//
// Not parallel: see TestPlayerPageBrowser.
func TestConsoleBrowser(t *testing.T) {
	node, dir, chromium := browserTools(t)
	testutil.RequireFFmpeg(t)
	start := time.Now()
	const secret = "console-test-secret-5d2a"
	ts := startServer(t, func(c *config.Config) {
		c.API.Secret = secret
		c.WebRTC.Addr = "127.0.0.1:0"
	})
	call := func(name string, kv ...string) map[string]any {
		t.Helper()
		v := url.Values{"secret": {secret}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return ts.apiCall(t, name, v)
	}
	must := func(name string, kv ...string) map[string]any {
		t.Helper()
		r := call(name, kv...)
		if code(r) != 0 {
			t.Fatalf("%s: %v", name, r)
		}
		return r
	}

	publishAndWait(t, ts, "console")
	src := ts.rtmpURL + "/live/console"
	must("startRecord", "type", "1", "vhost", "__defaultVhost__", "app", "live", "stream", "console", "max_second", "2")
	keep := must("addStreamProxy", "vhost", "__defaultVhost__", "app", "proxy", "stream", "keep", "url", src)
	keepKey := keep["data"].(map[string]any)["key"].(string)
	gone := must("addStreamProxy", "vhost", "__defaultVhost__", "app", "proxy", "stream", "gone", "url", src)
	goneKey := gone["data"].(map[string]any)["key"].(string)
	must("addStreamPusherProxy", "vhost", "__defaultVhost__", "schema", "rtmp", "app", "live", "stream", "console", "dst_url", ts.rtmpURL+"/push/out")
	must("addFFmpegSource", "src_url", src, "dst_url", ts.rtmpURL+"/ff/out", "timeout_ms", "20000")
	rtp := must("openRtpServer", "port", "0", "stream_id", "gbcam", "tcp_mode", "0")
	rtpPort := int(rtp["port"].(float64))

	// A GB28181 camera sends to the RTP server until the test ends.
	ctx, cancel := context.WithCancel(context.Background())
	camDone := make(chan struct{})
	t.Cleanup(func() { cancel(); <-camDone })
	cam, err := gbsender.Dial(gbsender.Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(rtpPort)), SSRC: 200000002,
		VideoType: ps.StreamH264, AudioType: ps.StreamG711A, Realtime: true})
	if err != nil {
		t.Fatal(err)
	}
	clip := gbsender.CameraClip(t)
	go func() {
		defer close(camDone)
		defer cam.Close()
		for ctx.Err() == nil {
			if err := cam.Send(ctx, clip); err != nil && ctx.Err() == nil {
				t.Errorf("camera: %v", err)
				return
			}
		}
	}()
	// A warning for the log ring: a refused call logs one.
	ts.log.Warn("console test warning", "marker", "w-1")

	// Two finished recordings, named as the console will list them.
	var recNames []string
	waitFor(t, 30*time.Second, "two indexed recordings", func() bool {
		l := listRecordings(t, ts, "console", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		recNames = recNames[:0]
		for _, f := range l.Files {
			recNames = append(recNames, path.Base(f.URL))
		}
		return len(recNames) >= 2
	})
	waitFor(t, 20*time.Second, "the RTP stream", func() bool { return call("getRtpInfo", "stream_id", "gbcam")["exist"] == true })
	t.Logf("set up in %v", time.Since(start).Round(100*time.Millisecond))

	shots := os.Getenv(consoleScreenshotsEnv)
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	plan := map[string]any{
		"url": ts.httpURL + "/console/", "secret": secret, "wrongSecret": "not-the-secret", "dir": shots,
		"views": map[string][]string{
			"streams":    {"live/console", "proxy/keep", "H264", "mpeg4-generic", "320×240", "rtmp_push"},
			"proxies":    {keepKey, goneKey, src, "playing"},
			"pushers":    {"live/console", ts.rtmpURL + "/push/out"},
			"ffmpeg":     {ts.rtmpURL + "/ff/out", "running"},
			"rtp":        {"rtp/gbcam", strconv.Itoa(rtpPort), "from 127.0.0.1", "h264 pcma"},
			"recordings": {"live/console", recNames[0], recNames[1]},
			"server":     {"test", "console test warning", "marker=w-1", "Uptime", "CPU"},
		},
		"play":        map[string]string{"key": "__defaultVhost__/live/console"},
		"addProxy":    map[string]string{"app": "proxy", "stream": "added", "url": src},
		"deleteProxy": goneKey,
		"recording":   recNames[0],
	}
	planJSON, _ := json.Marshal(plan)
	browserStart := time.Now()
	out := runBrowser(t, node, dir, chromium, "console.mjs", string(planJSON))
	var res consoleResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("console.mjs output: %v\n%s", err, out)
	}
	t.Logf("browser run %v (whole test so far %v); screenshots in %s", time.Since(browserStart).Round(100*time.Millisecond),
		time.Since(start).Round(100*time.Millisecond), shots)
	report := func() string {
		b, _ := json.MarshalIndent(res, "", " ")
		return string(b)
	}
	if len(res.Errors) > 0 || len(res.Steps) == 0 || res.Steps[len(res.Steps)-1] != "done" {
		t.Fatalf("runner stopped at %v: %v\n%s", res.Steps, res.Errors, report())
	}

	// Login required; a wrong secret refused.
	if !res.Login.FormShown || !res.Login.NavHidden {
		t.Errorf("the console opened without a login: %+v", res.Login)
	}
	if c := res.Login.APIWithoutSession; c == nil || c["code"] == 0.0 {
		t.Errorf("the API answered the page before login: %v", c)
	}
	if !strings.Contains(res.Login.WrongError, "Incorrect secret") || !res.Login.WrongStillOut {
		t.Errorf("wrong secret: error %q, still logged out %v", res.Login.WrongError, res.Login.WrongStillOut)
	}
	if !strings.Contains(ts.logs.String(), "console login refused") {
		t.Error("the refused login was not logged")
	}
	if res.Login.Who != "logged in with secret" || res.Login.APIWithSession["code"] != 0.0 {
		t.Errorf("after login: who %q, API %v", res.Login.Who, res.Login.APIWithSession)
	}
	if c := res.Login.APICookieNoHeader; c == nil || c["code"] == 0.0 {
		t.Errorf("the cookie without the console header was accepted: %v", c)
	}
	if c := res.Cookie; c == nil || !c.HTTPOnly || c.SameSite != "Strict" || c.Path != "/" {
		t.Errorf("session cookie %+v, want HttpOnly, SameSite=Strict, Path=/", c)
	}

	// Every view with its real data.
	for name, v := range res.Views {
		if len(v.Missing) > 0 {
			t.Errorf("view %s lacks %q; it shows:\n%s", name, v.Missing, v.Text)
		} else {
			t.Logf("view %s: data shown after %d ms", name, v.MS)
		}
	}
	if p := res.Player; p == nil || p.Frames < 25 || p.W != 320 || p.H != 240 || len(p.Errors) > 0 {
		t.Errorf("player in the console: %+v", p)
	} else {
		t.Logf("player: %s, %d frames %dx%d within %d ms", p.Mode, p.Frames, p.W, p.H, p.MS)
	}
	if r := res.Recording; r == nil || r.Playback == nil || r.Playback.Frames < 10 || r.Playback.W != 320 {
		t.Errorf("recording playback: %+v", r)
	} else {
		if r.File == nil || r.File.Status != 200 || r.File.Bytes < 1000 || !strings.Contains(r.File.Href, "downloadFile") {
			t.Errorf("recording download: %+v", r.File)
		}
		if r.Range == nil || r.Range.Status != 200 || r.Range.Bytes < 1000 || r.Range.Type != "video/mp4" {
			t.Errorf("range download: %+v", r.Range)
		}
	}

	// Proxies added and deleted from the page, seen through the API.
	if !res.Proxy.Added || !res.Proxy.Deleted || res.Proxy.ArmedLabel != "Confirm" {
		t.Errorf("proxy from the page: %+v", res.Proxy)
	}
	keys := map[string]bool{}
	list := call("listStreamProxy")
	items, _ := list["data"].([]any)
	for _, it := range items {
		keys[it.(map[string]any)["key"].(string)] = true
	}
	if !keys["__defaultVhost__/proxy/added"] || keys[goneKey] || !keys[keepKey] {
		t.Errorf("proxies after the page: %v", list)
	}

	// A phone: nothing wider than the screen.
	for name, p := range res.Phone {
		if p.ScrollWidth > p.InnerWidth || len(p.Wide) > 0 {
			t.Errorf("view %s on a phone: %d px wide in %d (%v)", name, p.ScrollWidth, p.InnerWidth, p.Wide)
		}
	}
	if len(res.Phone) != len(res.Views) {
		t.Errorf("phone views %d, want %d", len(res.Phone), len(res.Views))
	}

	if !res.Logout.LoginShown || res.Logout.CookieLeft || res.Logout.APIAfter == nil || res.Logout.APIAfter["code"] == 0.0 {
		t.Errorf("logout: %+v", res.Logout)
	}
	if len(res.Logout.RequestsAfter) > 0 {
		t.Errorf("the page still polls after logout: %v", res.Logout.RequestsAfter)
	}
	if len(res.ConsoleErrors) > 0 {
		t.Errorf("console errors: %v", res.ConsoleErrors)
	}
	for _, f := range []string{"desktop-streams.png", "phone-server.png", "desktop-player.png"} {
		if st, err := os.Stat(shots + "/" + f); err != nil || st.Size() == 0 {
			t.Errorf("screenshot %s: %v", f, err)
		}
	}
	if t.Failed() {
		t.Logf("runner report:\n%s", report())
	}
}
