package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/auth"
	"github.com/mediakit/mediakit/pkg/config"
)

// fetch GETs u with header lines and returns the status, headers and body.
func fetch(t *testing.T, u string, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// plantRecording writes a file where the recorder would and returns its
// path and its URL path (on_record_mp4's "url" with a leading '/').
func plantRecording(t *testing.T, ts *testServer, rel string, size int) (string, string, []byte) {
	t.Helper()
	root := filepath.Join(ts.Config().General.DataDir, "record")
	path := filepath.Join(root, filepath.FromSlash(rel))
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(i*31 + 7)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, "/record/" + rel, body
}

// TestRecordingFilesAccess: recordings are served at /record/ and through
// downloadFile with ranges, never outside their roots, and to whom the
// API, on_http_access, the built-in users or http.allow_ip_range admit.
func TestRecordingFilesAccess(t *testing.T) {
	t.Parallel()
	var hookReply map[string]any
	h := newHookServer(t, func(name string, body map[string]any) map[string]any {
		if name == "on_http_access" {
			return hookReply
		}
		return nil
	})
	ts := startServer(t, func(c *config.Config) { c.API.Secret = "s3cret" })
	path, urlPath, body := plantRecording(t, ts, "live/cam/1/2026-12-01/10-00-00.mp4", 50_000)
	download := func(params url.Values) string {
		return ts.httpURL + "/index/api/downloadFile?" + params.Encode()
	}

	// No hook: loopback is inside the default http.allow_ip_range.
	for _, u := range []string{ts.httpURL + urlPath, download(url.Values{"file_path": {path}})} {
		status, hdr, got := fetch(t, u)
		if status != 200 || !bytes.Equal(got, body) || hdr.Get("Accept-Ranges") != "bytes" || hdr.Get("Content-Type") != "video/mp4" {
			t.Fatalf("%s: %d, %d bytes, headers %v", u, status, len(got), hdr)
		}
		status, hdr, got = fetch(t, u, "Range", "bytes=100-299")
		if status != 206 || !bytes.Equal(got, body[100:300]) || hdr.Get("Content-Range") != "bytes 100-299/50000" {
			t.Fatalf("%s range: %d, %d bytes, %q", u, status, len(got), hdr.Get("Content-Range"))
		}
	}
	status, hdr, _ := fetch(t, download(url.Values{"file_path": {path}, "save_name": {"cam1_10-00.mp4"}}))
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Disposition"), `attachment; filename="cam1_10-00.mp4"`) {
		t.Fatalf("save_name: %d %q", status, hdr.Get("Content-Disposition"))
	}

	// Outside the roots, parent directories, missing files.
	notes, _, _ := plantRecording(t, ts, "live/cam/1/2026-12-01/notes.txt", 10)
	outside := filepath.Join(t.TempDir(), "secret.mp4")
	if err := os.WriteFile(outside, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(filepath.Dir(path), "link.mp4")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		u      string
		status int
	}{
		{download(url.Values{"file_path": {outside}}), 401},
		{download(url.Values{"file_path": {filepath.Dir(path) + "/../../../../../../../etc/passwd"}}), 401},
		{download(url.Values{"file_path": {filepath.Join(filepath.Dir(path), "link.mp4")}}), 401},
		{download(url.Values{"file_path": {"record/live/cam/1/2026-12-01/10-00-00.mp4"}}), 401}, // relative
		{download(url.Values{"file_path": {filepath.Join(filepath.Dir(path), "missing.mp4")}}), 404},
		{download(url.Values{"file_path": {filepath.Dir(path)}}), 401}, // not a recording
		{download(url.Values{"file_path": {filepath.Dir(path) + ".mp4"}}), 404},
		{download(url.Values{}), 400},
		{ts.httpURL + "/record/live/cam/1/2026-12-01/link.mp4", 404},
		{ts.httpURL + "/record/live/cam/1/2026-12-01/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd", 404},
		{ts.httpURL + "/record/live/cam/1/2026-12-01/", 404},
		// The database and files that are not media are never sent.
		{download(url.Values{"file_path": {filepath.Join(ts.Config().General.DataDir, "mediakit.db")}}), 401},
		{download(url.Values{"file_path": {notes}}), 401},
		{ts.httpURL + "/record/live/cam/1/2026-12-01/notes.txt", 404},
	} {
		if status, _, got := fetch(t, tc.u); status != tc.status {
			t.Errorf("%s: %d (%.80q), want %d", tc.u, status, got, tc.status)
		}
	}

	// The hook decides once configured; its "second" spares the next asks.
	set := url.Values{"secret": {"s3cret"}, "hook.enable": {"1"}, "hook.on_http_access": {h.url("on_http_access")}}
	if r := ts.apiCall(t, "setServerConfig", set); code(r) != 0 {
		t.Fatalf("setServerConfig: %v", r)
	}
	hookReply = map[string]any{"code": 0, "err": "not your camera", "path": "", "second": 0}
	if status, _, got := fetch(t, ts.httpURL+urlPath, "User-Agent", "vlc"); status != 401 || !strings.Contains(string(got), "not your camera") {
		t.Fatalf("denied by hook: %d %.80q", status, got)
	}
	b := h.wait(t, "on_http_access", 5*time.Second)
	if b["path"] != path || b["ip"] != "127.0.0.1" || b["is_dir"] != false || b["header.User-Agent"] != "vlc" {
		t.Errorf("on_http_access body %v", b)
	}
	// The secret still lets the API's callers in without the hook.
	if status, _, _ := fetch(t, download(url.Values{"file_path": {path}, "secret": {"s3cret"}})); status != 200 {
		t.Errorf("with the secret: %d", status)
	}
	hookReply = map[string]any{"code": 0, "err": "", "path": "", "second": 600}
	before := h.count("on_http_access")
	for range 3 {
		if status, _, _ := fetch(t, ts.httpURL+urlPath, "Range", "bytes=0-9"); status != 206 {
			t.Fatalf("allowed by hook: %d", status)
		}
	}
	if n := h.count("on_http_access") - before; n != 1 {
		t.Errorf("on_http_access asked %d times for three requests within its 600 s", n)
	}
	// Its answer was for those credentials: other ones are asked again.
	if status, _, _ := fetch(t, ts.httpURL+urlPath+"?token=someone-else"); status != 200 || h.count("on_http_access")-before != 2 {
		t.Errorf("other credentials: %d, hook asked %d times", status, h.count("on_http_access")-before)
	}

}

// TestRecordingFilesBuiltInUsers: without on_http_access, built-in users
// decide (the play right on APP/STREAM), and outside http.allow_ip_range
// nobody but the API's callers gets a file.
func TestRecordingFilesBuiltInUsers(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(c *config.Config) {
		c.API.Secret = "s3cret"
		c.Auth.Users = []auth.User{{User: "viewer", Pass: "pw", Actions: []string{"play"}, Paths: []string{"live/cam/*"}}}
	})
	path, urlPath, body := plantRecording(t, ts, "live/cam/1/2026-12-01/10-00-00.mp4", 1000)
	_, otherURL, _ := plantRecording(t, ts, "live/door/2026-12-01/10-00-00.mp4", 1000)
	viewer := strings.Replace(ts.httpURL, "http://", "http://viewer:pw@", 1)
	for _, tc := range []struct {
		u      string
		status int
	}{
		{ts.httpURL + urlPath, 401},
		{viewer + urlPath, 200},
		{viewer + otherURL, 401},
		{viewer + "/index/api/downloadFile?file_path=" + url.QueryEscape(path), 401}, // no APP/STREAM to judge by
		{ts.httpURL + "/index/api/downloadFile?secret=s3cret&file_path=" + url.QueryEscape(path), 200},
	} {
		status, _, got := fetch(t, tc.u)
		if status != tc.status || (status == 200 && !bytes.Equal(got, body)) {
			t.Errorf("%s: %d, want %d", tc.u, status, tc.status)
		}
	}

	ts2 := startServer(t, func(c *config.Config) { c.API.Secret = "s3cret"; c.HTTP.AllowIPRange = "10.0.0.0/8" })
	_, urlPath, _ = plantRecording(t, ts2, "live/cam/2026-12-01/10-00-00.mp4", 1000)
	if status, _, got := fetch(t, ts2.httpURL+urlPath); status != 401 || !strings.Contains(string(got), "not allowed") {
		t.Errorf("outside allow_ip_range: %d %.80q", status, got)
	}
}

// TestRecordingPlaysOverHTTP: a recording the server made plays from its
// on_record_mp4 url with ffprobe reading it over HTTP (ranges included:
// ffmpeg seeks to the moov), every frame there.
func TestRecordingPlaysOverHTTP(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	h := newHookServer(t, nil)
	ts := startServer(t, func(c *config.Config) {
		c.Protocol.EnableMP4 = true
		c.Protocol.ContinuePush = 500 * time.Millisecond
		c.Hook.Enable = true
		c.Hook.OnRecordMP4 = h.url("on_record_mp4")
	})
	pub := testutil.PublishClip(t, clipName, ts.rtmpURL+"/live/http", false)
	if err := pub.Wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	body := h.wait(t, "on_record_mp4", 15*time.Second)
	u := fmt.Sprintf("%s/%v", ts.httpURL, body["url"])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := testutil.FFprobe(ctx, t, u)
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Format.Duration; !near(d, clipSeconds, 0.2) {
		t.Errorf("duration over HTTP %.3f s, want %.1f s", d, clipSeconds)
	}
	r := probeRecording(t, u)
	if v, a := len(r.video), len(r.audio); v != clipVideoFrames || a != clipAudioFrames {
		t.Errorf("over HTTP %d video and %d audio frames, want %d and %d", v, a, clipVideoFrames, clipAudioFrames)
	}
}

func TestWithoutCookie(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Set("Cookie", "a=1; mediakit_console=secret-token; b=2")
	got := withoutCookie(h, "mediakit_console")
	if c := got.Get("Cookie"); c != "a=1; b=2" {
		t.Errorf("Cookie %q, want a=1; b=2", c)
	}
	if h.Get("Cookie") != "a=1; mediakit_console=secret-token; b=2" {
		t.Error("the request's own header changed")
	}
	only := http.Header{}
	only.Set("Cookie", "mediakit_console=x")
	if c, ok := withoutCookie(only, "mediakit_console")["Cookie"]; ok {
		t.Errorf("Cookie %q left", c)
	}
	none := http.Header{"Authorization": {"Basic x"}}
	if got := withoutCookie(none, "mediakit_console"); got.Get("Authorization") != "Basic x" {
		t.Error("other headers lost")
	}
}
