package hook

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mediakit/mediakit/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// request is one hook request a hookServer received.
type request struct {
	Name   string // URL path without the leading '/': the hook name
	Method string
	Header http.Header
	Raw    []byte
	Fields map[string]json.RawMessage // top-level members, as sent
	At     time.Time
}

// str returns the string member key ("" when absent or not a string).
func (r request) str(key string) string {
	var s string
	_ = json.Unmarshal(r.Fields[key], &s)
	return s
}

// hookServer is a real HTTP hook server that records every request and
// answers with reply (nil: {"code":0,"msg":"success"}).
type hookServer struct {
	*httptest.Server
	reply   replyFunc
	release chan struct{} // closed at cleanup: unblocks hung handlers

	closeOnce sync.Once
	mu        sync.Mutex
	reqs      []request
}

// replyFunc answers request r of server s.
type replyFunc func(s *hookServer, r request, w http.ResponseWriter, req *http.Request)

func newHookServer(t *testing.T, reply replyFunc) *hookServer {
	t.Helper()
	s := &hookServer{reply: reply, release: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.close)
	return s
}

// close unblocks hung handlers and stops the server; it may be called
// before the cleanup does.
func (s *hookServer) close() {
	s.closeOnce.Do(func() {
		close(s.release)
		s.Server.Close()
	})
}

func (s *hookServer) serve(w http.ResponseWriter, req *http.Request) {
	raw, _ := io.ReadAll(req.Body)
	r := request{
		Name:   strings.TrimPrefix(req.URL.Path, "/"),
		Method: req.Method,
		Header: req.Header.Clone(),
		Raw:    raw,
		At:     time.Now(),
	}
	if err := json.Unmarshal(raw, &r.Fields); err != nil {
		r.Fields = nil
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, r)
	s.mu.Unlock()
	if s.reply != nil {
		s.reply(s, r, w, req)
		return
	}
	writeJSON(w, `{"code":0,"msg":"success"}`)
}

// url is the URL of hook name on this server.
func (s *hookServer) url(name string) string { return s.URL + "/" + name }

// requests returns the requests received so far for hook name ("" for all).
func (s *hookServer) requests(name string) []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []request
	for _, r := range s.reqs {
		if name == "" || r.Name == name {
			out = append(out, r)
		}
	}
	return out
}

// wait waits until n requests for hook name arrived and returns them.
// The 10 s only bounds a hang: the tests' hooks are due in milliseconds.
func (s *hookServer) wait(t *testing.T, name string, n int) []request {
	t.Helper()
	var got []request
	if !testutil.Poll(10*time.Second, func() bool {
		got = s.requests(name)
		return len(got) >= n
	}) {
		t.Fatalf("timed out waiting for %d %s requests (have %d)", n, name, len(got))
	}
	return got
}

// hangReply never answers.
func hangReply(s *hookServer, _ request, _ http.ResponseWriter, req *http.Request) { s.hang(req) }

// hang blocks a handler until the client goes away or the test ends.
func (s *hookServer) hang(req *http.Request) {
	select {
	case <-req.Context().Done():
	case <-s.release:
	}
}

func writeJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, body)
}

// settingsBox holds settings the test may change while the client runs.
type settingsBox struct {
	mu sync.Mutex
	s  Settings
}

func (b *settingsBox) get() Settings {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.s
}

// set replaces the settings; s.URLs must not be changed afterwards.
func (b *settingsBox) set(s Settings) {
	b.mu.Lock()
	b.s = s
	b.mu.Unlock()
}

func (b *settingsBox) update(f func(s *Settings)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.s
	urls := make(map[string]string, len(s.URLs))
	for k, v := range s.URLs {
		urls[k] = v
	}
	s.URLs = urls
	f(&s)
	b.s = s
}

// observation is one Metrics.ObserveHook call.
type observation struct {
	Name, Result string
	D            time.Duration
}

type metricsRec struct {
	mu  sync.Mutex
	obs []observation
}

func (m *metricsRec) ObserveHook(name, result string, d time.Duration) {
	m.mu.Lock()
	m.obs = append(m.obs, observation{name, result, d})
	m.mu.Unlock()
}

func (m *metricsRec) count(name, result string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, o := range m.obs {
		if o.Name == name && o.Result == result {
			n++
		}
	}
	return n
}

func (m *metricsRec) all() []observation {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]observation(nil), m.obs...)
}

// newTestClient returns a started client on box's settings; it is closed
// when the test ends.
func newTestClient(t *testing.T, box *settingsBox, m Metrics) *Client {
	t.Helper()
	var c *Client
	if m == nil {
		c = NewClient(box.get, nil, nil)
	} else {
		c = NewClient(box.get, nil, m)
	}
	c.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c.Close(ctx)
	})
	return c
}

// fastSettings are settings for tests: short timeout, no retry.
func fastSettings(urls map[string]string) Settings {
	return Settings{
		Enable:        true,
		URLs:          urls,
		Timeout:       2 * time.Second,
		Retry:         0,
		RetryDelay:    10 * time.Millisecond,
		MediaServerID: "your_server_id",
	}
}

// compact returns raw JSON in a canonical form: no insignificant space,
// object members sorted, no HTML escaping, numbers as written (so 25 and
// 25.0 differ, as an integer and a double do).
func compact(t *testing.T, raw []byte) string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("bad JSON %q: %v", raw, err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// checkFields compares members of fields with JSON texts, so that types
// are checked too (65284 is a number, "65284" a string).
func checkFields(t *testing.T, what string, fields map[string]json.RawMessage, want map[string]string) {
	t.Helper()
	for k, w := range want {
		raw, ok := fields[k]
		if !ok {
			t.Errorf("%s: member %q missing", what, k)
			continue
		}
		if got, w := compact(t, raw), compact(t, []byte(w)); got != w {
			t.Errorf("%s: %s = %s, want %s", what, k, got, w)
		}
	}
}

// checkKeys checks that fields has exactly the members keys.
func checkKeys(t *testing.T, what string, fields map[string]json.RawMessage, keys ...string) {
	t.Helper()
	var got []string
	for k := range fields {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(keys)
	if strings.Join(got, ",") != strings.Join(keys, ",") {
		t.Errorf("%s: members %v, want %v", what, got, keys)
	}
}

// isUint checks that raw is a JSON integer (no fraction, no exponent, no sign).
func isUint(raw json.RawMessage) bool {
	s := string(raw)
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
