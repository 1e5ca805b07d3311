package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/zlm"
)

// apiCall calls /index/api/NAME with form parameters and decodes the
// reply.
func (ts *testServer) apiCall(t *testing.T, name string, params url.Values) map[string]any {
	t.Helper()
	resp, err := http.PostForm(ts.httpURL+"/index/api/"+name, params)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer resp.Body.Close()
	var reply map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
		t.Fatalf("%s: decode reply: %v", name, err)
	}
	return reply
}

func code(reply map[string]any) int {
	c, _ := reply["code"].(float64)
	return int(c)
}

// hookServer records the hooks mediakit calls and answers with reply.
type hookServer struct {
	*httptest.Server
	mu     sync.Mutex
	bodies map[string][]map[string]any
	reply  func(name string, body map[string]any) map[string]any
	got    chan string
}

func newHookServer(t *testing.T, reply func(name string, body map[string]any) map[string]any) *hookServer {
	h := &hookServer{bodies: map[string][]map[string]any{}, reply: reply, got: make(chan string, 1000)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/index/hook/")
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		h.mu.Lock()
		h.bodies[name] = append(h.bodies[name], body)
		h.mu.Unlock()
		out := map[string]any{"code": 0, "msg": "success"}
		if h.reply != nil {
			if r := h.reply(name, body); r != nil {
				out = r
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
		select {
		case h.got <- name:
		default:
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) url(name string) string { return h.URL + "/index/hook/" + name }

// servedSchemas are the schemas of a stream in a test server, in the
// order of their on_stream_changed events.
var servedSchemas = []string{"rtmp", "rtsp", "ts", "fmp4", "hls"}

// waitSchemaEvents returns the next on_stream_changed bodies, one per
// schema of want, checking they come in that order. With anyHLS, an HLS
// variant may come anywhere: at a stream's end its muxer's stop and the
// stream's end are told from different goroutines.
func waitSchemaEvents(t *testing.T, h *hookServer, want []string, anyHLS bool) []map[string]any {
	t.Helper()
	var got []map[string]any
	var schemas []string
	for range want {
		b := h.wait(t, "on_stream_changed", 20*time.Second)
		got = append(got, b)
		schemas = append(schemas, fmt.Sprint(b["schema"]))
	}
	order := func(list []string) []string {
		if !anyHLS {
			return list
		}
		out := slices.DeleteFunc(slices.Clone(list), zlm.IsSegmented)
		for _, s := range list {
			if zlm.IsSegmented(s) {
				out = append(out, s)
			}
		}
		return out
	}
	if !slices.Equal(order(schemas), order(want)) {
		t.Fatalf("on_stream_changed schemas %v, want %v", schemas, want)
	}
	return got
}

// wait returns the body of the next call of hook name.
func (h *hookServer) wait(t *testing.T, name string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.After(timeout)
	for {
		h.mu.Lock()
		if list := h.bodies[name]; len(list) > 0 {
			body := list[0]
			h.bodies[name] = list[1:]
			h.mu.Unlock()
			return body
		}
		h.mu.Unlock()
		select {
		case <-h.got:
		case <-deadline:
			t.Fatalf("hook %s not called within %v", name, timeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (h *hookServer) count(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.bodies[name])
}

// enableHooks points every hook at h through setServerConfig, as
// WVP-GB28181-pro does.
func (ts *testServer) enableHooks(t *testing.T, h *hookServer, extra url.Values) {
	t.Helper()
	v := url.Values{"hook.enable": {"1"}, "hook.timeoutSec": {"5"}}
	for _, name := range []string{"on_publish", "on_play", "on_flow_report", "on_stream_changed",
		"on_stream_none_reader", "on_stream_not_found", "on_server_keepalive", "on_server_exited"} {
		v.Set("hook."+name, h.url(name))
	}
	for k, vals := range extra {
		v[k] = vals
	}
	if r := ts.apiCall(t, "setServerConfig", v); code(r) != 0 {
		t.Fatalf("setServerConfig: %v", r)
	}
}

// TestZLMScriptWorkflow drives a stream the way a script written for
// ZLMediaKit does: list, check online, inspect, close.
func TestZLMScriptWorkflow(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, nil)
	pub := testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/cam?token=abc", true)
	waitStream(t, ts, "live/cam")
	player := &flvPlayer{}
	playDone := make(chan struct{})
	go func() {
		defer close(playDone)
		player.play(context.Background(), ts.httpURL+"/live/cam.live.flv")
	}()
	// One item per schema the stream is served in; the FLV player
	// counts in rtmp's, as ZLMediaKit counts it.
	var list map[string]any
	var data []any
	waitFor(t, 10*time.Second, "the FLV player counted", func() bool {
		list = ts.apiCall(t, "getMediaList", url.Values{"app": {"live"}, "schema": {"rtmp"}})
		data, _ = list["data"].([]any)
		return len(data) == 1 && data[0].(map[string]any)["readerCount"] == 1.0
	})
	if code(list) != 0 || len(data) != 1 {
		t.Fatalf("getMediaList: %v", list)
	}
	all, _ := ts.apiCall(t, "getMediaList", url.Values{"app": {"live"}})["data"].([]any)
	var schemas []string
	for _, it := range all {
		schemas = append(schemas, it.(map[string]any)["schema"].(string))
	}
	if want := servedSchemas[:4]; !slices.Equal(schemas, want) { // hls comes with its first segment
		if !slices.Equal(schemas, servedSchemas) {
			t.Errorf("getMediaList schemas %v, want %v or %v", schemas, want, servedSchemas)
		}
	}
	item := data[0].(map[string]any)
	for k, want := range map[string]any{"app": "live", "stream": "cam", "vhost": "__defaultVhost__", "schema": "rtmp",
		"params": "token=abc", "originType": 1.0, "originTypeStr": "rtmp_push", "readerCount": 1.0, "totalReaderCount": 1.0} {
		if item[k] != want {
			t.Errorf("getMediaList %s = %v, want %v", k, item[k], want)
		}
	}
	tracks, _ := item["tracks"].([]any)
	if len(tracks) != 2 {
		t.Fatalf("tracks: %v", item["tracks"])
	}
	video := tracks[0].(map[string]any)
	if video["codec_id"] != 0.0 || video["codec_id_name"] != "H264" || video["width"] != 320.0 || video["height"] != 240.0 {
		t.Errorf("video track: %v", video)
	}
	if audio := tracks[1].(map[string]any); audio["codec_id"] != 2.0 || audio["sample_rate"] != 44100.0 || audio["channels"] != 2.0 {
		t.Errorf("audio track: %v", audio)
	}
	if item["totalBytes"].(float64) <= 0 || item["aliveSecond"] == nil || item["originSock"] == nil {
		t.Errorf("counters: %v", item)
	}

	stream := url.Values{"schema": {"rtmp"}, "vhost": {"__defaultVhost__"}, "app": {"live"}, "stream": {"cam"}}
	if r := ts.apiCall(t, "isMediaOnline", stream); r["online"] != true {
		t.Errorf("isMediaOnline: %v", r)
	}
	if r := ts.apiCall(t, "getMediaInfo", stream); code(r) != 0 || r["stream"] != "cam" {
		t.Errorf("getMediaInfo: %v", r)
	}
	// Not without force while someone watches.
	if r := ts.apiCall(t, "close_stream", stream); code(r) != -1 {
		t.Errorf("close_stream without force: %v", r)
	}
	force := url.Values{"force": {"1"}}
	for k, v := range stream {
		force[k] = v
	}
	if r := ts.apiCall(t, "close_stream", force); code(r) != 0 || r["result"] != 0.0 {
		t.Fatalf("close_stream force: %v", r)
	}
	if err := pub.Wait(10 * time.Second); err == nil {
		t.Error("publisher of a closed stream exited cleanly; want its connection closed")
	}
	<-playDone
	if r := ts.apiCall(t, "getMediaList", nil); code(r) != 0 || r["data"] != nil {
		t.Errorf("getMediaList after close: %v", r)
	}
	if r := ts.apiCall(t, "isMediaOnline", stream); r["online"] != false {
		t.Errorf("isMediaOnline after close: %v", r)
	}
	if r := ts.apiCall(t, "getMediaInfo", stream); code(r) != -500 {
		t.Errorf("getMediaInfo after close: %v", r)
	}
}

// TestHooksEndToEnd publishes and plays with hooks pointed at a test
// server and checks what it receives.
func TestHooksEndToEnd(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	var mu sync.Mutex
	closeOnNoneReader := false
	h := newHookServer(t, func(name string, body map[string]any) map[string]any {
		mu.Lock()
		defer mu.Unlock()
		if name == "on_stream_none_reader" {
			return map[string]any{"code": 0, "close": closeOnNoneReader}
		}
		return nil
	})
	ts := startServer(t, func(c *config.Config) {
		c.General.MediaServerID = "node-7"
		c.General.FlowThreshold = 0
		c.General.NoneReaderDelay = time.Second
		c.Protocol.HLSDemand = false // every schema from publish, HLS at its first segment
	})
	ts.enableHooks(t, h, nil)

	pub := testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/hooked?sign=42", true)
	body := h.wait(t, "on_publish", 10*time.Second)
	for k, want := range map[string]any{"app": "live", "stream": "hooked", "schema": "rtmp", "params": "sign=42",
		"mediaServerId": "node-7", "vhost": "__defaultVhost__", "originType": 1.0, "originTypeStr": "rtmp_push", "ip": "127.0.0.1"} {
		if body[k] != want {
			t.Errorf("on_publish %s = %v, want %v", k, body[k], want)
		}
	}
	if _, ok := body["hook_index"].(float64); !ok {
		t.Errorf("on_publish without hook_index: %v", body)
	}
	// One source per schema, in ZLMediaKit's order: those served from
	// the first frame, then HLS at its first segment.
	for _, changed := range waitSchemaEvents(t, h, servedSchemas, false) {
		if changed["regist"] != true || changed["stream"] != "hooked" || len(changed["tracks"].([]any)) != 2 ||
			changed["originTypeStr"] != "rtmp_push" || changed["params"] != "sign=42" || changed["mediaServerId"] != "node-7" {
			t.Errorf("on_stream_changed regist: %v", changed)
		}
		for _, k := range []string{"vhost", "app", "stream", "params", "createStamp", "aliveSecond", "bytesSpeed", "totalBytes",
			"readerCount", "totalReaderCount", "originType", "originTypeStr", "originUrl", "isRecordingMP4", "isRecordingHLS",
			"originSock", "tracks", "regist", "mediaServerId", "hook_index"} {
			if _, ok := changed[k]; !ok {
				t.Errorf("on_stream_changed regist %s lacks %s", changed["schema"], k)
			}
		}
	}
	// nobody watches: none_reader after 1 s, the hook says keep it
	h.wait(t, "on_stream_none_reader", 10*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := testutil.FFprobe(ctx, t, ts.httpURL+"/live/hooked.live.flv?user=u1", "-read_intervals", "%+1"); err != nil {
		t.Fatal(err)
	}
	play := h.wait(t, "on_play", 5*time.Second)
	if play["stream"] != "hooked" || play["params"] != "user=u1" || play["protocol"] != "http" || play["schema"] != "rtmp" {
		t.Errorf("on_play: %v", play)
	}
	flow := h.wait(t, "on_flow_report", 5*time.Second)
	if flow["player"] != true || flow["totalBytes"].(float64) <= 0 || flow["stream"] != "hooked" {
		t.Errorf("on_flow_report: %v", flow)
	}

	// Next time nobody watches, the hook says close.
	mu.Lock()
	closeOnNoneReader = true
	mu.Unlock()
	h.wait(t, "on_stream_none_reader", 10*time.Second)
	if err := pub.Wait(10 * time.Second); err == nil {
		t.Error("publisher exited cleanly; want its stream closed by on_stream_none_reader")
	}
	for _, gone := range waitSchemaEvents(t, h, servedSchemas, true) {
		if gone["regist"] != false || gone["stream"] != "hooked" || gone["params"] != "sign=42" {
			t.Errorf("on_stream_changed unregist: %v", gone)
		}
	}
	pubFlow := h.wait(t, "on_flow_report", 5*time.Second)
	if pubFlow["player"] != false {
		t.Errorf("publisher flow report: %v", pubFlow)
	}
}

func TestPublishDeniedByHook(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	h := newHookServer(t, func(name string, body map[string]any) map[string]any {
		if name == "on_publish" {
			return map[string]any{"code": -1, "msg": "no entry"}
		}
		return nil
	})
	ts := startServer(t, nil)
	ts.enableHooks(t, h, nil)
	pub := testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/denied", true)
	if err := pub.Wait(10 * time.Second); err == nil {
		t.Fatal("denied publisher succeeded")
	}
	if n, _ := ts.Engine.Ping(context.Background()); n != 0 {
		t.Fatalf("%d streams after a denied publish", n)
	}
	_, metrics := ts.get(t, "/metrics")
	if !strings.Contains(string(metrics), `mediakit_hook_requests_total{hook="on_publish",result="denied"} 1`) {
		t.Errorf("denied hook not counted:\n%s", grep(string(metrics), "hook_requests"))
	}
}

func grep(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestStreamReplace: the on_publish reply renames the stream, as a
// GB28181 platform renames rtp/<ssrc> to rtp/<device>_<channel>; fields
// the platform leaves null are ignored.
func TestStreamReplace(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	h := newHookServer(t, func(name string, body map[string]any) map[string]any {
		if name == "on_publish" {
			return map[string]any{"code": 0, "msg": "success", "stream_replace": "dev1_ch1",
				"enable_audio": true, "enable_mp4": false, "mp4_max_second": 0, "mp4_save_path": nil, "modify_stamp": nil}
		}
		return nil
	})
	ts := startServer(t, nil)
	ts.enableHooks(t, h, nil)
	testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/rtp/0A1B2C3D", true)
	waitStream(t, ts, "rtp/dev1_ch1")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := testutil.FFprobe(ctx, t, ts.httpURL+"/rtp/dev1_ch1.live.flv", "-read_intervals", "%+1")
	if err != nil || p.Video() == nil || p.Video().NbReadFrames < 10 {
		t.Fatalf("player of the renamed stream: %v %+v", err, p)
	}
	r := ts.apiCall(t, "isMediaOnline", url.Values{"schema": {"rtmp"}, "vhost": {"__defaultVhost__"}, "app": {"rtp"}, "stream": {"0A1B2C3D"}})
	if r["online"] != false {
		t.Errorf("old name still online: %v", r)
	}
}

// TestHungHookDoesNotStallOtherStreams: on_publish hangs for one stream
// while another publishes and plays normally, and the API answers.
func TestHungHookDoesNotStallOtherStreams(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	release := make(chan struct{})
	h := newHookServer(t, func(name string, body map[string]any) map[string]any {
		if name == "on_publish" && body["stream"] == "stuck" {
			<-release
		}
		return nil
	})
	t.Cleanup(func() { close(release) })
	ts := startServer(t, nil)
	ts.enableHooks(t, h, url.Values{"hook.timeoutSec": {"60"}})

	testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/stuck", true)
	// The hook server records a call before it answers: once stuck's
	// on_publish is recorded, it hangs.
	waitFor(t, 20*time.Second, "stuck's on_publish to hang", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return slices.ContainsFunc(h.bodies["on_publish"], func(b map[string]any) bool { return b["stream"] == "stuck" })
	})
	testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/free", true)
	waitStream(t, ts, "live/free")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := testutil.FFprobe(ctx, t, ts.rtmpURL+"/live/free", "-read_intervals", "%+2")
	if err != nil || p.Video() == nil || p.Video().NbReadFrames < 30 {
		t.Fatalf("player of the free stream: %v %+v", err, p)
	}
	start := time.Now()
	r := ts.apiCall(t, "getMediaList", url.Values{"schema": {"rtmp"}})
	// Held by the hook it would wait out its 60 s timeout; the bound
	// tells that apart from a slow machine.
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("getMediaList took %v while a hook hangs", d)
	}
	data, _ := r["data"].([]any)
	if len(data) != 1 || data[0].(map[string]any)["stream"] != "free" {
		t.Errorf("getMediaList: %v", r)
	}
	code, _ := ts.get(t, "/healthz")
	if code != http.StatusOK {
		t.Errorf("healthz %d while a hook hangs", code)
	}
}

// TestSetServerConfigPersists: settings changed through the API survive a
// restart; unknown keys are ignored with code 0.
func TestSetServerConfigPersists(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mutate := func(c *config.Config) { c.General.DataDir = dir }
	ts := startServer(t, mutate)
	r := ts.apiCall(t, "setServerConfig", url.Values{
		"protocol.continue_push_ms": {"3000"},
		"hook.on_publish":           {"http://127.0.0.1:9/index/hook/on_publish"},
		"hook.alive_interval":       {"20.0"},
		"rtsp.lowLatency":           {"1"},              // unknown to mediakit
		"rtmp.addr":                 {"127.0.0.1:1"},    // needs a restart: not changed
		"general.mediaServerId":     {"your_server_id"}, // as WVP may set it
	})
	if code(r) != 0 || r["changed"] != 4.0 {
		t.Fatalf("setServerConfig: %v", r)
	}
	if got := ts.Engine.Config().ContinuePush; got != 3*time.Second {
		t.Errorf("continue push applied live: %v", got)
	}
	if r := ts.apiCall(t, "setServerConfig", url.Values{"protocol.continue_push_ms": {"soon"}}); code(r) != -300 {
		t.Errorf("bad value: %v", r)
	}
	ts.stop(t)

	// A new server over the same data dir, through the serve command's
	// loading path.
	ts2 := startServerWithSaved(t, mutate, dir)
	cfg := ts2.apiCall(t, "getServerConfig", nil)
	data := cfg["data"].([]any)[0].(map[string]any)
	for k, want := range map[string]string{"protocol.continue_push_ms": "3000", "hook.alive_interval": "20",
		"hook.on_publish": "http://127.0.0.1:9/index/hook/on_publish", "general.mediaServerId": "your_server_id"} {
		if data[k] != want {
			t.Errorf("after restart %s = %v, want %s", k, data[k], want)
		}
	}
	if _, ok := data["rtsp.lowLatency"]; ok {
		t.Error("unknown key was stored")
	}
}

// TestWVPConnect replays what WVP-GB28181-pro does when it adopts a media
// node: read getServerConfig data[0], post its setServerConfig, then wait
// for keepalives every hook.alive_interval.
func TestWVPConnect(t *testing.T) {
	t.Parallel()
	h := newHookServer(t, nil)
	ts := startServer(t, func(c *config.Config) { c.API.Secret = "wvp-secret" })
	secret := url.Values{"secret": {"wvp-secret"}}
	cfg := ts.apiCall(t, "getServerConfig", secret)
	data := cfg["data"].([]any)[0].(map[string]any)
	_, httpPort := splitHostPort(ts.HTTPAddr())
	_, rtmpPort := splitHostPort(ts.RTMPAddr())
	_, rtpPort := splitHostPort(ts.RTPAddr())
	_, rtspPort := splitHostPort(ts.RTSPAddr())
	for k, want := range map[string]string{"general.mediaServerId": "mediakit", "hook.alive_interval": "10",
		"http.port": httpPort, "rtmp.port": rtmpPort, "rtsp.port": rtspPort, "rtmp.sslport": "0", "rtsp.sslport": "0",
		"http.sslport": "0", "rtp_proxy.port": rtpPort, "hook.enable": "0", "api.secret": SecretMask} {
		if data[k] != want {
			t.Errorf("getServerConfig %s = %v, want %q", k, data[k], want)
		}
	}
	for k, v := range data {
		if _, ok := v.(string); !ok {
			t.Errorf("getServerConfig %s is %T, want a string", k, v)
		}
	}

	prefix := h.URL + "/index/hook"
	wvp := url.Values{
		"secret":                     {"wvp-secret"},
		"ffmpeg.snap":                {"%s -rtsp_transport tcp -i %s -y -f mjpeg -frames:v 1 %s"},
		"hook.enable":                {"1"},
		"hook.on_flow_report":        {""},
		"hook.on_play":               {prefix + "/on_play"},
		"hook.on_http_access":        {""},
		"hook.on_publish":            {prefix + "/on_publish"},
		"hook.on_record_ts":          {""},
		"hook.on_rtsp_auth":          {""},
		"hook.on_rtsp_realm":         {""},
		"hook.on_server_started":     {prefix + "/on_server_started"},
		"hook.on_shell_login":        {""},
		"hook.on_stream_changed":     {prefix + "/on_stream_changed"},
		"hook.on_stream_none_reader": {prefix + "/on_stream_none_reader"},
		"hook.on_stream_not_found":   {prefix + "/on_stream_not_found"},
		"hook.on_server_keepalive":   {prefix + "/on_server_keepalive"},
		"hook.on_send_rtp_stopped":   {prefix + "/on_send_rtp_stopped"},
		"hook.on_rtp_server_timeout": {prefix + "/on_rtp_server_timeout"},
		"hook.on_record_mp4":         {prefix + "/on_record_mp4"},
		"hook.timeoutSec":            {"30"},
		"protocol.continue_push_ms":  {"3000"},
		"protocol.mp4_save_path":     {"/data"},
		"protocol.downloadRoot":      {"/data"},
		"record.appName":             {"record"},
		"hook.alive_interval":        {"1"},
	}
	// WVP sends its record path with its hooks. /data is outside the data
	// dir and record.allow_paths: that key is refused, naming it, and the
	// rest applies, so WVP still gets its hooks.
	r := ts.apiCall(t, "setServerConfig", wvp)
	if code(r) != -300 || !strings.Contains(fmt.Sprint(r["msg"]), "protocol.mp4_save_path") || r["changed"] == float64(0) {
		t.Fatalf("WVP's setServerConfig: %v, want -300 naming protocol.mp4_save_path with the other keys changed", r)
	}
	if got := ts.Config().Protocol.MP4SavePath; got != "" {
		t.Errorf("refused mp4_save_path applied: %q", got)
	}
	// Echoing getServerConfig's masked secret back changes nothing.
	if r := ts.apiCall(t, "setServerConfig", url.Values{"secret": {"wvp-secret"}, "api.secret": {SecretMask}}); code(r) != 0 {
		t.Errorf("setServerConfig with the masked secret: %v", r)
	}
	if ts.Config().API.Secret != "wvp-secret" {
		t.Errorf("api.secret became %q after echoing the mask", ts.Config().API.Secret)
	}
	for i := 0; i < 2; i++ {
		ka := h.wait(t, "on_server_keepalive", 5*time.Second)
		if ka["mediaServerId"] != "mediakit" || ka["data"] == nil {
			t.Fatalf("keepalive body: %v", ka)
		}
	}
	// The wrong secret is refused.
	if r := ts.apiCall(t, "getServerConfig", url.Values{"secret": {"nope"}}); code(r) != -100 {
		t.Errorf("wrong secret: %v", r)
	}
}

func splitHostPort(addr string) (string, string) {
	i := strings.LastIndexByte(addr, ':')
	return addr[:i], addr[i+1:]
}
