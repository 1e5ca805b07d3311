package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/access"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/session"
)

// testSecret is the api.secret of most tests; it must never reach a log.
const testSecret = "t0p-s3cret-4a9f-e1b7"

// ---- fakes for Deps ----

type fakeEngine struct {
	mu      sync.Mutex
	streams []engine.StreamInfo
	closed  []engine.Key
	err     error
	// eachErr, when set, is what EachStream returns after eachErrAfter
	// streams; with eachPanic it panics with it instead.
	eachErr      error
	eachErrAfter int
	eachPanic    bool
}

func (f *fakeEngine) Streams(ctx context.Context) ([]engine.StreamInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return append([]engine.StreamInfo(nil), f.streams...), nil
}

func (f *fakeEngine) EachStream(ctx context.Context, fn func(*engine.StreamInfo) error) error {
	list, err := f.Streams(ctx)
	if err != nil {
		return err
	}
	f.mu.Lock()
	eachErr, after, panics := f.eachErr, f.eachErrAfter, f.eachPanic
	f.mu.Unlock()
	// As the engine's: one StreamInfo refilled for every stream. Its
	// slices are scribbled over after each call, so that code keeping
	// what it was lent shows wrong streams.
	var info engine.StreamInfo
	for i := range list {
		if eachErr != nil && i == after {
			if panics {
				panic(eachErr)
			}
			return eachErr
		}
		info = list[i]
		info.Readers = append(info.Readers[:0:0], list[i].Readers...)
		info.Sinks = append(info.Sinks[:0:0], list[i].Sinks...)
		info.Drops = append(info.Drops[:0:0], list[i].Drops...)
		if err := fn(&info); err != nil {
			return err
		}
		for j := range info.Readers {
			info.Readers[j] = engine.ReaderInfo{SessionInfo: engine.SessionInfo{ID: "scribbled", Protocol: "scribbled"}}
		}
		for j := range info.Sinks {
			info.Sinks[j] = "scribbled"
		}
		for j := range info.Drops {
			info.Drops[j] = engine.TrackDrop{Output: "scribbled"}
		}
	}
	return nil
}

func (f *fakeEngine) Stream(ctx context.Context, key engine.Key) (engine.StreamInfo, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return engine.StreamInfo{}, false, f.err
	}
	for _, s := range f.streams {
		if s.Key == key {
			return s, s.State == engine.StateLive || s.State == engine.StateGrace, nil
		}
	}
	return engine.StreamInfo{}, false, nil
}

func (f *fakeEngine) CloseStream(ctx context.Context, key engine.Key, reason string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
	}
	f.closed = append(f.closed, key)
	return true, nil
}

func (f *fakeEngine) closedKeys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.closed))
	for i, k := range f.closed {
		out[i] = k.String()
	}
	sort.Strings(out)
	return out
}

type fakeSessions struct {
	mu     sync.Mutex
	list   []session.Info
	kicked []string
}

func (f *fakeSessions) List() []session.Info {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]session.Info(nil), f.list...)
}

func (f *fakeSessions) Kick(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.list {
		if s.ID == id {
			f.kicked = append(f.kicked, id)
			return true
		}
	}
	return false
}

func (f *fakeSessions) KickMatching(match func(session.Info) bool) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.list {
		if match(s) {
			f.kicked = append(f.kicked, s.ID)
			n++
		}
	}
	return n
}

func (f *fakeSessions) kickedIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append([]string(nil), f.kicked...)
	sort.Strings(out)
	return out
}

// fakeConfig behaves as ZLMediaKit's setServerConfig: unknown keys are
// skipped, unchanged values do not count; a key "bad.key" fails.
type fakeConfig struct {
	mu     sync.Mutex
	values map[string]string
	calls  []map[string]string
}

func (f *fakeConfig) ServerConfig() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]string, len(f.values))
	for k, v := range f.values {
		out[k] = v
	}
	return out
}

func (f *fakeConfig) SetServerConfig(values map[string]string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, values)
	if v, ok := values["bad.key"]; ok {
		return 0, fmt.Errorf("bad.key: invalid value %q", v)
	}
	if _, ok := values["api.error"]; ok {
		return 0, &Error{Code: CodeOtherFailed, Msg: "persist failed"}
	}
	changed := 0
	for k, v := range values {
		old, known := f.values[k]
		if !known || old == v {
			continue
		}
		f.values[k] = v
		changed++
	}
	return changed, nil
}

func (f *fakeConfig) secret() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.values["api.secret"]
}

func (f *fakeConfig) lastCall() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return nil
	}
	return f.calls[len(f.calls)-1]
}

// ---- fixture ----

var (
	keyTest     = engine.NewKey("", "live", "test")
	keyGrace    = engine.NewKey("", "live", "grace")
	keyNotReady = engine.NewKey("", "live", "notready")
)

type fixture struct {
	eng      *fakeEngine
	sessions *fakeSessions
	config   *fakeConfig
	srv      *Server
	logs     *syncBuffer
	created  time.Time
	video    *media.Track
	audio    *media.Track
}

// syncBuffer is a bytes.Buffer safe for the slog handler and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func tcpAddr(s string) net.Addr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		panic(err)
	}
	return a
}

// newFixture builds a server over fakes. Streams (sorted as the engine
// returns them): live/grace (ready, publisher gone, no readers),
// live/notready (live, tracks unknown), live/test (live RTMP push with
// H.264 + AAC and three readers: rtmp, http-flv and hls).
func newFixture(t *testing.T) *fixture {
	t.Helper()
	fx := &fixture{logs: &syncBuffer{}}
	fx.created = time.Now().Add(-10 * time.Second)
	fx.video = &media.Track{Codec: media.CodecH264, Width: 1280, Height: 720, FPS: 25}
	fx.audio = &media.Track{Codec: media.CodecAAC, SampleRate: 44100, Channels: 2}
	test := engine.StreamInfo{
		Key:    keyTest,
		State:  engine.StateLive,
		Ready:  true,
		Tracks: []*media.Track{fx.video, fx.audio},
		Publisher: &engine.SessionInfo{
			ID: "rtmp-1", Protocol: "rtmp", Remote: "10.0.0.9:5555", Local: "10.0.0.2:1935", Params: "token=1",
		},
		Readers: []engine.ReaderInfo{
			{SessionInfo: engine.SessionInfo{ID: "rtmp-2", Protocol: "rtmp", Remote: "10.0.0.20:40000", Local: "10.0.0.2:1935"}, Since: time.Now()},
			{SessionInfo: engine.SessionInfo{ID: "http-3", Protocol: "http-flv", Remote: "10.0.0.21:40001", Local: "10.0.0.2:8080"}, Since: time.Now()},
			{SessionInfo: engine.SessionInfo{ID: "hls-4", Protocol: "hls", Remote: "10.0.0.22:40002", Local: "10.0.0.2:8080"}, Since: time.Now()},
		},
		CreatedAt: fx.created,
		BytesIn:   1_000_000,
		TrackStats: map[*media.Track]engine.TrackStats{
			fx.video: {Frames: 250, KeyFrames: 5, GOPSize: 50, GOPInterval: 2 * time.Second, Duration: 10 * time.Second},
			fx.audio: {Frames: 430, Duration: 9980 * time.Millisecond},
		},
	}
	graceVideo := &media.Track{Codec: media.CodecH265, Width: 640, Height: 480}
	grace := engine.StreamInfo{
		Key: keyGrace, State: engine.StateGrace, Ready: true,
		Tracks:    []*media.Track{graceVideo},
		CreatedAt: fx.created,
		BytesIn:   5000,
		TrackStats: map[*media.Track]engine.TrackStats{
			graceVideo: {Frames: 30, KeyFrames: 3, GOPSize: 10, GOPInterval: 400 * time.Millisecond},
		},
	}
	notReady := engine.StreamInfo{
		Key: keyNotReady, State: engine.StateLive, Ready: false,
		Publisher: &engine.SessionInfo{ID: "rtmp-9", Protocol: "rtmp", Remote: "10.0.0.30:1", Local: "10.0.0.2:1935"},
		CreatedAt: fx.created,
	}
	fx.eng = &fakeEngine{streams: []engine.StreamInfo{grace, notReady, test}}
	fx.sessions = &fakeSessions{list: []session.Info{
		{ID: "rtmp-1", Protocol: "rtmp", Local: tcpAddr("10.0.0.2:1935"), Remote: tcpAddr("10.0.0.9:5555")},
		{ID: "rtmp-2", Protocol: "rtmp", Local: tcpAddr("10.0.0.2:1935"), Remote: tcpAddr("10.0.0.20:40000")},
		{ID: "http-3", Protocol: "http-flv", Local: tcpAddr("10.0.0.2:8080"), Remote: tcpAddr("10.0.0.21:40001")},
	}}
	fx.config = &fakeConfig{values: map[string]string{
		"api.secret":            testSecret,
		"general.mediaServerId": "mediakit-1",
		"general.enableVhost":   "0",
		"rtmp.port":             "1935",
		"hls.segDur":            "2",
		"hook.enable":           "1",
	}}
	log := slog.New(slog.NewTextHandler(fx.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fx.srv = NewServer(fx.config.secret, log, nil)
	// httptest requests carry "Host: example.com"; ui.example plays a
	// console page the operator allowed.
	policy, err := access.NewPolicy(access.Settings{AllowHost: "example.com", AllowOrigin: "http://ui.example"})
	if err != nil {
		t.Fatal(err)
	}
	fx.srv.Access = func() *access.Policy { return policy }
	fx.srv.RegisterZLM(Deps{
		Engine:   fx.eng,
		Sessions: fx.sessions,
		Config:   fx.config,
		Version:  VersionInfo{BranchName: "main", BuildTime: "2025-01-02T03:04:05", CommitHash: "abc1234"},
		Statistic: func() map[string]any {
			return map[string]any{"MediaSource": 3, "TcpSession": 4, "Buffer": int64(12)}
		},
	})
	return fx
}

// ---- requests ----

// style is one of the three ways ZLMediaKit's API takes parameters.
type style int

const (
	styleQuery style = iota // GET with a query string
	styleForm               // POST application/x-www-form-urlencoded
	styleJSON               // POST application/json
)

var allStyles = []style{styleQuery, styleForm, styleJSON}

func (s style) String() string {
	return [...]string{"query", "form", "json"}[s]
}

// textValue renders a parameter for a query or a form. Booleans are 1/0
// in queries and true/false in forms, so both spellings are exercised.
func textValue(st style, v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if st == styleQuery {
			if x {
				return "1"
			}
			return "0"
		}
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	panic(fmt.Sprintf("textValue: %T", v))
}

// newRequest builds a call of name with params in style st. A nil value
// is a JSON null, and left out of queries and forms.
func newRequest(st style, name string, params map[string]any) *http.Request {
	target := Prefix + name
	var r *http.Request
	switch st {
	case styleQuery, styleForm:
		v := url.Values{}
		for k, x := range params {
			if x != nil {
				v.Set(k, textValue(st, x))
			}
		}
		if st == styleQuery {
			if len(v) > 0 {
				target += "?" + v.Encode()
			}
			r = httptest.NewRequest(http.MethodGet, target, nil)
		} else {
			r = httptest.NewRequest(http.MethodPost, target, strings.NewReader(v.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	case styleJSON:
		if params == nil {
			params = map[string]any{}
		}
		body, err := json.Marshal(params)
		if err != nil {
			panic(err)
		}
		r = httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

// withSecret returns params plus the test secret.
func withSecret(params map[string]any) map[string]any {
	out := map[string]any{"secret": testSecret}
	for k, v := range params {
		out[k] = v
	}
	return out
}

// do runs r and decodes the reply, numbers kept as json.Number.
func do(t *testing.T, h http.Handler, r *http.Request) (int, map[string]any) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q, body %q", r.Method, r.URL, ct, w.Body.String())
	}
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s %s: reply is not a JSON object: %v: %q", r.Method, r.URL, err, w.Body.String())
	}
	return w.Code, m
}

// call runs name in style st with the test secret and expects HTTP 200.
func (fx *fixture) call(t *testing.T, st style, name string, params map[string]any) map[string]any {
	t.Helper()
	status, m := do(t, fx.srv, newRequest(st, name, withSecret(params)))
	if status != http.StatusOK {
		t.Fatalf("%s: HTTP %d, want 200: %v", name, status, m)
	}
	return m
}

// ---- typed access to decoded JSON ----

func field(t *testing.T, m map[string]any, key string) any {
	t.Helper()
	v, ok := m[key]
	if !ok {
		t.Fatalf("field %q missing in %v", key, m)
	}
	return v
}

// jInt asserts m[key] is a JSON integer.
func jInt(t *testing.T, m map[string]any, key string) int64 {
	t.Helper()
	n, ok := field(t, m, key).(json.Number)
	if !ok {
		t.Fatalf("field %q = %#v, want a JSON number", key, m[key])
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("field %q = %s, want an integer", key, n)
	}
	return i
}

// jNum asserts m[key] is a JSON number (integer or not).
func jNum(t *testing.T, m map[string]any, key string) float64 {
	t.Helper()
	n, ok := field(t, m, key).(json.Number)
	if !ok {
		t.Fatalf("field %q = %#v, want a JSON number", key, m[key])
	}
	f, err := n.Float64()
	if err != nil {
		t.Fatalf("field %q = %s: %v", key, n, err)
	}
	return f
}

func jStr(t *testing.T, m map[string]any, key string) string {
	t.Helper()
	s, ok := field(t, m, key).(string)
	if !ok {
		t.Fatalf("field %q = %#v, want a JSON string", key, m[key])
	}
	return s
}

func jBool(t *testing.T, m map[string]any, key string) bool {
	t.Helper()
	b, ok := field(t, m, key).(bool)
	if !ok {
		t.Fatalf("field %q = %#v, want a JSON boolean", key, m[key])
	}
	return b
}

func jObj(t *testing.T, m map[string]any, key string) map[string]any {
	t.Helper()
	o, ok := field(t, m, key).(map[string]any)
	if !ok {
		t.Fatalf("field %q = %#v, want a JSON object", key, m[key])
	}
	return o
}

func jArr(t *testing.T, m map[string]any, key string) []any {
	t.Helper()
	a, ok := field(t, m, key).([]any)
	if !ok {
		t.Fatalf("field %q = %#v, want a JSON array", key, m[key])
	}
	return a
}

// jObjects asserts m[key] is an array of objects.
func jObjects(t *testing.T, m map[string]any, key string) []map[string]any {
	t.Helper()
	arr := jArr(t, m, key)
	out := make([]map[string]any, len(arr))
	for i, x := range arr {
		o, ok := x.(map[string]any)
		if !ok {
			t.Fatalf("%s[%d] = %#v, want an object", key, i, x)
		}
		out[i] = o
	}
	return out
}

// wantCode checks code and, for failures, msg.
func wantCode(t *testing.T, m map[string]any, code Code, msg string) {
	t.Helper()
	if got := jInt(t, m, "code"); got != int64(code) {
		t.Fatalf("code = %d, want %d (reply %v)", got, code, m)
	}
	if msg != "" {
		if got := jStr(t, m, "msg"); got != msg {
			t.Fatalf("msg = %q, want %q", got, msg)
		}
	}
}

// wantKeys checks that m has exactly keys.
func wantKeys(t *testing.T, m map[string]any, keys ...string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	want := append([]string(nil), keys...)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("keys = %v, want %v", got, want)
	}
}

var errEngine = errors.New("engine stopped")

func newRecorder(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
