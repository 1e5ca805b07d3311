package hook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

const testHook = "on_test"

func hookIndex(t *testing.T, r request) uint64 {
	t.Helper()
	raw := r.Fields["hook_index"]
	if !isUint(raw) {
		t.Fatalf("hook_index = %s, want an unsigned integer", raw)
	}
	var n uint64
	if err := json.Unmarshal(raw, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCallBody(t *testing.T) {
	srv := newHookServer(t, nil)
	box := &settingsBox{}
	box.set(fastSettings(map[string]string{testHook: srv.url(testHook)}))
	c := newTestClient(t, box, nil)

	body := map[string]any{"vhost": "__defaultVhost__", "app": "live", "n": 7, "mediaServerId": "spoofed"}
	for i := 0; i < 3; i++ {
		reply, err := c.Call(context.Background(), testHook, body)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if reply["msg"] != "success" {
			t.Errorf("reply = %v", reply)
		}
	}
	// The caller's map is not changed.
	if body["mediaServerId"] != "spoofed" || body["hook_index"] != nil || len(body) != 4 {
		t.Errorf("Call changed the caller's body: %v", body)
	}

	reqs := srv.requests(testHook)
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for i, r := range reqs {
		if r.Method != http.MethodPost {
			t.Errorf("method %s, want POST", r.Method)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q, want application/json", ct)
		}
		if v := r.Header.Get("X-VHOST"); v != "__defaultVhost__" {
			t.Errorf("X-VHOST %q, want __defaultVhost__", v)
		}
		checkFields(t, "body", r.Fields, map[string]string{
			"mediaServerId": `"your_server_id"`, // from the settings, not the body
			"vhost":         `"__defaultVhost__"`,
			"app":           `"live"`,
			"n":             `7`,
		})
		// ZLMediaKit: a process-wide counter starting at 0.
		if got := hookIndex(t, r); got != uint64(i) {
			t.Errorf("request %d: hook_index %d, want %d", i, got, i)
		}
	}
}

func TestCallNoVhostNoHeader(t *testing.T) {
	srv := newHookServer(t, nil)
	box := &settingsBox{}
	box.set(fastSettings(map[string]string{testHook: srv.url(testHook)}))
	c := newTestClient(t, box, nil)
	if _, err := c.Call(context.Background(), testHook, map[string]any{}); err != nil {
		t.Fatal(err)
	}
	r := srv.requests(testHook)[0]
	if _, ok := r.Header["X-Vhost"]; ok {
		t.Errorf("X-VHOST sent for a body without vhost")
	}
	checkKeys(t, "body", r.Fields, "mediaServerId", "hook_index")
}

func TestCallRetryAfterTimeout(t *testing.T) {
	var attempts atomic.Int32
	srv := newHookServer(t, func(s *hookServer, r request, w http.ResponseWriter, req *http.Request) {
		if attempts.Add(1) == 1 {
			s.hang(req)
			return
		}
		writeJSON(w, `{"code":0,"attempt":2}`)
	})
	m := &metricsRec{}
	box := &settingsBox{}
	s := fastSettings(map[string]string{testHook: srv.url(testHook)})
	s.Timeout = 100 * time.Millisecond
	s.Retry = 2
	s.RetryDelay = 150 * time.Millisecond
	box.set(s)
	c := newTestClient(t, box, m)

	start := time.Now()
	reply, err := c.Call(context.Background(), testHook, map[string]any{"k": "v"})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	if n, _ := reply["attempt"].(json.Number); n != "2" {
		t.Errorf("reply %v, want the second attempt's", reply)
	}
	reqs := srv.requests(testHook)
	if len(reqs) != 2 {
		t.Fatalf("%d attempts, want 2 (success on the first retry)", len(reqs))
	}
	// hook_index counts every request, retries included.
	if a, b := hookIndex(t, reqs[0]), hookIndex(t, reqs[1]); b != a+1 {
		t.Errorf("hook_index %d then %d, want consecutive", a, b)
	}
	for _, r := range reqs {
		if r.str("k") != "v" {
			t.Errorf("retry lost the body: %s", r.Raw)
		}
	}
	// Timeout (100 ms) + RetryDelay (150 ms) before the second attempt,
	// counted from the call's start: the first request's arrival at the
	// server can lag its sending on a busy machine, so the gap between
	// the two arrivals can be shorter. The upper bounds only catch a
	// delay or timeout not applied (taken as seconds, or the defaults),
	// not a slow machine.
	if gap := reqs[1].At.Sub(start); gap < 250*time.Millisecond || gap > 10*time.Second {
		t.Errorf("second attempt %v after the call, want at least 250ms", gap)
	}
	if elapsed > 10*time.Second {
		t.Errorf("Call took %v", elapsed)
	}
	if m.count(testHook, ResultOK) != 1 || len(m.all()) != 1 {
		t.Errorf("metrics %v, want one ok", m.all())
	}
}

func TestCallRetriesExhausted(t *testing.T) {
	srv := newHookServer(t, hangReply)
	m := &metricsRec{}
	box := &settingsBox{}
	s := fastSettings(map[string]string{testHook: srv.url(testHook)})
	s.Timeout = 60 * time.Millisecond
	s.Retry = 2
	s.RetryDelay = 40 * time.Millisecond
	box.set(s)
	c := newTestClient(t, box, m)

	start := time.Now()
	_, err := c.Call(context.Background(), testHook, nil)
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("Call succeeded against a hung server")
	}
	var denied *DeniedError
	if errors.As(err, &denied) || errors.Is(err, ErrNotConfigured) {
		t.Errorf("error %v, want a failure", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want it to wrap context.DeadlineExceeded", err)
	}
	if n := len(srv.requests(testHook)); n != 3 {
		t.Errorf("%d attempts, want 1+Retry = 3", n)
	}
	// 3 timeouts and 2 delays: 260 ms, at least; the upper bound only
	// catches settings not applied.
	if elapsed < 250*time.Millisecond || elapsed > 10*time.Second {
		t.Errorf("Call took %v, want about 260ms", elapsed)
	}
	if m.count(testHook, ResultFailed) != 1 || len(m.all()) != 1 {
		t.Errorf("metrics %v, want one failed", m.all())
	}
}

func TestCallRetryNotOnCallerCancel(t *testing.T) {
	srv := newHookServer(t, hangReply)
	box := &settingsBox{}
	s := fastSettings(map[string]string{testHook: srv.url(testHook)})
	s.Retry = 3
	s.Timeout = time.Minute
	box.set(s)
	c := newTestClient(t, box, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Call(ctx, testHook, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the caller's deadline", err)
	}
	// A Call that outlived its context would wait out the minute of
	// Timeout; the 10 s tell that apart from a slow machine.
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Call took %v after its context ended", d)
	}
	if n := len(srv.requests(testHook)); n != 1 {
		t.Errorf("%d attempts after the caller's context ended, want 1", n)
	}
}

func TestCallRetriesBadReplies(t *testing.T) {
	tests := []struct {
		name    string
		replies []func(w http.ResponseWriter)
		retry   int
		ok      bool
		calls   int
	}{
		{
			name: "non-200 then ok",
			replies: []func(w http.ResponseWriter){
				func(w http.ResponseWriter) { http.Error(w, `{"code":0}`, http.StatusInternalServerError) },
				func(w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) },
				func(w http.ResponseWriter) { writeJSON(w, `{"code":0}`) },
			},
			retry: 2, ok: true, calls: 3,
		},
		{
			name: "404 every time",
			replies: []func(w http.ResponseWriter){
				func(w http.ResponseWriter) { http.NotFound(w, nil) },
			},
			retry: 1, ok: false, calls: 2,
		},
		{
			name: "invalid JSON then ok",
			replies: []func(w http.ResponseWriter){
				func(w http.ResponseWriter) { _, _ = io.WriteString(w, "<html>busy</html>") },
				func(w http.ResponseWriter) { writeJSON(w, `{"code":0`) },
				func(w http.ResponseWriter) { writeJSON(w, `[0]`) },
				func(w http.ResponseWriter) { writeJSON(w, `{"code":0,"msg":"success"}`) },
			},
			retry: 3, ok: true, calls: 4,
		},
		{
			name: "empty reply every time",
			replies: []func(w http.ResponseWriter){
				func(w http.ResponseWriter) {},
			},
			retry: 2, ok: false, calls: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			srv := newHookServer(t, func(s *hookServer, r request, w http.ResponseWriter, req *http.Request) {
				i := int(n.Add(1)) - 1
				tt.replies[min(i, len(tt.replies)-1)](w)
			})
			m := &metricsRec{}
			box := &settingsBox{}
			s := fastSettings(map[string]string{testHook: srv.url(testHook)})
			s.Retry = tt.retry
			box.set(s)
			c := newTestClient(t, box, m)
			_, err := c.Call(context.Background(), testHook, nil)
			if (err == nil) != tt.ok {
				t.Errorf("error %v, want ok=%v", err, tt.ok)
			}
			var denied *DeniedError
			if errors.As(err, &denied) {
				t.Errorf("bad reply reported as denied: %v", err)
			}
			if got := len(srv.requests(testHook)); got != tt.calls {
				t.Errorf("%d attempts, want %d", got, tt.calls)
			}
			want := ResultFailed
			if tt.ok {
				want = ResultOK
			}
			if m.count(testHook, want) != 1 || len(m.all()) != 1 {
				t.Errorf("metrics %v, want one %s", m.all(), want)
			}
		})
	}
}

func TestCallDeniedNotRetried(t *testing.T) {
	tests := []struct {
		reply string
		code  int64
		msg   string
	}{
		{`{"code":-1,"msg":"fail","enable_audio":true}`, -1, "fail"},
		{`{"code":401,"msg":"Unauthorized"}`, 401, "Unauthorized"},
		{`{"code":1}`, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.reply, func(t *testing.T) {
			srv := newHookServer(t, func(s *hookServer, r request, w http.ResponseWriter, req *http.Request) { writeJSON(w, tt.reply) })
			m := &metricsRec{}
			box := &settingsBox{}
			s := fastSettings(map[string]string{testHook: srv.url(testHook)})
			s.Retry = 3
			box.set(s)
			c := newTestClient(t, box, m)
			reply, err := c.Call(context.Background(), testHook, nil)
			var denied *DeniedError
			if !errors.As(err, &denied) {
				t.Fatalf("error %v, want *DeniedError", err)
			}
			if denied.Hook != testHook || denied.Code != tt.code || denied.Msg != tt.msg {
				t.Errorf("DeniedError %+v, want hook %s code %d msg %q", denied, testHook, tt.code, tt.msg)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q does not name the reply's msg", err)
			}
			if reply == nil {
				t.Errorf("the reply is not returned with the DeniedError")
			}
			if n := len(srv.requests(testHook)); n != 1 {
				t.Errorf("%d attempts, want 1: a denial is not retried", n)
			}
			if m.count(testHook, ResultDenied) != 1 || len(m.all()) != 1 {
				t.Errorf("metrics %v, want one denied", m.all())
			}
		})
	}
}

func TestCallCodeZero(t *testing.T) {
	for _, reply := range []string{`{"code":0}`, `{"code":0,"msg":"success","close":false}`} {
		t.Run(reply, func(t *testing.T) {
			srv := newHookServer(t, func(s *hookServer, r request, w http.ResponseWriter, req *http.Request) { writeJSON(w, reply) })
			box := &settingsBox{}
			box.set(fastSettings(map[string]string{testHook: srv.url(testHook)}))
			c := newTestClient(t, box, nil)
			if _, err := c.Call(context.Background(), testHook, nil); err != nil {
				t.Errorf("Call: %v", err)
			}
		})
	}
}

// TestCallCodeMissing: as in ZLMediaKit, a reply without an integer code
// is no answer: retried, then a failure (which denies an auth hook).
func TestCallCodeMissing(t *testing.T) {
	for _, reply := range []string{`{}`, `{"msg":"success"}`, `{"code":"0"}`, `{"code":1.5}`} {
		t.Run(reply, func(t *testing.T) {
			srv := newHookServer(t, func(s *hookServer, r request, w http.ResponseWriter, req *http.Request) { writeJSON(w, reply) })
			box := &settingsBox{}
			settings := fastSettings(map[string]string{testHook: srv.url(testHook)})
			settings.Retry = 1
			box.set(settings)
			c := newTestClient(t, box, nil)
			_, err := c.Call(context.Background(), testHook, nil)
			var denied *DeniedError
			if err == nil || errors.As(err, &denied) {
				t.Fatalf("Call: %v, want a failure that is not a denial", err)
			}
			if n := len(srv.requests(testHook)); n != 1+box.get().Retry {
				t.Errorf("%d requests, want %d (retried)", n, 1+box.get().Retry)
			}
		})
	}
}

func TestCallNotConfigured(t *testing.T) {
	srv := newHookServer(t, nil)
	tests := []struct {
		name string
		s    Settings
	}{
		{"disabled", Settings{Enable: false, URLs: map[string]string{testHook: srv.url(testHook)}, Timeout: time.Second}},
		{"empty URL", Settings{Enable: true, URLs: map[string]string{testHook: ""}, Timeout: time.Second}},
		{"no URL", Settings{Enable: true, URLs: map[string]string{"on_other": srv.url("on_other")}, Timeout: time.Second}},
		{"nil URLs", Settings{Enable: true, Timeout: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &metricsRec{}
			box := &settingsBox{}
			box.set(tt.s)
			c := newTestClient(t, box, m)
			if c.Configured(testHook) {
				t.Errorf("Configured = true")
			}
			if _, err := c.Call(context.Background(), testHook, map[string]any{"a": 1}); !errors.Is(err, ErrNotConfigured) {
				t.Errorf("Call error %v, want ErrNotConfigured", err)
			}
			c.Notify(testHook, map[string]any{"a": 1})
			done := make(chan struct{}, 1)
			c.NotifyFunc(testHook, nil, func(map[string]any, error) { done <- struct{}{} })
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			c.Close(ctx)
			if n := len(srv.requests("")); n != 0 {
				t.Errorf("%d requests sent", n)
			}
			if len(done) != 0 {
				t.Errorf("NotifyFunc ran its function for a hook that is off")
			}
			if c.Dropped() != 0 || len(m.all()) != 0 {
				t.Errorf("dropped %d, metrics %v; want nothing", c.Dropped(), m.all())
			}
		})
	}
}

func TestCallSettingsLive(t *testing.T) {
	a := newHookServer(t, nil)
	b := newHookServer(t, nil)
	box := &settingsBox{}
	box.set(fastSettings(map[string]string{testHook: a.url(testHook)}))
	c := newTestClient(t, box, nil)
	ctx := context.Background()

	if _, err := c.Call(ctx, testHook, nil); err != nil {
		t.Fatal(err)
	}
	box.update(func(s *Settings) {
		s.URLs[testHook] = b.url(testHook)
		s.MediaServerID = "node-2"
	})
	if _, err := c.Call(ctx, testHook, nil); err != nil {
		t.Fatal(err)
	}
	if n, m := len(a.requests("")), len(b.requests("")); n != 1 || m != 1 {
		t.Fatalf("requests: first server %d, second %d; want 1 and 1", n, m)
	}
	if got := b.requests(testHook)[0].str("mediaServerId"); got != "node-2" {
		t.Errorf("mediaServerId %q after the change, want node-2", got)
	}
	if got := a.requests(testHook)[0].str("mediaServerId"); got != "your_server_id" {
		t.Errorf("mediaServerId %q before the change", got)
	}

	// Notifications read the settings when they are sent too.
	c.Notify(testHook, map[string]any{"via": "notify"})
	b.wait(t, testHook, 2)

	box.update(func(s *Settings) { s.Enable = false })
	if _, err := c.Call(ctx, testHook, nil); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("error %v after disabling, want ErrNotConfigured", err)
	}
	box.update(func(s *Settings) { s.Enable = true; s.URLs[testHook] = "" })
	if _, err := c.Call(ctx, testHook, nil); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("error %v after clearing the URL, want ErrNotConfigured", err)
	}
	if n := len(b.requests("")); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestCallReplySizeLimited(t *testing.T) {
	const size = 5 << 20
	chunk := []byte(strings.Repeat("a", 32<<10))
	srv := newHookServer(t, func(s *hookServer, r request, w http.ResponseWriter, req *http.Request) {
		// A valid JSON object of 5 MB, written without holding it.
		w.Header().Set("Content-Type", "application/json")
		if _, err := io.WriteString(w, `{"code":0,"pad":"`); err != nil {
			return
		}
		for n := 0; n < size; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		_, _ = io.WriteString(w, `"}`)
	})
	box := &settingsBox{}
	s := fastSettings(map[string]string{testHook: srv.url(testHook)})
	s.Timeout = 5 * time.Second
	box.set(s)
	c := newTestClient(t, box, nil)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	reply, err := c.Call(context.Background(), testHook, nil)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("Call allocated %d bytes", alloc)
	if err == nil {
		t.Fatalf("a 5 MB reply was accepted (%d members)", len(reply))
	}
	var denied *DeniedError
	if errors.As(err, &denied) {
		t.Errorf("error %v, want a failure", err)
	}
	// Reading and decoding the whole reply allocates over 30 MB; the
	// bounded read a few times maxReply.
	if alloc > 16<<20 {
		t.Errorf("Call allocated %d bytes for a 5 MB reply", alloc)
	}
}

func TestNotifyFuncGetsReply(t *testing.T) {
	srv := newHookServer(t, func(s *hookServer, r request, w http.ResponseWriter, req *http.Request) {
		writeJSON(w, `{"code":0,"close":true}`)
	})
	box := &settingsBox{}
	box.set(fastSettings(map[string]string{testHook: srv.url(testHook)}))
	c := newTestClient(t, box, nil)
	type result struct {
		reply map[string]any
		err   error
	}
	got := make(chan result, 1)
	c.NotifyFunc(testHook, map[string]any{"x": "y"}, func(reply map[string]any, err error) { got <- result{reply, err} })
	select {
	case r := <-got:
		if r.err != nil || r.reply["close"] != true {
			t.Errorf("done(%v, %v)", r.reply, r.err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("NotifyFunc's function was not called")
	}
	if r := srv.requests(testHook)[0]; r.str("x") != "y" {
		t.Errorf("body %s", r.Raw)
	}
}

func TestCloseSendsQueued(t *testing.T) {
	srv := newHookServer(t, func(s *hookServer, r request, w http.ResponseWriter, req *http.Request) {
		time.Sleep(2 * time.Millisecond)
		writeJSON(w, `{"code":0}`)
	})
	box := &settingsBox{}
	box.set(fastSettings(map[string]string{testHook: srv.url(testHook)}))
	c := NewClient(box.get, nil, nil)
	const n = 200
	for i := 0; i < n; i++ {
		c.Notify(testHook, map[string]any{"i": i})
	}
	c.Start() // events queued before Start are sent too
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.Close(ctx)
	if got := len(srv.requests(testHook)); got != n {
		t.Errorf("%d of %d queued notifications sent before Close returned", got, n)
	}
	if c.Dropped() != 0 {
		t.Errorf("dropped %d", c.Dropped())
	}
	// Closed: further notifications are ignored, not dropped or sent.
	c.Notify(testHook, nil)
	c.Close(ctx) // a second Close is harmless
	if got := len(srv.requests(testHook)); got != n || c.Dropped() != 0 {
		t.Errorf("after Close: %d requests, %d dropped", got, c.Dropped())
	}
}

func TestNotifyHungServer(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	srv := newHookServer(t, hangReply)
	m := &metricsRec{}
	box := &settingsBox{}
	s := fastSettings(map[string]string{testHook: srv.url(testHook)})
	s.Timeout = time.Minute
	s.Retry = 5
	s.RetryDelay = time.Second
	box.set(s)
	c := NewClient(box.get, nil, m)
	c.Start()

	// Let every worker get stuck on the hung server.
	for i := 0; i < workers; i++ {
		c.Notify(testHook, map[string]any{"i": i})
	}
	srv.wait(t, testHook, workers)

	// Every worker is stuck and the queue fills: a Notify that blocked
	// would never return. The deadline only bounds the test, it does not
	// measure speed.
	const events = 5000
	notified := make(chan struct{})
	go func() {
		for i := 0; i < events; i++ {
			c.Notify(testHook, map[string]any{"i": i})
		}
		close(notified)
	}()
	select {
	case <-notified:
	case <-time.After(30 * time.Second):
		t.Fatalf("%d Notify calls did not return with every worker stuck: Notify blocks", events)
	}
	if got, want := c.Dropped(), int64(events-queueSize); got != want {
		t.Errorf("Dropped() = %d, want %d", got, want)
	}
	if got := m.count(testHook, ResultDropped); int64(got) != c.Dropped() {
		t.Errorf("metrics saw %d drops, Dropped() = %d", got, c.Dropped())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	closed := make(chan struct{})
	go func() {
		c.Close(ctx)
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Error("Close did not return 30s after its context ended")
		c.cancel() // give up the calls in flight
		<-closed
	}
	// Close waited for its context, not less; how much longer a loaded
	// machine took is not the test's business.
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("Close returned after %v, before its 200ms context ended", d)
	}
	// The queued events were abandoned, not sent to the hung server.
	if n := len(srv.requests(testHook)); n != workers {
		t.Errorf("%d requests reached the server, want %d", n, workers)
	}
	if n := m.count(testHook, ResultFailed); n != workers+queueSize {
		t.Errorf("%d failed, want %d (in flight + queued)", n, workers+queueSize)
	}
	srv.close()
	goleak.VerifyNone(t, ignore)
}

func TestMetricsResults(t *testing.T) {
	srv := newHookServer(t, func(s *hookServer, r request, w http.ResponseWriter, req *http.Request) {
		switch r.Name {
		case "on_ok":
			writeJSON(w, `{"code":0}`)
		case "on_denied":
			writeJSON(w, `{"code":-1,"msg":"no"}`)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	m := &metricsRec{}
	box := &settingsBox{}
	box.set(fastSettings(map[string]string{
		"on_ok": srv.url("on_ok"), "on_denied": srv.url("on_denied"),
		"on_failed": srv.url("on_failed"), "on_dropped": srv.url("on_dropped"),
	}))
	c := NewClient(box.get, nil, m) // not started: notifications stay queued
	ctx := context.Background()
	_, _ = c.Call(ctx, "on_ok", nil)
	_, _ = c.Call(ctx, "on_denied", nil)
	_, _ = c.Call(ctx, "on_failed", nil)
	for i := 0; i < queueSize+3; i++ {
		c.Notify("on_dropped", nil)
	}
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	c.Close(cctx)

	want := map[observation]int{
		{Name: "on_ok", Result: ResultOK}:           1,
		{Name: "on_denied", Result: ResultDenied}:   1,
		{Name: "on_failed", Result: ResultFailed}:   1,
		{Name: "on_dropped", Result: ResultDropped}: 3,
	}
	got := map[observation]int{}
	for _, o := range m.all() {
		if o.D < 0 || (o.Result == ResultDropped) != (o.D == 0) {
			t.Errorf("%s %s observed with duration %v", o.Name, o.Result, o.D)
		}
		got[observation{Name: o.Name, Result: o.Result}]++
	}
	if len(got) != len(want) {
		t.Errorf("observations %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s %s observed %d times, want %d", k.Name, k.Result, got[k], n)
		}
	}
	if c.Dropped() != 3 {
		t.Errorf("Dropped() = %d, want 3", c.Dropped())
	}
}

// TestNotifyOrderPerStream: the events of one stream reach the hook
// server in the order they happened, whatever the number of workers.
func TestNotifyOrderPerStream(t *testing.T) {
	srv := newHookServer(t, nil)
	box := &settingsBox{}
	box.set(fastSettings(map[string]string{testHook: srv.url(testHook)}))
	c := newTestClient(t, box, nil)
	const streams, events = 8, 50
	for i := 0; i < events; i++ {
		for s := 0; s < streams; s++ {
			c.Notify(testHook, map[string]any{"vhost": "v", "app": "live", "stream": fmt.Sprint("s", s), "i": i})
		}
	}
	srv.wait(t, testHook, streams*events)
	last := map[string]float64{}
	for _, r := range srv.requests(testHook) {
		stream := r.str("stream")
		var i float64
		if err := json.Unmarshal(r.Fields["i"], &i); err != nil {
			t.Fatal(err)
		}
		if prev, ok := last[stream]; ok && i != prev+1 {
			t.Fatalf("stream %s: event %v after %v", stream, i, prev)
		}
		last[stream] = i
	}
}
