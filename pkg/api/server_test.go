package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// ---- authentication ----

func TestAuthNoSecretLoopbackOnly(t *testing.T) {
	for _, st := range allStyles {
		t.Run(st.String(), func(t *testing.T) {
			fx := newFixture(t)
			fx.config.values["api.secret"] = ""
			for _, c := range []struct {
				remote string
				params map[string]any
				want   Code
			}{
				{"10.1.2.3:4444", nil, CodeAuthFailed},
				{"10.1.2.3:4444", map[string]any{"secret": "anything"}, CodeAuthFailed},
				{"192.168.1.5:80", nil, CodeAuthFailed},
				{"[2001:db8::1]:4444", nil, CodeAuthFailed},
				{"garbage", nil, CodeAuthFailed},
				{"", nil, CodeAuthFailed},
				{"127.0.0.1:5555", nil, CodeSuccess},
				{"127.8.9.10:5555", nil, CodeSuccess},
				{"[::1]:5555", nil, CodeSuccess},
				{"[::ffff:127.0.0.1]:5555", nil, CodeSuccess},
				{"127.0.0.1:5555", map[string]any{"secret": "whatever"}, CodeSuccess},
			} {
				r := newRequest(st, "getServerConfig", c.params)
				r.RemoteAddr = c.remote
				status, m := do(t, fx.srv, r)
				if status != http.StatusOK {
					t.Errorf("%s: HTTP %d", c.remote, status)
				}
				if got := jInt(t, m, "code"); got != int64(c.want) {
					t.Errorf("%s: code %d, want %d (%v)", c.remote, got, c.want, m)
				}
				if c.want == CodeAuthFailed {
					if msg := jStr(t, m, "msg"); !strings.HasPrefix(msg, "Your ip is not allowed to access the service") {
						t.Errorf("%s: msg %q", c.remote, msg)
					}
					if _, ok := m["data"]; ok {
						t.Errorf("%s: refused call leaks data: %v", c.remote, m)
					}
				}
			}
		})
	}
}

func TestAuthSecret(t *testing.T) {
	type tc struct {
		name   string
		params map[string]any
		header string
		want   Code
		msg    string
	}
	cases := []tc{
		{"missing", nil, "", CodeInvalidArgs, `Required parameter missed: "secret"`},
		{"empty", map[string]any{"secret": ""}, "", CodeInvalidArgs, `Required parameter missed: "secret"`},
		{"null", map[string]any{"secret": nil}, "", CodeInvalidArgs, `Required parameter missed: "secret"`},
		{"wrong", map[string]any{"secret": "wrong-secret-value"}, "", CodeAuthFailed, "Incorrect secret"},
		{"prefix", map[string]any{"secret": testSecret[:5]}, "", CodeAuthFailed, "Incorrect secret"},
		{"longer", map[string]any{"secret": testSecret + "x"}, "", CodeAuthFailed, "Incorrect secret"},
		{"right", map[string]any{"secret": testSecret}, "", CodeSuccess, ""},
		{"name case", map[string]any{"SeCrEt": testSecret}, "", CodeSuccess, ""},
		{"header", nil, testSecret, CodeSuccess, ""},
		{"header wrong", nil, "wrong-secret-value", CodeAuthFailed, "Incorrect secret"},
		{"empty param, header", map[string]any{"secret": ""}, testSecret, CodeSuccess, ""},
		// A parameter wins over the header, as in ZLMediaKit.
		{"param wrong, header right", map[string]any{"secret": "wrong-secret-value"}, testSecret, CodeAuthFailed, "Incorrect secret"},
	}
	for _, st := range allStyles {
		for _, c := range cases {
			t.Run(st.String()+"/"+c.name, func(t *testing.T) {
				fx := newFixture(t)
				r := newRequest(st, "getMediaList", c.params)
				r.RemoteAddr = "127.0.0.1:3333" // loopback is not exempt once a secret is set
				if c.header != "" {
					r.Header.Set("secret", c.header)
				}
				status, m := do(t, fx.srv, r)
				if status != http.StatusOK {
					t.Errorf("HTTP %d", status)
				}
				wantCode(t, m, c.want, c.msg)
				if c.want != CodeSuccess {
					wantKeys(t, m, "code", "msg")
				}
			})
		}
	}
}

// A numeric secret sent as a JSON number is accepted.
func TestAuthSecretJSONNumber(t *testing.T) {
	fx := newFixture(t)
	fx.config.values["api.secret"] = "12345"
	r := httptest.NewRequest(http.MethodPost, Prefix+"version", strings.NewReader(`{"secret":12345}`))
	r.Header.Set("Content-Type", "application/json")
	_, m := do(t, fx.srv, r)
	wantCode(t, m, CodeSuccess, "")
}

// setServerConfig may change api.secret; it applies at the next call.
func TestAuthSecretChange(t *testing.T) {
	fx := newFixture(t)
	const next = "n3w-s3cret-77"
	m := fx.call(t, styleForm, "setServerConfig", map[string]any{"api.secret": next})
	if jInt(t, m, "changed") != 1 {
		t.Fatalf("changed = %v", m["changed"])
	}
	_, m = do(t, fx.srv, newRequest(styleQuery, "version", map[string]any{"secret": testSecret}))
	wantCode(t, m, CodeAuthFailed, "Incorrect secret")
	_, m = do(t, fx.srv, newRequest(styleQuery, "version", map[string]any{"secret": next}))
	wantCode(t, m, CodeSuccess, "")
}

// The secret, right or wrong, never reaches the log, whatever happens to
// the call.
func TestSecretNeverLogged(t *testing.T) {
	fx := newFixture(t)
	const wrong = "wr0ng-s3cret-c0ffee"
	fx.srv.Handle("boom", func(ctx context.Context, p *Params) (Reply, error) { panic("handler exploded") })
	fx.srv.Handle("fail", func(ctx context.Context, p *Params) (Reply, error) { return nil, errors.New("plain failure") })
	fx.srv.Handle("nan", func(ctx context.Context, p *Params) (Reply, error) { return Reply{"x": math.NaN()}, nil })
	var reqs []*http.Request
	for _, st := range allStyles {
		for _, secret := range []string{testSecret, wrong} {
			for _, api := range []string{"getMediaList", "getMediaInfo", "close_stream", "kick_session",
				"setServerConfig", "boom", "fail", "nan", "noSuchApi"} {
				reqs = append(reqs, newRequest(st, api, map[string]any{"secret": secret, "schema": "rtmp"}))
			}
		}
	}
	for _, secret := range []string{testSecret, wrong} {
		r := httptest.NewRequest(http.MethodPost, Prefix+"getMediaList", strings.NewReader(`{"secret":"`+secret+`", broken`))
		r.Header.Set("Content-Type", "application/json")
		reqs = append(reqs, r)
		r = httptest.NewRequest(http.MethodPost, Prefix+"getMediaList", strings.NewReader("secret="+secret+"&x=%zz"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		reqs = append(reqs, r)
		r = httptest.NewRequest(http.MethodPost, Prefix+"getMediaList", strings.NewReader("secret="+secret))
		r.Header.Set("Content-Type", "text/xml")
		reqs = append(reqs, r)
		r = httptest.NewRequest(http.MethodGet, Prefix+"getMediaList", nil)
		r.Header.Set("secret", secret)
		reqs = append(reqs, r)
	}
	for _, r := range reqs {
		newRecorder(fx.srv, r)
	}
	// And with no secret configured, refused remote clients sending one.
	fx.config.values["api.secret"] = ""
	r := newRequest(styleQuery, "getMediaList", map[string]any{"secret": testSecret})
	r.RemoteAddr = "10.1.2.3:4444"
	newRecorder(fx.srv, r)

	logs := fx.logs.String()
	if !strings.Contains(logs, "api call") || !strings.Contains(logs, "panicked") {
		t.Fatalf("log capture failed: %q", logs)
	}
	for _, s := range []string{testSecret, wrong} {
		if strings.Contains(logs, s) {
			t.Errorf("secret %q in log:\n%s", s, logs)
		}
	}
}

// ---- parameter edge cases ----

func TestQueryOverridesBody(t *testing.T) {
	for _, c := range []struct{ name, ctype, body, query string }{
		{"form", "application/x-www-form-urlencoded", "stream=nope&secret=bad", "stream=test&secret=" + testSecret},
		{"json", "application/json", `{"stream":"nope","secret":"bad"}`, "stream=test&secret=" + testSecret},
		{"case-insensitive form", "application/x-www-form-urlencoded", "stream=nope&SECRET=bad", "Stream=test&secret=" + testSecret},
		{"case-insensitive json", "application/json", `{"STREAM":"nope","Secret":"bad"}`, "stream=test&sEcReT=" + testSecret},
	} {
		t.Run(c.name, func(t *testing.T) {
			fx := newFixture(t)
			r := httptest.NewRequest(http.MethodPost, Prefix+"isMediaOnline?schema=rtmp&vhost=__defaultVhost__&app=live&"+c.query,
				strings.NewReader(c.body))
			r.Header.Set("Content-Type", c.ctype)
			_, m := do(t, fx.srv, r)
			wantCode(t, m, CodeSuccess, "")
			if !jBool(t, m, "online") {
				t.Errorf("online = false: the body's stream won")
			}
		})
	}
}

func TestParamNamesCaseInsensitive(t *testing.T) {
	for _, st := range allStyles {
		t.Run(st.String(), func(t *testing.T) {
			fx := newFixture(t)
			m := fx.call(t, st, "isMediaOnline", map[string]any{
				"SCHEMA": "rtmp", "VHost": "__defaultVhost__", "App": "live", "sTrEaM": "test",
			})
			wantCode(t, m, CodeSuccess, "")
			if !jBool(t, m, "online") {
				t.Error("online = false")
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	fx := newFixture(t)
	prefix := "secret=" + testSecret + "&pad="
	// Exactly MaxBodySize is accepted.
	body := prefix + strings.Repeat("x", MaxBodySize-len(prefix))
	r := httptest.NewRequest(http.MethodPost, Prefix+"version", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, m := do(t, fx.srv, r)
	if status != http.StatusOK {
		t.Errorf("HTTP %d", status)
	}
	wantCode(t, m, CodeSuccess, "")
	// One more byte is an invalid-argument error, not a crash.
	for _, ctype := range []string{"application/x-www-form-urlencoded", "application/json", ""} {
		r = httptest.NewRequest(http.MethodPost, Prefix+"version?secret="+testSecret, strings.NewReader(body+"x"))
		r.Header.Set("Content-Type", ctype)
		status, m = do(t, fx.srv, r)
		if status != http.StatusOK {
			t.Errorf("%q: HTTP %d", ctype, status)
		}
		wantCode(t, m, CodeInvalidArgs, "")
		if msg := jStr(t, m, "msg"); !strings.Contains(msg, "larger than") {
			t.Errorf("%q: msg %q", ctype, msg)
		}
	}
	// A body cut off by http.MaxBytesHandler (as the server mounts the API).
	h := http.MaxBytesHandler(fx.srv, 100)
	r = httptest.NewRequest(http.MethodPost, Prefix+"version?secret="+testSecret, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, m = do(t, h, r)
	wantCode(t, m, CodeInvalidArgs, "")
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestBodyReadError(t *testing.T) {
	fx := newFixture(t)
	r := httptest.NewRequest(http.MethodPost, Prefix+"version?secret="+testSecret, errReader{})
	r.Header.Set("Content-Type", "application/json")
	_, m := do(t, fx.srv, r)
	wantCode(t, m, CodeInvalidArgs, "")
}

func TestBadBodies(t *testing.T) {
	for _, c := range []struct {
		name, ctype, body string
		want              Code
		msgHas            string
	}{
		{"invalid json", "application/json", `{"secret":`, CodeInvalidArgs, "JSON"},
		{"json array", "application/json", `["secret"]`, CodeInvalidArgs, "JSON"},
		{"json string", "application/json", `"secret"`, CodeInvalidArgs, "JSON"},
		{"json number", "application/json", `12`, CodeInvalidArgs, "JSON"},
		{"json bad string escape", "application/json", `{"a":"\x"}`, CodeInvalidArgs, "JSON"},
		{"json sniffed without content type", "", `{"a":`, CodeInvalidArgs, "JSON"},
		{"bad form escape", "application/x-www-form-urlencoded", "a=%zz", CodeInvalidArgs, "form"},
		{"xml", "text/xml", "<secret/>", CodeInvalidArgs, "unsupported Content-Type"},
		{"multipart", "multipart/form-data; boundary=x", "--x--", CodeInvalidArgs, "unsupported Content-Type"},
		{"octet-stream", "application/octet-stream", "\x00\x01", CodeInvalidArgs, "unsupported Content-Type"},
		// Empty bodies are fine whatever their type.
		{"empty xml", "text/xml", "", CodeSuccess, ""},
		{"blank json", "application/json", " \r\n", CodeSuccess, ""},
		{"json null", "application/json", "null", CodeSuccess, ""},
		{"json with charset", "application/json; charset=utf-8", `{"x":1}`, CodeSuccess, ""},
		{"json upper case type", "Application/JSON", `{"x":1}`, CodeSuccess, ""},
		{"json as text/plain", "text/plain", `{"x":1}`, CodeSuccess, ""},
		{"form without type", "", "x=1", CodeSuccess, ""},
		{"json, nested and trailing", "application/json", `{"o":{"a":[1,{"b":null}]},"n":1e400} trailing`, CodeSuccess, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			fx := newFixture(t)
			r := httptest.NewRequest(http.MethodPost, Prefix+"getMediaList?secret="+testSecret, strings.NewReader(c.body))
			if c.ctype != "" {
				r.Header.Set("Content-Type", c.ctype)
			}
			status, m := do(t, fx.srv, r)
			if status != http.StatusOK {
				t.Errorf("HTTP %d", status)
			}
			wantCode(t, m, c.want, "")
			if c.msgHas != "" {
				if msg := jStr(t, m, "msg"); !strings.Contains(msg, c.msgHas) {
					t.Errorf("msg %q lacks %q", msg, c.msgHas)
				}
			}
		})
	}
}

func TestEndpointNameCaseInsensitive(t *testing.T) {
	fx := newFixture(t)
	for _, name := range []string{"getMediaList", "GETMEDIALIST", "getmedialist", "GetMediaList", "CLOSE_STREAMS"} {
		status, m := do(t, fx.srv, httptest.NewRequest(http.MethodGet, Prefix+name+"?secret="+testSecret, nil))
		if status != http.StatusOK {
			t.Errorf("%s: HTTP %d", name, status)
		}
		wantCode(t, m, CodeSuccess, "")
	}
}

func TestUnknownEndpoint(t *testing.T) {
	fx := newFixture(t)
	for _, c := range []struct{ method, target string }{
		{http.MethodGet, Prefix + "noSuchApi?secret=" + testSecret},
		{http.MethodPost, Prefix + "noSuchApi"},
		{http.MethodGet, Prefix + "getMediaList/"},
		{http.MethodGet, Prefix},
		{http.MethodGet, Prefix + "get%00MediaList"},
	} {
		status, m := do(t, fx.srv, httptest.NewRequest(c.method, c.target, nil))
		if status != http.StatusNotFound {
			t.Errorf("%s %s: HTTP %d, want 404", c.method, c.target, status)
		}
		wantCode(t, m, CodeNotFound, "")
		if msg := jStr(t, m, "msg"); !strings.HasPrefix(msg, "unknown api") {
			t.Errorf("msg %q", msg)
		}
	}
}

func TestOptionsPreflight(t *testing.T) {
	fx := newFixture(t)
	r := httptest.NewRequest(http.MethodOptions, Prefix+"getMediaList", nil)
	r.Header.Set("Origin", "http://ui.example")
	r.Header.Set("Access-Control-Request-Method", "POST")
	r.Header.Set("Access-Control-Request-Headers", "content-type,secret")
	w := newRecorder(fx.srv, r)
	if w.Code != http.StatusNoContent && w.Code != http.StatusOK {
		t.Errorf("HTTP %d", w.Code)
	}
	h := w.Header()
	if got := h.Get("Access-Control-Allow-Origin"); got != "http://ui.example" {
		t.Errorf("Allow-Origin %q", got)
	}
	if got := h.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "POST") || !strings.Contains(got, "GET") {
		t.Errorf("Allow-Methods %q", got)
	}
	allowed := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
	for _, want := range []string{"content-type", "secret"} {
		if !strings.Contains(allowed, want) {
			t.Errorf("Allow-Headers %q lacks %s", allowed, want)
		}
	}
	if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
		t.Errorf("Vary %q", h.Values("Vary"))
	}
	if w.Body.Len() != 0 {
		t.Errorf("preflight body %q", w.Body.String())
	}

	// Without an Origin, no CORS headers.
	w = newRecorder(fx.srv, httptest.NewRequest(http.MethodOptions, Prefix+"getMediaList", nil))
	if got := w.Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("Allow-Origin %q without Origin", got)
	}

	// A real call from a browser carries the CORS headers too.
	r = newRequest(styleQuery, "version", withSecret(nil))
	r.Header.Set("Origin", "http://ui.example")
	w = newRecorder(fx.srv, r)
	if got := w.Header().Get("Access-Control-Allow-Origin"); got != "http://ui.example" {
		t.Errorf("call: Allow-Origin %q", got)
	}
}

func TestReplyHeaders(t *testing.T) {
	fx := newFixture(t)
	w := newRecorder(fx.srv, newRequest(styleQuery, "version", withSecret(nil)))
	if got := w.Header().Get("Content-Type"); got != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	if got := w.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q", got)
	}
}

func TestHandlerFailures(t *testing.T) {
	fx := newFixture(t)
	fx.srv.Handle("boom", func(ctx context.Context, p *Params) (Reply, error) { panic("kaboom") })
	fx.srv.Handle("boomErr", func(ctx context.Context, p *Params) (Reply, error) { panic(fmt.Errorf("wrapped")) })
	fx.srv.Handle("nilmap", func(ctx context.Context, p *Params) (Reply, error) {
		var m map[string]int
		m["x"] = 1
		return nil, nil
	})
	fx.srv.Handle("plain", func(ctx context.Context, p *Params) (Reply, error) { return nil, errors.New("disk full") })
	fx.srv.Handle("wrapped", func(ctx context.Context, p *Params) (Reply, error) {
		return nil, fmt.Errorf("context: %w", Errorf(CodeNotFound, "gone %d", 7))
	})
	fx.srv.Handle("nan", func(ctx context.Context, p *Params) (Reply, error) { return Reply{"x": math.Inf(1)}, nil })
	fx.srv.Handle("nilReply", func(ctx context.Context, p *Params) (Reply, error) { return nil, nil })
	fx.srv.Handle("msgReply", func(ctx context.Context, p *Params) (Reply, error) { return Reply{"msg": "hello"}, nil })
	for _, c := range []struct {
		api  string
		code Code
		msg  string
	}{
		{"boom", CodeException, "internal error: kaboom"},
		{"boomErr", CodeException, "internal error: wrapped"},
		{"nilmap", CodeException, ""},
		{"plain", CodeException, "disk full"},
		{"wrapped", CodeNotFound, "gone 7"},
		{"nan", CodeException, ""},
		{"nilReply", CodeSuccess, ""},
		{"msgReply", CodeSuccess, "hello"},
	} {
		status, m := do(t, fx.srv, newRequest(styleQuery, c.api, withSecret(nil)))
		if status != http.StatusOK {
			t.Errorf("%s: HTTP %d", c.api, status)
		}
		wantCode(t, m, c.code, c.msg)
		if c.code != CodeSuccess {
			if _, ok := m["msg"]; !ok {
				t.Errorf("%s: failure without msg", c.api)
			}
		} else if c.msg == "" {
			wantKeys(t, m, "code")
		}
	}
}

type fakeMetrics struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeMetrics) ObserveAPI(name string, code int, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("%s:%d", name, code))
}

func TestMetrics(t *testing.T) {
	fx := newFixture(t)
	met := &fakeMetrics{}
	fx.srv.Metrics = met
	newRecorder(fx.srv, newRequest(styleQuery, "GETMEDIALIST", withSecret(nil)))
	newRecorder(fx.srv, newRequest(styleQuery, "version", nil))
	newRecorder(fx.srv, newRequest(styleQuery, "random-name-1", nil))
	newRecorder(fx.srv, newRequest(styleQuery, "random-name-2", nil))
	want := []string{"getMediaList:0", "version:-300", "unknown:-500", "unknown:-500"}
	if strings.Join(met.calls, " ") != strings.Join(want, " ") {
		t.Errorf("metrics %v, want %v", met.calls, want)
	}
}

func TestNilLoggerAndSecretFunc(t *testing.T) {
	s := NewServer(nil, nil, nil)
	s.Handle("ping", func(ctx context.Context, p *Params) (Reply, error) { return Reply{"pong": true}, nil })
	r := httptest.NewRequest(http.MethodGet, Prefix+"ping", nil)
	r.RemoteAddr = "127.0.0.1:1"
	r.Host = "127.0.0.1:8080"
	_, m := do(t, s, r)
	wantCode(t, m, CodeSuccess, "")
	if !jBool(t, m, "pong") {
		t.Error("pong")
	}
}

// Concurrent calls (run with -race) share the speed meter and handlers.
func TestConcurrentCalls(t *testing.T) {
	fx := newFixture(t)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := allStyles[i%3]
			for _, api := range []string{"getMediaList", "getMediaInfo", "getAllSession", "close_streams", "getServerConfig"} {
				w := newRecorder(fx.srv, newRequest(st, api, withSecret(testStream)))
				if w.Code != http.StatusOK {
					t.Errorf("%s: HTTP %d", api, w.Code)
				}
			}
		}()
	}
	wg.Wait()
}

// slog at Info (the server's default level) logs failed calls only.
func TestLogLevels(t *testing.T) {
	var buf syncBuffer
	fx := newFixture(t)
	fx.srv.Log = slog.New(slog.NewTextHandler(&buf, nil))
	newRecorder(fx.srv, newRequest(styleQuery, "version", withSecret(nil)))
	if buf.String() != "" {
		t.Errorf("successful call logged at info: %q", buf.String())
	}
	newRecorder(fx.srv, newRequest(styleQuery, "version", nil))
	if !strings.Contains(buf.String(), "code=-300") {
		t.Errorf("failed call not logged: %q", buf.String())
	}
}
