package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/format/flv"
)

// call makes one API or media request and decodes a JSON reply, if any.
func call(t *testing.T, client *http.Client, method, u string, headers map[string]string, body string) (int, map[string]any, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, raw
}

func newClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mediakit.toml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBrowserAndRebindingRefused: with no secret, curl-style calls from
// loopback pass as before, while what a web page can send (a foreign
// Origin with a text/plain body, a cross-site fetch, a DNS-rebinding
// Host) is refused before the endpoint runs.
func TestBrowserAndRebindingRefused(t *testing.T) {
	t.Parallel()
	p := startServe(t)
	client := newClient()
	api := "http://" + p.http + "/index/api/"
	_, port, _ := net.SplitHostPort(p.http)

	// curl: GET, form and JSON all pass.
	for _, c := range []struct{ method, u, ctype, body string }{
		{http.MethodGet, api + "getServerConfig", "", ""},
		{http.MethodPost, api + "setServerConfig", "application/x-www-form-urlencoded", "hook.alive_interval=7"},
		{http.MethodPost, api + "setServerConfig", "application/json", `{"hook.alive_interval":8}`},
	} {
		status, m, raw := call(t, client, c.method, c.u, map[string]string{"Content-Type": c.ctype}, c.body)
		if status != http.StatusOK || m["code"] != float64(0) {
			t.Errorf("curl-style %s %s: HTTP %d %s", c.method, c.u, status, raw)
		}
	}
	for _, c := range []struct {
		name    string
		headers map[string]string
	}{
		{"foreign page, text/plain", map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain"}},
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"}},
		{"DNS rebinding", map[string]string{"Host": "rebind.attacker.example:" + port, "Origin": "http://rebind.attacker.example:" + port, "Content-Type": "text/plain"}},
		{"DNS rebinding, no Origin", map[string]string{"Host": "rebind.attacker.example:" + port}},
	} {
		status, m, raw := call(t, client, http.MethodPost, api+"setServerConfig", c.headers, "hook.alive_interval=99")
		if status != http.StatusForbidden || m["code"] != float64(-100) {
			t.Errorf("%s: HTTP %d %s, want 403 with code -100", c.name, status, raw)
		}
	}
	_, m, _ := call(t, client, http.MethodGet, api+"getServerConfig", nil, "")
	data := m["data"].([]any)[0].(map[string]any)
	if data["hook.alive_interval"] != "8" {
		t.Errorf("hook.alive_interval = %v: a refused call changed the configuration, or a curl call did not", data["hook.alive_interval"])
	}
}

// nonLoopbackIPv4 is an address of this machine that is not loopback.
func nonLoopbackIPv4(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			return ipn.IP.String()
		}
	}
	t.Skip("this machine has no non-loopback IPv4 address to call the API from")
	return ""
}

// TestWVPFromTheNetwork: a platform on another address calls with the
// secret and gets answers; without it, or from outside
// http.allow_ip_range, it is refused (-300, -100) as ZLMediaKit does.
func TestWVPFromTheNetwork(t *testing.T) {
	t.Parallel()
	ip := nonLoopbackIPv4(t)
	cfg := writeConfig(t, fmt.Sprintf("[http]\nallow_ip_range = \"127.0.0.1,%s\"\n", ip))
	p := startServe(t, "--http-addr", net.JoinHostPort(ip, "0"), "--secret", "wvp-secret", "--config", cfg)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: dialer.DialContext}}
	api := "http://" + p.http + "/index/api/"

	status, m, raw := call(t, client, http.MethodGet, api+"getServerConfig?secret=wvp-secret", nil, "")
	if status != http.StatusOK || m["code"] != float64(0) {
		t.Fatalf("WVP with the secret from %s: HTTP %d %s", ip, status, raw)
	}
	if bytes.Contains(raw, []byte("wvp-secret")) {
		t.Errorf("getServerConfig discloses the secret: %s", raw)
	}
	_, m, _ = call(t, client, http.MethodPost, api+"getMediaList", map[string]string{"Content-Type": "application/json"}, `{"secret":"wvp-secret"}`)
	if m["code"] != float64(0) {
		t.Errorf("getMediaList with a JSON body: %v", m)
	}
	if _, m, _ = call(t, client, http.MethodGet, api+"getMediaList", nil, ""); m["code"] != float64(-300) {
		t.Errorf("no secret: %v, want -300", m)
	}
	if _, m, _ = call(t, client, http.MethodGet, api+"getMediaList?secret=nope", nil, ""); m["code"] != float64(-100) {
		t.Errorf("wrong secret: %v, want -100", m)
	}
	// The platform narrows allow_ip_range to loopback: its own address is
	// then refused, secret or not.
	if _, m, _ = call(t, client, http.MethodGet, api+"setServerConfig?secret=wvp-secret&http.allow_ip_range=127.0.0.1", nil, ""); m["code"] != float64(0) {
		t.Fatalf("setServerConfig allow_ip_range: %v", m)
	}
	_, m, _ = call(t, client, http.MethodGet, api+"getMediaList?secret=wvp-secret", nil, "")
	if m["code"] != float64(-100) || m["msg"] != "Your ip is not allowed to access the service." {
		t.Errorf("outside allow_ip_range with the secret: %v, want -100 as ZLMediaKit", m)
	}
}

// TestSecretNeverDisclosed: api.secret appears in no API reply, hook body,
// log line or printed configuration unless --show-secrets asks.
func TestSecretNeverDisclosed(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-never-shown-7f1d"
	bodies := make(chan []byte, 100)
	hooks := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case bodies <- append([]byte(r.URL.Path+" "), b...):
		default:
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"code":0}`)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hooks.Serve(ln)
	t.Cleanup(func() { hooks.Close() })
	base := "http://" + ln.Addr().String() + "/index/hook/"
	cfg := writeConfig(t, fmt.Sprintf("[hook]\nenable = true\non_server_started = %q\non_server_keepalive = %q\nalive_interval = 1\n",
		base+"on_server_started", base+"on_server_keepalive"))
	p := startServe(t, "--secret", secret, "--config", cfg, "--log-level", "debug")
	client := newClient()
	api := "http://" + p.http + "/index/api/"
	_, _, raw := call(t, client, http.MethodGet, api+"getServerConfig?secret="+secret, nil, "")
	if bytes.Contains(raw, []byte(secret)) || !bytes.Contains(raw, []byte(`"api.secret":"******"`)) {
		t.Errorf("getServerConfig: %s", raw)
	}
	call(t, client, http.MethodGet, api+"getMediaList?secret=wrong-"+secret, nil, "")
	call(t, client, http.MethodPost, api+"setServerConfig", map[string]string{"secret": secret, "Content-Type": "application/x-www-form-urlencoded"},
		"api.secret=******&hook.alive_interval=2")
	// The echoed mask did not replace the secret.
	if _, m, _ := call(t, client, http.MethodGet, api+"version?secret="+secret, nil, ""); m["code"] != float64(0) {
		t.Errorf("secret changed by echoing the mask: %v", m)
	}
	got := map[string]bool{}
	deadline := time.After(15 * time.Second)
	for !got["/index/hook/on_server_started"] || !got["/index/hook/on_server_keepalive"] {
		select {
		case b := <-bodies:
			path, _, _ := strings.Cut(string(b), " ")
			got[path] = true
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("hook body discloses the secret: %s", b)
			}
			if path == "/index/hook/on_server_started" && !bytes.Contains(b, []byte(`"api.secret":"******"`)) {
				t.Errorf("on_server_started body lacks the masked api.secret: %s", b)
			}
		case <-deadline:
			t.Fatalf("hooks seen: %v", got)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
	if logs := strings.Join(p.logs, "\n"); strings.Contains(logs, secret) {
		t.Errorf("the log discloses the secret:\n%s", logs)
	}

	_, stdout, _ := runBinary(t, nil, "serve", "--secret", secret, "--print-config", "--data-dir", t.TempDir())
	if strings.Contains(stdout, secret) || !strings.Contains(stdout, "# secret = (hidden") {
		t.Errorf("--print-config shows the secret or hides it silently:\n%s", stdout)
	}
	_, stdout, _ = runBinary(t, nil, "serve", "--secret", secret, "--print-config", "--show-secrets", "--data-dir", t.TempDir())
	if !strings.Contains(stdout, "secret = \""+secret+"\"") {
		t.Errorf("--print-config --show-secrets lacks the secret:\n%s", stdout)
	}
	code, stdout, stderr := runBinary(t, nil, "serve", "--show-secrets", "--data-dir", t.TempDir())
	if code != 2 {
		t.Errorf("--show-secrets without --print-config: exit %d, want 2", code)
	}
	testutil.CheckOneLineError(t, stdout, stderr)
}

// publishAndWait publishes a looping clip to live/NAME and waits until
// the server has it.
func publishAndWait(t *testing.T, p *process, name string) *testutil.Process {
	t.Helper()
	pub := testutil.PublishClip(t, "h264_aac.flv", "rtmp://"+p.rtmp+"/live/"+name, true)
	waitOnline(t, p.http, name, pub)
	return pub
}

// TestConfinedRecordPaths: a customized_path that leaves the data dir,
// by ".." or through a symbolic link, is -300 and writes nothing; so is a
// recording root set through setServerConfig. Inside the data dir it
// records.
func TestConfinedRecordPaths(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "a", "data")
	outside := filepath.Join(dir, "outside")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dataDir, "escape")); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, "--data-dir", dataDir)
	publishAndWait(t, p, "conf")
	client := newClient()
	api := "http://" + p.http + "/index/api/"
	args := func(extra ...string) string {
		v := url.Values{"type": {"1"}, "vhost": {"__defaultVhost__"}, "app": {"live"}, "stream": {"conf"}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v.Encode()
	}
	for _, bad := range []string{"../../etc", "../../outside", filepath.Join(dataDir, "..", ".."), "escape", filepath.Join(dataDir, "escape", "cams"), "/etc"} {
		_, m, raw := call(t, client, http.MethodGet, api+"startRecord?"+args("customized_path", bad), nil, "")
		if m["code"] != float64(-300) || !strings.Contains(fmt.Sprint(m["msg"]), "customized_path") || m["result"] != false {
			t.Errorf("startRecord customized_path=%s: %s, want -300 naming the path", bad, raw)
		}
		_, m, raw = call(t, client, http.MethodGet, api+"getMP4RecordFile?"+args("customized_path", bad), nil, "")
		if m["code"] != float64(-300) {
			t.Errorf("getMP4RecordFile customized_path=%s: %s, want -300", bad, raw)
		}
	}
	for _, key := range []string{"protocol.mp4_save_path", "protocol.hls_save_path"} {
		_, m, raw := call(t, client, http.MethodGet, api+"setServerConfig?"+key+"="+url.QueryEscape(outside), nil, "")
		if m["code"] != float64(-300) || !strings.Contains(fmt.Sprint(m["msg"]), key) {
			t.Errorf("setServerConfig %s outside: %s, want -300 naming the key", key, raw)
		}
	}
	if _, m, raw := call(t, client, http.MethodGet, api+"isRecording?"+args(), nil, ""); m["status"] != false {
		t.Errorf("a refused startRecord left a recording running: %s", raw)
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 0 {
		t.Errorf("refused paths wrote into %s: %v", outside, entries)
	}
	for _, p := range []string{filepath.Join(dir, "etc"), filepath.Join(dir, "a", "live")} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after refused calls", p)
		}
	}
	// Inside the data dir (relative paths are taken from it) it records.
	if _, m, raw := call(t, client, http.MethodGet, api+"startRecord?"+args("customized_path", "cams"), nil, ""); m["code"] != float64(0) || m["result"] != true {
		t.Fatalf("startRecord customized_path=cams: %s", raw)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dataDir, "cams", "live", "conf", "*", "*.mp4"))
		if len(files) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no MP4 under DATA_DIR/cams/live/conf")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A relative root set through the API is taken from the data dir,
	// where it was checked, not from the working directory.
	if _, m, raw := call(t, client, http.MethodGet, api+"setServerConfig?protocol.hls_save_path=rel-hls", nil, ""); m["code"] != float64(0) {
		t.Fatalf("setServerConfig hls_save_path=rel-hls: %s", raw)
	}
	if _, m, raw := call(t, client, http.MethodGet, api+"startRecord?"+strings.Replace(args(), "type=1", "type=0", 1), nil, ""); m["code"] != float64(0) {
		t.Fatalf("startRecord hls: %s", raw)
	}
	deadline = time.Now().Add(15 * time.Second)
	for {
		if files, _ := filepath.Glob(filepath.Join(dataDir, "rel-hls", "live", "conf", "hls", "*", "*", "*.ts")); len(files) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no HLS segment under DATA_DIR/rel-hls")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := os.Stat("rel-hls"); !errors.Is(err, os.ErrNotExist) {
		t.Error("the HLS recording went to ./rel-hls in the working directory")
	}
	if v := metricValue(t, p.http, "mediakit_record_failures_total", `type="mp4"`); v != 0 {
		t.Errorf("mediakit_record_failures_total{mp4} = %v", v)
	}
}

// flvPlayer reads an HTTP-FLV stream to its end.
type flvPlayer struct {
	body []byte
	err  error
	done chan struct{}
}

func startFLVPlayer(t *testing.T, addr, path string) *flvPlayer {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, addr)
	pl := &flvPlayer{done: make(chan struct{})}
	go func() {
		defer close(pl.done)
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			pl.err = err
			return
		}
		if resp.StatusCode != http.StatusOK {
			pl.err = fmt.Errorf("HTTP %d", resp.StatusCode)
			return
		}
		pl.body, pl.err = io.ReadAll(resp.Body)
	}()
	return pl
}

// flvTags counts the tags of an FLV body by type.
func flvTags(body []byte) (map[uint8]int, error) {
	r := flv.NewReader(bytes.NewReader(body), 16<<20)
	if err := r.ReadHeader(); err != nil {
		return nil, err
	}
	n := map[uint8]int{}
	for {
		tag, err := r.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n[uint8(tag.Type)]++
	}
}

// metricValue reads one sample of /metrics; labels like `reason="max_conns"`.
// A scrape refused for being over --max-conns (a slot not yet released)
// is retried for a few seconds.
func metricValue(t *testing.T, httpAddr, name, labels string) float64 {
	t.Helper()
	var raw []byte
	for deadline := time.Now().Add(5 * time.Second); ; {
		resp, err := newClient().Get("http://" + httpAddr + "/metrics")
		if err == nil {
			raw, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	prefix := name + " "
	if labels != "" {
		prefix = name + "{" + labels + "} "
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("metric %s{%s} not found", name, labels)
	return 0
}

// TestMaxConnsFlood: 50 players wait for a stream; a flood of connections
// beyond --max-conns, on both listeners, is closed at once, while every
// player receives the whole stream, the same bytes as every other.
//
// Not parallel: no frame may be skipped for 50 players, which a machine
// busy with other tests would make one of them fall behind for.
func TestMaxConnsFlood(t *testing.T) {
	testutil.RequireFFmpeg(t)
	const players = 50
	// The players, the publisher, and one spare for the test's own
	// /metrics requests.
	p := startServe(t, "--max-conns", strconv.Itoa(players+2), "--continue-push", "0s")
	var list []*flvPlayer
	for i := 0; i < players; i++ {
		list = append(list, startFLVPlayer(t, p.http, "/live/flood.live.flv"))
	}
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(t, p.http, "mediakit_readers_waiting", "") < players {
		if time.Now().After(deadline) {
			t.Fatal("players not all waiting")
		}
		time.Sleep(50 * time.Millisecond)
	}
	pub := testutil.PublishClip(t, "h264_aac.flv", "rtmp://"+p.rtmp+"/live/flood", false)
	for metricValue(t, p.http, "mediakit_readers", "") < players {
		if pub.Exited() || time.Now().After(deadline.Add(10*time.Second)) {
			t.Fatalf("players not attached to the published stream (publisher exited: %v)", pub.Exited())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The flood: connections held open, on both listeners, while the
	// players play. All but the spare slot are closed at once.
	var refused, admitted int
	var mu sync.Mutex
	var wg sync.WaitGroup
	var held []net.Conn
	for i := 0; i < 200; i++ {
		addr := p.http
		if i%2 == 1 {
			addr = p.rtmp
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				mu.Lock()
				refused++
				mu.Unlock()
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, err = c.Read(make([]byte, 1))
			mu.Lock()
			defer mu.Unlock()
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				admitted++ // open and silent: it holds a slot
				held = append(held, c)
				return
			}
			refused++
			c.Close()
		}()
	}
	wg.Wait()
	if admitted > 1 || refused < 199 {
		t.Errorf("flood: %d admitted, %d refused; want at most the 1 spare slot admitted", admitted, refused)
	}
	for _, c := range held {
		c.Close()
	}
	if got := metricValue(t, p.http, "mediakit_conns_refused_total", `reason="max_conns"`); got < 199 {
		t.Errorf("mediakit_conns_refused_total{max_conns} = %v, want >= 199", got)
	}

	if err := pub.Wait(30 * time.Second); err != nil {
		t.Fatalf("publisher: %v", err)
	}
	var first []byte
	for i, pl := range list {
		select {
		case <-pl.done:
		case <-time.After(30 * time.Second):
			t.Fatalf("player %d did not end", i)
		}
		if pl.err != nil {
			t.Fatalf("player %d: %v", i, pl.err)
		}
		if i == 0 {
			first = pl.body
			tags, err := flvTags(pl.body)
			if err != nil {
				t.Fatalf("player 0: %v", err)
			}
			// h264_aac.flv: 150 video and 260 audio frames, plus one
			// sequence header each.
			if tags[9] != 151 || tags[8] != 261 {
				t.Errorf("player 0 got %d video and %d audio tags, want 151 and 261", tags[9], tags[8])
			}
		} else if !bytes.Equal(pl.body, first) {
			t.Errorf("player %d got %d bytes that differ from player 0's %d", i, len(pl.body), len(first))
		}
	}
	for _, m := range []string{"mediakit_frames_skipped_total", "mediakit_readers_dropped_total"} {
		if v := metricValue(t, p.http, m, ""); v != 0 {
			t.Errorf("%s = %v, want 0", m, v)
		}
	}
}

// TestHLSWriteDeadline: an HLS client that asks for segments and never
// reads is cut by --write-timeout instead of holding its connection.
func TestHLSWriteDeadline(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	cfg := writeConfig(t, "[hls]\nsegDur = 1\n")
	p := startServe(t, "--write-timeout", "1s", "--config", cfg)
	publishAndWait(t, p, "slow")
	client := newClient()
	var seg string
	deadline := time.Now().Add(20 * time.Second)
	for seg == "" {
		status, _, raw := call(t, client, http.MethodGet, "http://"+p.http+"/live/slow/hls.m3u8", nil, "")
		if status == http.StatusOK {
			for _, line := range strings.Split(string(raw), "\n") {
				if strings.HasSuffix(line, ".ts") {
					seg = line
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no HLS segment")
		}
	}
	// The segment's size now: by the end of the test it may have left the
	// live window (1 s segments) and answer 404.
	status, _, segBody := call(t, client, http.MethodGet, "http://"+p.http+"/live/slow/"+seg, nil, "")
	if status != http.StatusOK || len(segBody) < 1000 {
		t.Fatalf("segment %s: %d, %d bytes", seg, status, len(segBody))
	}
	// The connections of the requests above close asynchronously: the
	// baseline is the count once it has settled, or the stalled client's
	// cut would be seen when one of them goes.
	baseline := metricValue(t, p.http, "mediakit_listener_conns", `listener="http"`)
	for settle := time.Now().Add(10 * time.Second); ; {
		time.Sleep(200 * time.Millisecond)
		next := metricValue(t, p.http, "mediakit_listener_conns", `listener="http"`)
		if next == baseline || time.Now().After(settle) {
			break
		}
		baseline = next
	}

	// A tiny receive window, and 200 pipelined requests for the segment:
	// the server fills the socket and blocks, as with a client that
	// stalled.
	dialer := net.Dialer{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := dialer.DialContext(ctx, "tcp", p.http)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := fmt.Sprintf("GET /live/slow/%s HTTP/1.1\r\nHost: %s\r\n\r\n", seg, p.http)
	if _, err := conn.Write([]byte(strings.Repeat(req, 200))); err != nil {
		t.Fatal(err)
	}
	// Held while the server is stuck writing to it, then cut.
	deadline = time.Now().Add(20 * time.Second)
	for metricValue(t, p.http, "mediakit_listener_conns", `listener="http"`) > baseline {
		if time.Now().After(deadline) {
			t.Fatal("the stalled HLS client still holds its connection 20 s after a 1 s write timeout")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The client got only part of what it asked for: it was cut, not
	// served.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, _ := io.Copy(io.Discard, conn)
	if want := int64(200 * len(segBody)); got >= want {
		t.Errorf("stalled client received %d bytes, all %d it asked for", got, want)
	}
}

// TestBuiltinAuth: [[auth.users]] decides, before any hook, who publishes
// (RTMP with user and pass in the URL), who plays (HTTP-FLV and HLS with
// a token), and who calls the API without the secret (Basic auth).
func TestBuiltinAuth(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	cfg := writeConfig(t, `
[[auth.users]]
user = "cam"
pass = "cam-pass"
actions = ["publish"]
paths = ["live/*"]

[[auth.users]]
token = "viewer-token"
actions = ["play"]

[[auth.users]]
user = "ops"
pass = "ops-pass"
actions = ["api"]
ips = ["127.0.0.1"]
`)
	p := startServe(t, "--config", cfg, "--secret", "api-secret")
	client := newClient()
	base := "http://" + p.http

	// Without credentials the publisher is refused.
	denied := testutil.PublishClip(t, "h264_aac.flv", "rtmp://"+p.rtmp+"/live/cam1", false)
	if err := denied.Wait(20 * time.Second); err == nil {
		t.Error("a publisher without credentials was accepted")
	}
	pub := testutil.PublishClip(t, "h264_aac.flv", "rtmp://"+p.rtmp+"/live/cam1?user=cam&pass=cam-pass", true)

	// The ops user calls the API with Basic auth and no secret.
	ops := map[string]string{"Authorization": "Basic b3BzOm9wcy1wYXNz"} // ops:ops-pass
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, m, raw := call(t, client, http.MethodGet, base+"/index/api/isMediaOnline?schema=rtmp&vhost=__defaultVhost__&app=live&stream=cam1", ops, "")
		if m["code"] != float64(0) {
			t.Fatalf("API as ops: %s", raw)
		}
		if m["online"] == true {
			break
		}
		if pub.Exited() || time.Now().After(deadline) {
			t.Fatalf("live/cam1 not online (publisher exited: %v): %v", pub.Exited(), pub.Wait(0))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, m, _ := call(t, client, http.MethodGet, base+"/index/api/getMediaList", map[string]string{"Authorization": "Basic b3BzOm5vcGU="}, ""); m["code"] == float64(0) {
		t.Error("API with a wrong password passed")
	}

	// Players: HTTP-FLV and HLS need the token.
	if status, _, _ := call(t, client, http.MethodGet, base+"/live/cam1.live.flv", nil, ""); status != http.StatusForbidden {
		t.Errorf("HTTP-FLV without token: HTTP %d, want 403", status)
	}
	resp, err := client.Get(base + "/live/cam1.live.flv?token=viewer-token")
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 3)
	_, err = io.ReadFull(resp.Body, head)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || string(head) != "FLV" {
		t.Errorf("HTTP-FLV with token: HTTP %d, %q %v", resp.StatusCode, head, err)
	}
	if status, _, _ := call(t, client, http.MethodGet, base+"/live/cam1/hls.m3u8", nil, ""); status != http.StatusForbidden {
		t.Errorf("HLS without token: HTTP %d, want 403", status)
	}
	status, _, playlist := call(t, client, http.MethodGet, base+"/live/cam1/hls.m3u8?token=viewer-token", nil, "")
	if status != http.StatusOK {
		t.Fatalf("HLS with token: HTTP %d %s", status, playlist)
	}
	// Segment URIs are relative and carry no token: the client that was
	// allowed the playlist gets them.
	var seg string
	for _, line := range strings.Split(string(playlist), "\n") {
		if strings.HasSuffix(line, ".ts") {
			seg = line
		}
	}
	if status, _, _ := call(t, client, http.MethodGet, base+"/live/cam1/"+seg, nil, ""); status != http.StatusOK {
		t.Errorf("HLS segment after an allowed playlist: HTTP %d", status)
	}
}
