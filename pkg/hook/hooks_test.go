package hook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

var allHooks = []string{
	OnPublish, OnPlay, OnFlowReport, OnStreamChanged, OnStreamNoneReader,
	OnStreamNotFound, OnServerStarted, OnServerExited, OnServerKeepalive,
}

// fakeCloser records CloseStream calls.
type fakeCloser struct {
	mu    sync.Mutex
	calls []engine.Key
	why   []string
}

func (f *fakeCloser) CloseStream(_ context.Context, key engine.Key, reason string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, key)
	f.why = append(f.why, reason)
	return true, nil
}

func (f *fakeCloser) closed() []engine.Key {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]engine.Key(nil), f.calls...)
}

type hooksEnv struct {
	srv    *hookServer
	box    *settingsBox
	client *Client
	hooks  *Hooks
	closer *fakeCloser
}

const testThreshold = 1024 * 1024 // general.flowThreshold 1024 KB

// newHooksEnv wires Hooks to a hook server answering with reply (nil:
// success) for every hook.
func newHooksEnv(t *testing.T, reply replyFunc) *hooksEnv {
	t.Helper()
	e := &hooksEnv{srv: newHookServer(t, reply), box: &settingsBox{}, closer: &fakeCloser{}}
	urls := map[string]string{}
	for _, name := range allHooks {
		urls[name] = e.srv.url(name)
	}
	e.box.set(fastSettings(urls))
	e.client = newTestClient(t, e.box, nil)
	e.hooks = NewHooks(e.client, e.closer, func() int64 { return testThreshold }, nil)
	return e
}

// flush waits until every queued notification was sent and answered.
func (e *hooksEnv) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	e.client.Close(ctx)
}

// replies answers each hook with a fixed body (success for the others).
func replies(m map[string]string) replyFunc {
	return func(_ *hookServer, r request, w http.ResponseWriter, _ *http.Request) {
		if body, ok := m[r.Name]; ok {
			writeJSON(w, body)
			return
		}
		writeJSON(w, `{"code":0,"msg":"success"}`)
	}
}

var (
	testKey = engine.NewKey("", "live", "obs")
	// An OBS push, as in ZLMediaKit's on_publish documentation.
	testPusher = engine.SessionInfo{
		ID:       "140186529001776",
		Protocol: "rtmp",
		Remote:   "10.0.17.132:65284",
		Local:    "10.0.0.2:1935",
		Params:   "token=1677193e-1244-49f2-8868-13b3fcc31b17",
	}
	testPlayer = engine.SessionInfo{
		ID:       "140186529001904",
		Protocol: "http-flv",
		Remote:   "[2001:db8::5]:50123",
		Local:    "[2001:db8::1]:80",
		Params:   "callId=abc&sign=41db35390ddad33f83944f44b8b75ded",
	}
)

func testStream(now time.Time) engine.StreamInfo {
	video := &media.Track{Codec: media.CodecH264, Width: 1920, Height: 1080, FPS: 25}
	audio := &media.Track{Codec: media.CodecAAC, SampleRate: 44100, Channels: 2}
	pub := testPusher
	return engine.StreamInfo{
		Key:       testKey,
		State:     engine.StateLive,
		Ready:     true,
		Tracks:    []*media.Track{video, audio},
		Publisher: &pub,
		Readers: []engine.ReaderInfo{
			{SessionInfo: testPlayer, Since: now.Add(-30 * time.Second)},
			{SessionInfo: engine.SessionInfo{ID: "r2", Protocol: "rtmp", Remote: "10.0.17.150:50500"}, Since: now.Add(-10 * time.Second)},
		},
		CreatedAt:  now.Add(-90 * time.Second),
		BytesIn:    123456789,
		BytesOut:   987654321,
		FramesIn:   6125,
		Publishers: 1,
		TrackStats: map[*media.Track]engine.TrackStats{
			video: {Frames: 2250, KeyFrames: 45, GOPSize: 50, GOPInterval: 2 * time.Second, Duration: 90 * time.Second},
			audio: {Frames: 3875, Duration: 90 * time.Second},
		},
	}
}

func TestOnPublishBody(t *testing.T) {
	e := newHooksEnv(t, nil)
	opts, err := e.hooks.AuthorizePublish(context.Background(), testKey, testPusher)
	if err != nil {
		t.Fatalf("AuthorizePublish: %v", err)
	}
	if opts.StreamReplace != "" || opts.ContinuePush != nil {
		t.Errorf("options %+v from a plain success reply", opts)
	}
	reqs := e.srv.requests(OnPublish)
	if len(reqs) != 1 {
		t.Fatalf("%d on_publish requests", len(reqs))
	}
	r := reqs[0]
	checkKeys(t, "on_publish", r.Fields, "schema", "protocol", "vhost", "app", "stream", "params",
		"ip", "port", "id", "originType", "originTypeStr", "mediaServerId", "hook_index")
	checkFields(t, "on_publish", r.Fields, map[string]string{
		"schema":        `"rtmp"`,
		"protocol":      `"rtmp"`,
		"vhost":         `"__defaultVhost__"`,
		"app":           `"live"`,
		"stream":        `"obs"`,
		"params":        `"token=1677193e-1244-49f2-8868-13b3fcc31b17"`,
		"ip":            `"10.0.17.132"`,
		"port":          `65284`,
		"id":            `"140186529001776"`,
		"originType":    `1`,
		"originTypeStr": `"rtmp_push"`,
		"mediaServerId": `"your_server_id"`,
	})
	if !isUint(r.Fields["hook_index"]) {
		t.Errorf("hook_index %s", r.Fields["hook_index"])
	}
	if v := r.Header.Get("X-VHOST"); v != "__defaultVhost__" {
		t.Errorf("X-VHOST %q", v)
	}
}

func TestOnPublishDenied(t *testing.T) {
	for _, reply := range []string{`{"code":1,"msg":"bad token"}`, `{"code":-1,"msg":"fail","enable_audio":true}`, `{"code":401,"msg":"Unauthorized"}`} {
		t.Run(reply, func(t *testing.T) {
			e := newHooksEnv(t, replies(map[string]string{OnPublish: reply}))
			e.box.update(func(s *Settings) { s.Retry = 2 })
			opts, err := e.hooks.AuthorizePublish(context.Background(), testKey, testPusher)
			if !errors.Is(err, engine.ErrDenied) {
				t.Fatalf("error %v, want engine.ErrDenied", err)
			}
			if !reflect.DeepEqual(opts, engine.PublishOptions{}) {
				t.Errorf("options %+v with a denial", opts)
			}
			if n := len(e.srv.requests(OnPublish)); n != 1 {
				t.Errorf("%d on_publish requests, want 1 (a denial is final)", n)
			}
		})
	}
}

func TestOnPublishUnreachableDenies(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		e := newHooksEnv(t, nil)
		gone := newHookServer(t, nil)
		gone.close()
		e.box.update(func(s *Settings) {
			s.URLs[OnPublish] = gone.url(OnPublish)
			s.Retry = 1
			s.RetryDelay = 20 * time.Millisecond
		})
		if _, err := e.hooks.AuthorizePublish(context.Background(), testKey, testPusher); !errors.Is(err, engine.ErrDenied) {
			t.Errorf("error %v, want engine.ErrDenied", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		e := newHooksEnv(t, hangReply)
		e.box.update(func(s *Settings) {
			s.Timeout = 50 * time.Millisecond
			s.Retry = 1
			s.RetryDelay = 20 * time.Millisecond
		})
		start := time.Now()
		if _, err := e.hooks.AuthorizePublish(context.Background(), testKey, testPusher); !errors.Is(err, engine.ErrDenied) {
			t.Errorf("error %v, want engine.ErrDenied", err)
		}
		// At least 2 timeouts + 1 delay = 120ms; the upper bound only
		// catches the 50ms timeout not applied (fastSettings' 2 s would
		// take 4 s), not a slow machine.
		if d := time.Since(start); d < 110*time.Millisecond || d > 3*time.Second {
			t.Errorf("denied after %v, want about 2 timeouts + 1 delay = 120ms", d)
		}
		if n := len(e.srv.requests(OnPublish)); n != 2 {
			t.Errorf("%d attempts, want 2", n)
		}
	})
	t.Run("HTTP 500", func(t *testing.T) {
		e := newHooksEnv(t, func(_ *hookServer, _ request, w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "oops", http.StatusInternalServerError)
		})
		e.box.update(func(s *Settings) { s.Retry = 1 })
		if _, err := e.hooks.AuthorizePublish(context.Background(), testKey, testPusher); !errors.Is(err, engine.ErrDenied) {
			t.Errorf("error %v, want engine.ErrDenied", err)
		}
		if n := len(e.srv.requests(OnPublish)); n != 2 {
			t.Errorf("%d attempts, want 2", n)
		}
	})
}

func TestAuthorizeNotConfiguredAllows(t *testing.T) {
	for _, tt := range []struct {
		name string
		f    func(s *Settings)
	}{
		{"disabled", func(s *Settings) { s.Enable = false }},
		{"no URL", func(s *Settings) { s.URLs[OnPublish] = ""; s.URLs[OnPlay] = "" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newHooksEnv(t, replies(map[string]string{OnPublish: `{"code":1}`, OnPlay: `{"code":1}`}))
			e.box.update(tt.f)
			opts, err := e.hooks.AuthorizePublish(context.Background(), testKey, testPusher)
			if err != nil {
				t.Errorf("AuthorizePublish: %v", err)
			}
			if !reflect.DeepEqual(opts, engine.PublishOptions{}) {
				t.Errorf("options %+v, want empty", opts)
			}
			if err := e.hooks.AuthorizePlay(context.Background(), testKey, testPlayer); err != nil {
				t.Errorf("AuthorizePlay: %v", err)
			}
			if n := len(e.srv.requests("")); n != 0 {
				t.Errorf("%d requests sent", n)
			}
		})
	}
}

func durationPtr(d time.Duration) *time.Duration { return &d }

func TestOnPublishReplyOptions(t *testing.T) {
	tests := []struct {
		name  string
		reply string
		want  engine.PublishOptions
	}{
		{
			// HookResultForOnPublish with its nullable members unset.
			name: "WVP nulls",
			reply: `{"code":0,"msg":"success","enable_audio":true,"enable_mp4":null,"mp4_max_second":0,
				"mp4_save_path":null,"stream_replace":null,"modify_stamp":null}`,
			want: engine.PublishOptions{Values: map[string]string{"enable_audio": "1", "mp4_max_second": "0"}},
		},
		{
			name:  "stream_replace",
			reply: `{"code":0,"msg":"success","enable_audio":false,"enable_mp4":false,"mp4_max_second":0,"stream_replace":"dev_ch","modify_stamp":null}`,
			want: engine.PublishOptions{StreamReplace: "dev_ch", Values: map[string]string{
				"enable_audio": "0", "enable_mp4": "0", "mp4_max_second": "0", "stream_replace": "dev_ch"}},
		},
		{
			name:  "GB28181 stream_replace",
			reply: `{"code":0,"stream_replace":"34020000001320000001_34020000001320000001"}`,
			want: engine.PublishOptions{StreamReplace: "34020000001320000001_34020000001320000001",
				Values: map[string]string{"stream_replace": "34020000001320000001_34020000001320000001"}},
		},
		{
			name:  "empty stream_replace",
			reply: `{"code":0,"stream_replace":""}`,
			want:  engine.PublishOptions{Values: map[string]string{"stream_replace": ""}},
		},
		{
			name:  "continue_push_ms number",
			reply: `{"code":0,"continue_push_ms":3000}`,
			want:  engine.PublishOptions{ContinuePush: durationPtr(3 * time.Second), Values: map[string]string{"continue_push_ms": "3000"}},
		},
		{
			name:  "continue_push_ms string",
			reply: `{"code":0,"continue_push_ms":"3000"}`,
			want:  engine.PublishOptions{ContinuePush: durationPtr(3 * time.Second), Values: map[string]string{"continue_push_ms": "3000"}},
		},
		{
			name:  "continue_push_ms null",
			reply: `{"code":0,"continue_push_ms":null}`,
			want:  engine.PublishOptions{Values: map[string]string{}},
		},
		{
			name:  "continue_push_ms beyond a Duration saturates",
			reply: `{"code":0,"continue_push_ms":1e300}`,
			want:  engine.PublishOptions{ContinuePush: durationPtr(math.MaxInt64), Values: map[string]string{"continue_push_ms": "1e300"}},
		},
		{
			name:  "continue_push_ms negative",
			reply: `{"code":0,"continue_push_ms":-1}`,
			want:  engine.PublishOptions{Values: map[string]string{"continue_push_ms": "-1"}},
		},
		{
			name:  "continue_push_ms not a number",
			reply: `{"code":0,"continue_push_ms":"soon"}`,
			want:  engine.PublishOptions{Values: map[string]string{"continue_push_ms": "soon"}},
		},
		{
			name: "ZLMediaKit documentation example",
			reply: `{"code":0,"add_mute_audio":true,"continue_push_ms":10000,"enable_audio":true,"enable_fmp4":true,
				"enable_hls":true,"enable_hls_fmp4":false,"enable_mp4":false,"enable_rtmp":true,"enable_rtsp":true,
				"enable_ts":true,"hls_save_path":"/hls_save_path/","modify_stamp":false,"mp4_as_player":false,
				"mp4_max_second":3600,"mp4_save_path":"/mp4_save_path/","auto_close":false,"stream_replace":""}`,
			want: engine.PublishOptions{ContinuePush: durationPtr(10 * time.Second), Values: map[string]string{
				"add_mute_audio": "1", "continue_push_ms": "10000", "enable_audio": "1", "enable_fmp4": "1",
				"enable_hls": "1", "enable_hls_fmp4": "0", "enable_mp4": "0", "enable_rtmp": "1", "enable_rtsp": "1",
				"enable_ts": "1", "hls_save_path": "/hls_save_path/", "modify_stamp": "0", "mp4_as_player": "0",
				"mp4_max_second": "3600", "mp4_save_path": "/mp4_save_path/", "auto_close": "0", "stream_replace": "",
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newHooksEnv(t, replies(map[string]string{OnPublish: tt.reply}))
			opts, err := e.hooks.AuthorizePublish(context.Background(), testKey, testPusher)
			if err != nil {
				t.Fatalf("AuthorizePublish: %v", err)
			}
			if opts.StreamReplace != tt.want.StreamReplace {
				t.Errorf("StreamReplace %q, want %q", opts.StreamReplace, tt.want.StreamReplace)
			}
			if (opts.ContinuePush == nil) != (tt.want.ContinuePush == nil) ||
				(opts.ContinuePush != nil && *opts.ContinuePush != *tt.want.ContinuePush) {
				t.Errorf("ContinuePush %v, want %v", fmtDur(opts.ContinuePush), fmtDur(tt.want.ContinuePush))
			}
			if !reflect.DeepEqual(opts.Values, tt.want.Values) {
				t.Errorf("Values %v, want %v", opts.Values, tt.want.Values)
			}
		})
	}
}

func fmtDur(d *time.Duration) string {
	if d == nil {
		return "nil"
	}
	return d.String()
}

func TestOnPlay(t *testing.T) {
	e := newHooksEnv(t, func(_ *hookServer, r request, w http.ResponseWriter, _ *http.Request) {
		if r.str("stream") == "secret" {
			writeJSON(w, `{"code":401,"msg":"Unauthorized"}`)
			return
		}
		writeJSON(w, `{"code":0,"msg":"success"}`)
	})
	e.box.update(func(s *Settings) { s.Retry = 2 })
	ctx := context.Background()
	if err := e.hooks.AuthorizePlay(ctx, testKey, testPlayer); err != nil {
		t.Fatalf("AuthorizePlay: %v", err)
	}
	r := e.srv.requests(OnPlay)[0]
	checkKeys(t, "on_play", r.Fields, "schema", "protocol", "vhost", "app", "stream", "params",
		"ip", "port", "id", "mediaServerId", "hook_index")
	checkFields(t, "on_play", r.Fields, map[string]string{
		"schema":   `"rtmp"`, // HTTP-FLV reads the rtmp source
		"protocol": `"http"`,
		"vhost":    `"__defaultVhost__"`,
		"app":      `"live"`,
		"stream":   `"obs"`,
		"params":   `"callId=abc&sign=41db35390ddad33f83944f44b8b75ded"`,
		"ip":       `"2001:db8::5"`,
		"port":     `50123`,
		"id":       `"140186529001904"`,
	})

	denied := engine.NewKey("", "live", "secret")
	err := e.hooks.AuthorizePlay(ctx, denied, testPlayer)
	if !errors.Is(err, engine.ErrDenied) {
		t.Fatalf("error %v, want engine.ErrDenied", err)
	}
	if n := len(e.srv.requests(OnPlay)); n != 2 {
		t.Errorf("%d on_play requests, want 2 (no retry of a denial)", n)
	}

	// A failing hook denies too.
	gone := newHookServer(t, nil)
	gone.close()
	e.box.update(func(s *Settings) { s.URLs[OnPlay] = gone.url(OnPlay); s.Retry = 1 })
	if err := e.hooks.AuthorizePlay(ctx, testKey, testPlayer); !errors.Is(err, engine.ErrDenied) {
		t.Errorf("error %v from an unreachable on_play, want engine.ErrDenied", err)
	}
}

func TestOnPlayProtocols(t *testing.T) {
	e := newHooksEnv(t, nil)
	for _, tt := range []struct{ protocol, schema, hookProtocol string }{
		{"rtmp", "rtmp", "rtmp"},
		{"http-flv", "rtmp", "http"},
		{"ws-flv", "rtmp", "ws"},
		{"rtsp", "rtsp", "rtsp"},
		{"http-ts", "ts", "http"},
		{"ws-ts", "ts", "ws"},
		{"http-fmp4", "fmp4", "http"},
		{"ws-fmp4", "fmp4", "ws"},
		{"hls", "hls", "http"},
		{"hls-fmp4", "hls.fmp4", "http"},
	} {
		s := testPlayer
		s.Protocol = tt.protocol
		if err := e.hooks.AuthorizePlay(context.Background(), testKey, s); err != nil {
			t.Fatal(err)
		}
		reqs := e.srv.requests(OnPlay)
		checkFields(t, tt.protocol, reqs[len(reqs)-1].Fields, map[string]string{
			"schema": fmt.Sprintf("%q", tt.schema), "protocol": fmt.Sprintf("%q", tt.hookProtocol),
		})
	}
}

func TestOnStreamChanged(t *testing.T) {
	e := newHooksEnv(t, nil)
	now := time.Now()
	info := testStream(now)
	e.hooks.StreamReady(info)
	e.hooks.StreamEnded(info)
	e.flush(t)

	var regs, unregs []request
	for _, r := range e.srv.requests(OnStreamChanged) {
		switch compact(t, r.Fields["regist"]) {
		case "true":
			regs = append(regs, r)
		case "false":
			unregs = append(unregs, r)
		default:
			t.Errorf("regist %s, want a bool", r.Fields["regist"])
		}
	}
	if len(regs) == 0 || len(regs) != len(unregs) {
		t.Fatalf("%d regist=true and %d regist=false events", len(regs), len(unregs))
	}
	schemas := map[string]bool{}
	for _, r := range regs {
		schema := r.str("schema")
		schemas[schema] = true
		what := "regist=true " + schema
		// makeMediaSourceJson, plus regist, mediaServerId and hook_index.
		checkKeys(t, what, r.Fields, "schema", "vhost", "app", "stream", "params", "createStamp",
			"aliveSecond", "bytesSpeed", "totalBytes", "readerCount", "totalReaderCount", "originType",
			"originTypeStr", "originUrl", "isRecordingMP4", "isRecordingHLS", "originSock", "tracks",
			"regist", "mediaServerId", "hook_index")
		checkFields(t, what, r.Fields, map[string]string{
			"vhost":            `"__defaultVhost__"`,
			"app":              `"live"`,
			"stream":           `"obs"`,
			"params":           `"token=1677193e-1244-49f2-8868-13b3fcc31b17"`,
			"createStamp":      fmt.Sprint(info.CreatedAt.Unix()),
			"totalBytes":       `123456789`,
			"totalReaderCount": `2`,
			"originType":       `1`,
			"originTypeStr":    `"rtmp_push"`,
			"isRecordingMP4":   `false`,
			"isRecordingHLS":   `false`,
			"regist":           `true`,
			"mediaServerId":    `"your_server_id"`,
			"originSock": `{"identifier":"140186529001776","local_ip":"10.0.0.2","local_port":1935,` +
				`"peer_ip":"10.0.17.132","peer_port":65284}`,
		})
		if schema == "rtmp" {
			checkFields(t, what, r.Fields, map[string]string{"readerCount": `2`})
		}
		for _, k := range []string{"aliveSecond", "bytesSpeed", "readerCount", "hook_index"} {
			if !isUint(r.Fields[k]) {
				t.Errorf("%s: %s = %s, want an unsigned integer", what, k, r.Fields[k])
			}
		}
		var alive int64
		_ = json.Unmarshal(r.Fields["aliveSecond"], &alive)
		if alive < 89 || alive > 92 {
			t.Errorf("%s: aliveSecond %d, want 90", what, alive)
		}
		if u := r.str("originUrl"); !strings.HasPrefix(u, "rtmp://") || !strings.Contains(u, "/live/obs") {
			t.Errorf("%s: originUrl %q", what, u)
		}
		var tracks []map[string]json.RawMessage
		if err := json.Unmarshal(r.Fields["tracks"], &tracks); err != nil || len(tracks) != 2 {
			t.Fatalf("%s: tracks %s", what, r.Fields["tracks"])
		}
		checkFields(t, what+" video", tracks[0], map[string]string{
			"codec_id": `0`, "codec_id_name": `"H264"`, "codec_type": `0`, "ready": `true`,
			"width": `1920`, "height": `1080`, "frames": `2250`, "key_frames": `45`,
			"gop_size": `50`, "gop_interval_ms": `2000`, "duration": `90000`,
		})
		var fps float64
		if err := json.Unmarshal(tracks[0]["fps"], &fps); err != nil || fps != 25 {
			t.Errorf("%s: fps %s", what, tracks[0]["fps"])
		}
		checkFields(t, what+" audio", tracks[1], map[string]string{
			"codec_id": `2`, "codec_id_name": `"mpeg4-generic"`, "codec_type": `1`, "ready": `true`,
			"sample_rate": `44100`, "channels": `2`, "sample_bit": `16`, "frames": `3875`,
		})
	}
	for _, r := range unregs {
		schema := r.str("schema")
		if !schemas[schema] {
			t.Errorf("regist=false for schema %q that was not registered", schema)
		}
		checkKeys(t, "regist=false", r.Fields, "schema", "vhost", "app", "stream", "params",
			"regist", "mediaServerId", "hook_index")
		checkFields(t, "regist=false", r.Fields, map[string]string{
			"vhost":  `"__defaultVhost__"`,
			"app":    `"live"`,
			"stream": `"obs"`,
			"params": `"token=1677193e-1244-49f2-8868-13b3fcc31b17"`,
			"regist": `false`,
		})
	}
}

func TestOnStreamNoneReader(t *testing.T) {
	tests := []struct {
		reply string
		close bool
	}{
		{`{"code":0,"close":true}`, true},
		{`{"code":0,"close":false}`, false},
		{`{"code":0}`, false},                    // WVP for an unknown node
		{`{"code":-1,"close":true}`, false},      // the hook must succeed
		{`{"code":0,"close":"true"}`, true},      // booleans as strings
		{`{"code":0,"close":1}`, true},           // or digits
		{`not json`, false},                      // failure
		{`{"code":0,"close":null}`, false},       // null
		{`{"code":0,"close":"false"}`, false},    // string false
		{`{"code":0,"close":0,"msg":""}`, false}, // digit false
	}
	for _, tt := range tests {
		t.Run(tt.reply, func(t *testing.T) {
			e := newHooksEnv(t, replies(map[string]string{OnStreamNoneReader: tt.reply}))
			info := testStream(time.Now())
			e.hooks.StreamNoReaders(info)
			e.srv.wait(t, OnStreamNoneReader, 1)
			e.flush(t) // Close waits for the reply's handling too
			closed := e.closer.closed()
			if tt.close {
				if len(closed) != 1 || closed[0] != testKey {
					t.Errorf("CloseStream calls %v, want one for %v", closed, testKey)
				}
			} else if len(closed) != 0 {
				t.Errorf("CloseStream called: %v", closed)
			}
			r := e.srv.requests(OnStreamNoneReader)[0]
			checkKeys(t, "on_stream_none_reader", r.Fields, "schema", "vhost", "app", "stream", "params",
				"mediaServerId", "hook_index")
			checkFields(t, "on_stream_none_reader", r.Fields, map[string]string{
				"schema": `"rtmp"`, "vhost": `"__defaultVhost__"`, "app": `"live"`, "stream": `"obs"`,
				"params": `"token=1677193e-1244-49f2-8868-13b3fcc31b17"`,
			})
		})
	}
}

func TestOnStreamNoneReaderNoCloser(t *testing.T) {
	e := newHooksEnv(t, replies(map[string]string{OnStreamNoneReader: `{"code":0,"close":true}`}))
	h := NewHooks(e.client, nil, nil, nil)
	h.StreamNoReaders(testStream(time.Now()))
	e.srv.wait(t, OnStreamNoneReader, 1)
	e.flush(t) // must not panic
}

func TestOnStreamNotFound(t *testing.T) {
	tests := []struct {
		reply  string
		reject bool
	}{
		{`{"code":0,"close":true}`, true},
		{`{"code":0,"msg":"success"}`, false}, // WVP: wait for the stream
		{`{"code":0,"close":false}`, false},
		{`{"code":1,"close":true}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.reply, func(t *testing.T) {
			e := newHooksEnv(t, replies(map[string]string{OnStreamNotFound: tt.reply}))
			var rejected atomic.Int32
			key := engine.NewKey("", "rtp", "34020000001320000001_34020000001320000001")
			e.hooks.StreamNotFound(key, testPlayer, func() { rejected.Add(1) })
			e.srv.wait(t, OnStreamNotFound, 1)
			e.flush(t)
			want := int32(0)
			if tt.reject {
				want = 1
			}
			if got := rejected.Load(); got != want {
				t.Errorf("reject called %d times, want %d", got, want)
			}
			r := e.srv.requests(OnStreamNotFound)[0]
			checkKeys(t, "on_stream_not_found", r.Fields, "schema", "protocol", "vhost", "app", "stream", "params",
				"ip", "port", "id", "mediaServerId", "hook_index")
			checkFields(t, "on_stream_not_found", r.Fields, map[string]string{
				"schema": `"rtmp"`, "protocol": `"http"`, "vhost": `"__defaultVhost__"`, "app": `"rtp"`,
				"stream": `"34020000001320000001_34020000001320000001"`,
				"params": `"callId=abc&sign=41db35390ddad33f83944f44b8b75ded"`,
				"ip":     `"2001:db8::5"`, "port": `50123`, "id": `"140186529001904"`,
			})
		})
	}
	t.Run("nil reject", func(t *testing.T) {
		e := newHooksEnv(t, replies(map[string]string{OnStreamNotFound: `{"code":0,"close":true}`}))
		e.hooks.StreamNotFound(testKey, testPlayer, nil)
		e.srv.wait(t, OnStreamNotFound, 1)
		e.flush(t) // must not panic
	})
}

func TestOnFlowReport(t *testing.T) {
	e := newHooksEnv(t, nil)
	// Below the threshold: not reported.
	e.hooks.SessionEnded(engine.SessionReport{Key: testKey, Session: testPlayer, Player: true, Bytes: testThreshold - 1, Duration: time.Minute})
	e.hooks.SessionEnded(engine.SessionReport{Key: testKey, Session: testPlayer, Player: true, Bytes: 0})
	// At and above it: reported.
	e.hooks.SessionEnded(engine.SessionReport{Key: testKey, Session: testPlayer, Player: true, Bytes: testThreshold, Duration: 1500 * time.Millisecond})
	e.hooks.SessionEnded(engine.SessionReport{Key: testKey, Session: testPusher, Player: false, Bytes: 5_000_000_000, Duration: 90*time.Second + 700*time.Millisecond})
	e.flush(t)

	reqs := e.srv.requests(OnFlowReport)
	if len(reqs) != 2 {
		t.Fatalf("%d on_flow_report requests, want 2", len(reqs))
	}
	byPlayer := map[string]request{}
	for _, r := range reqs {
		byPlayer[compact(t, r.Fields["player"])] = r
		checkKeys(t, "on_flow_report", r.Fields, "schema", "protocol", "vhost", "app", "stream", "params",
			"ip", "port", "id", "totalBytes", "duration", "player", "mediaServerId", "hook_index")
	}
	checkFields(t, "player", byPlayer["true"].Fields, map[string]string{
		"schema": `"rtmp"`, "protocol": `"http"`, "app": `"live"`, "stream": `"obs"`,
		"ip": `"2001:db8::5"`, "port": `50123`, "id": `"140186529001904"`,
		"totalBytes": fmt.Sprint(testThreshold), "duration": `1`, "player": `true`,
	})
	checkFields(t, "pusher", byPlayer["false"].Fields, map[string]string{
		"schema": `"rtmp"`, "protocol": `"rtmp"`, "vhost": `"__defaultVhost__"`, "app": `"live"`, "stream": `"obs"`,
		"params": `"token=1677193e-1244-49f2-8868-13b3fcc31b17"`,
		"ip":     `"10.0.17.132"`, "port": `65284`, "id": `"140186529001776"`,
		"totalBytes": `5000000000`, "duration": `90`, "player": `false`,
	})
}

func TestOnServerStarted(t *testing.T) {
	e := newHooksEnv(t, nil)
	config := map[string]string{
		"general.mediaServerId": "your_server_id",
		"general.flowThreshold": "1024",
		"hook.enable":           "1",
		"hook.on_publish":       e.srv.url(OnPublish),
		"http.port":             "80",
		"rtmp.port":             "1935",
		"api.secret":            "035c73f7-bb6b-4889-a715-d9eb2d1925cc",
	}
	e.hooks.ServerStarted(config)
	r := e.srv.wait(t, OnServerStarted, 1)[0]
	want := map[string]string{"mediaServerId": `"your_server_id"`}
	keys := []string{"mediaServerId", "hook_index"}
	for k, v := range config {
		b, _ := json.Marshal(v)
		want[k] = string(b) // strings, as mINI values
		keys = append(keys, k)
	}
	checkKeys(t, "on_server_started", r.Fields, keys...)
	checkFields(t, "on_server_started", r.Fields, want)
}

func TestOnServerExited(t *testing.T) {
	e := newHooksEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	e.hooks.ServerExited(ctx) // synchronous
	reqs := e.srv.requests(OnServerExited)
	if len(reqs) != 1 {
		t.Fatalf("%d on_server_exited requests when ServerExited returned", len(reqs))
	}
	checkKeys(t, "on_server_exited", reqs[0].Fields, "mediaServerId", "hook_index")

	// Bounded by ctx when the hook server hangs.
	hung := newHookServer(t, hangReply)
	e.box.update(func(s *Settings) { s.URLs[OnServerExited] = hung.url(OnServerExited); s.Timeout = time.Minute })
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	start := time.Now()
	e.hooks.ServerExited(ctx2)
	// Bounded by the 100ms context, not the minute of Timeout; the 10 s
	// only tells the two apart, a slow machine may take its time.
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("ServerExited took %v with a 100ms context", d)
	}
}

func TestKeepalive(t *testing.T) {
	e := newHooksEnv(t, nil)
	var beats atomic.Int64
	statistic := func() map[string]any {
		n := beats.Add(1)
		return map[string]any{"MediaSource": n, "TcpSession": 3, "Buffer": 12}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		e.hooks.Keepalive(ctx, func() time.Duration { return 50 * time.Millisecond }, statistic)
	}()
	reqs := e.srv.wait(t, OnServerKeepalive, 4)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Keepalive did not return when its context ended")
	}
	// statistic runs on Keepalive's goroutine, which has returned, and
	// goleak (TestMain) fails the package if Keepalive left another
	// behind: the count now is final, no wait can change it.
	final := beats.Load()
	// The first beat comes after one interval, then one per interval.
	if d := reqs[0].At.Sub(start); d < 40*time.Millisecond {
		t.Errorf("first keepalive after %v, want about 50ms", d)
	}
	// At least 3 intervals; the upper bound (8 times that) only catches
	// beats at the 500ms re-read or the 10 s default instead of the 50ms
	// interval.
	if d := reqs[3].At.Sub(reqs[0].At); d < 140*time.Millisecond || d > 1200*time.Millisecond {
		t.Errorf("3 intervals took %v, want about 150ms", d)
	}
	// Notifications go through the queue's workers, so their order may
	// change; each beat's statistic is sent once.
	seen := map[int64]bool{}
	for _, r := range reqs[:4] {
		checkKeys(t, "on_server_keepalive", r.Fields, "data", "mediaServerId", "hook_index")
		var data map[string]json.RawMessage
		if err := json.Unmarshal(r.Fields["data"], &data); err != nil {
			t.Fatalf("data %s: %v", r.Fields["data"], err)
		}
		checkFields(t, "data", data, map[string]string{"TcpSession": `3`, "Buffer": `12`})
		var n int64
		if err := json.Unmarshal(data["MediaSource"], &n); err != nil || n < 1 || seen[n] {
			t.Errorf("data.MediaSource %s: want a new beat's count", data["MediaSource"])
		}
		seen[n] = true
	}
	if beats.Load() != final {
		t.Errorf("statistic called after Keepalive returned")
	}
}

// A hook server that hangs on one on_publish must not delay another.
func TestOnPublishConcurrent(t *testing.T) {
	e := newHooksEnv(t, func(s *hookServer, r request, w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(r.str("stream"), "A") || r.Name == OnStreamChanged {
			s.hang(req)
			return
		}
		writeJSON(w, `{"code":0,"stream_replace":"B_renamed"}`)
	})
	e.box.update(func(s *Settings) { s.Timeout = time.Minute })

	// More hung calls than idle connections per host, with the
	// notification workers stuck too.
	const hung = 12
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	errsA := make(chan error, hung)
	for i := 0; i < hung; i++ {
		key := engine.NewKey("", "live", fmt.Sprintf("A%d", i))
		go func() {
			_, err := e.hooks.AuthorizePublish(ctxA, key, testPusher)
			errsA <- err
		}()
	}
	// Events of one stream share a worker: streams enough to reach
	// every worker, twice.
	hit := map[chan job]int{}
	for i := 0; len(hit) < workers || func() bool {
		for _, n := range hit {
			if n < 2 {
				return true
			}
		}
		return false
	}(); i++ {
		info := testStream(time.Now())
		info.Key = engine.NewKey(info.Key.Vhost, info.Key.App, fmt.Sprint("C", i))
		hit[e.client.queueFor(map[string]any{"vhost": info.Key.Vhost, "app": info.Key.App, "stream": info.Key.Stream})]++
		e.hooks.StreamReady(info)
	}
	e.srv.wait(t, OnPublish, hung)
	e.srv.wait(t, OnStreamChanged, workers)

	start := time.Now()
	opts, err := e.hooks.AuthorizePublish(context.Background(), engine.NewKey("", "live", "B"), testPusher)
	d := time.Since(start)
	if err != nil {
		t.Fatalf("AuthorizePublish B: %v", err)
	}
	if opts.StreamReplace != "B_renamed" {
		t.Errorf("B options %+v", opts)
	}
	// Held behind A, B would wait out A's minute of Timeout; the 10 s
	// tell that apart from a slow machine.
	if d > 10*time.Second {
		t.Errorf("B took %v while A was blocked", d)
	}
	if len(errsA) != 0 {
		t.Fatalf("an A call returned before B: %v", <-errsA)
	}

	cancelA()
	for i := 0; i < hung; i++ {
		select {
		case err := <-errsA:
			if !errors.Is(err, engine.ErrDenied) {
				t.Errorf("A after cancel: %v, want engine.ErrDenied", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("A did not return after its context ended")
		}
	}
	// Abandon the hung notifications.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	e.client.Close(ctx)
}

func TestKeepaliveIntervalChange(t *testing.T) {
	e := newHooksEnv(t, nil)
	var interval atomic.Int64
	interval.Store(int64(time.Hour))
	var reads, beats atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.hooks.Keepalive(ctx, func() time.Duration { reads.Add(1); return time.Duration(interval.Load()) },
			func() map[string]any { beats.Add(1); return map[string]any{} })
	}()
	defer func() {
		cancel()
		<-done
	}()
	// Keepalive reads the interval, then beats or waits, then reads it
	// again: a third read proves it went round twice with the hour and
	// did not beat. statistic runs before the beat is queued, so a beat
	// would be counted by then.
	testutil.Eventually(t, 10*time.Second, "Keepalive to read its interval 3 times", func() bool { return reads.Load() >= 3 })
	if n := beats.Load(); n != 0 {
		t.Fatalf("%d keepalives with a one-hour interval", n)
	}
	// A shorter interval applies without waiting for the old one: it is
	// read again within 500ms. Waiting out the hour would fail the wait.
	interval.Store(int64(50 * time.Millisecond))
	e.srv.wait(t, OnServerKeepalive, 1)
}
