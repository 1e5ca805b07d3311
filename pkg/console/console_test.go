package console

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/access"
	"github.com/mediakit/mediakit/pkg/api"
	"github.com/mediakit/mediakit/pkg/auth"
)

const (
	testSecret = "c0nsole-s3cret-7f1e"
	host       = "127.0.0.1:8080"
	origin     = "http://127.0.0.1:8080"
)

// syncBuffer is a log sink safe for the handler and the test.
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

// fixture is an API server with one counting endpoint, the console in
// front of it as pkg/server wires them, and a clock the test moves.
type fixture struct {
	t      *testing.T
	mu     sync.Mutex
	secret string
	now    time.Time
	calls  int
	api    *api.Server
	con    *Console
	mux    *http.ServeMux
	logs   *syncBuffer
}

func newFixture(t *testing.T, secret string) *fixture {
	t.Helper()
	fx := &fixture{t: t, secret: secret, now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(fx.logs, nil))
	// ui.example is an origin the operator lets call the API: even so it
	// never gets the console's session.
	policy, err := access.NewPolicy(access.Settings{AllowOrigin: "http://ui.example"})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := auth.Compile([]auth.User{{User: "ops", Pass: "ops-pass", Actions: []string{"api"}}, {User: "viewer", Pass: "viewer-pass", Actions: []string{"play"}}})
	if err != nil {
		t.Fatal(err)
	}
	fx.api = api.NewServer(func() string { fx.mu.Lock(); defer fx.mu.Unlock(); return fx.secret }, log, nil)
	fx.api.Access = func() *access.Policy { return policy }
	fx.api.User = func(r *http.Request, client netip.Addr) bool {
		return rules.Grants(auth.ActionAPI, "", auth.FromRequest(r), client)
	}
	fx.api.Handle("close_streams", func(ctx context.Context, p *api.Params) (api.Reply, error) {
		fx.mu.Lock()
		fx.calls++
		fx.mu.Unlock()
		return api.Reply{"count_hit": 1}, nil
	})
	fx.con = New(Options{API: fx.api, Log: log, Epoch: func() string { fx.mu.Lock(); defer fx.mu.Unlock(); return fx.secret },
		Now: func() time.Time { fx.mu.Lock(); defer fx.mu.Unlock(); return fx.now }})
	fx.api.Console = fx.con.Check
	fx.mux = http.NewServeMux()
	fx.mux.Handle(api.Prefix, fx.api)
	fx.mux.Handle(Prefix, fx.con.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "next: "+r.URL.Path, http.StatusTeapot) // the server's stream routes
	})))
	return fx
}

func (fx *fixture) advance(d time.Duration) {
	fx.mu.Lock()
	fx.now = fx.now.Add(d)
	fx.mu.Unlock()
}

func (fx *fixture) setSecret(s string) {
	fx.mu.Lock()
	fx.secret = s
	fx.mu.Unlock()
}

func (fx *fixture) callCount() int {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	return fx.calls
}

// req is a request as the console page sends it: same origin, from
// loopback, with the console header unless noHeader.
type req struct {
	method, path, body string
	remote, host       string
	noHeader           bool
	headers            map[string]string
	cookie             *http.Cookie
}

func (fx *fixture) do(rq req) *httptest.ResponseRecorder {
	fx.t.Helper()
	if rq.method == "" {
		rq.method = http.MethodPost
	}
	r := httptest.NewRequest(rq.method, "http://"+host+rq.path, strings.NewReader(rq.body))
	r.RemoteAddr = "127.0.0.1:40000"
	if rq.remote != "" {
		r.RemoteAddr = rq.remote
	}
	if rq.host != "" {
		r.Host = rq.host
	}
	if rq.body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r.Header.Set("Origin", origin)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	if !rq.noHeader {
		r.Header.Set(api.ConsoleHeader, "1")
	}
	for k, v := range rq.headers {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	if rq.cookie != nil {
		r.AddCookie(rq.cookie)
	}
	w := httptest.NewRecorder()
	fx.mux.ServeHTTP(w, r)
	return w
}

func decode(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("reply %d is not JSON: %v: %q", w.Code, err, w.Body.String())
	}
	return m
}

func code(m map[string]any) int {
	c, _ := m["code"].(float64)
	return int(c)
}

// login posts the form and returns the session cookie, nil when refused.
func (fx *fixture) login(form url.Values, extra ...func(*req)) (*http.Cookie, map[string]any) {
	fx.t.Helper()
	rq := req{path: "/console/login", body: form.Encode()}
	for _, f := range extra {
		f(&rq)
	}
	w := fx.do(rq)
	m := decode(fx.t, w)
	for _, c := range w.Result().Cookies() {
		if c.Name == CookieName && c.Value != "" {
			return c, m
		}
	}
	return nil, m
}

// call runs close_streams and reports whether the endpoint ran.
func (fx *fixture) call(rq req) (bool, map[string]any) {
	fx.t.Helper()
	rq.path = api.Prefix + "close_streams"
	before := fx.callCount()
	w := fx.do(rq)
	return fx.callCount() > before, decode(fx.t, w)
}

func TestLoginAndCookie(t *testing.T) {
	fx := newFixture(t, testSecret)

	// A wrong secret: refused, no cookie, one log line without the secret.
	ck, m := fx.login(url.Values{"secret": {"wrong"}})
	if ck != nil || code(m) != int(api.CodeAuthFailed) {
		t.Fatalf("wrong secret: cookie %v, reply %v", ck, m)
	}
	if logs := fx.logs.String(); strings.Count(logs, "console login refused") != 1 || strings.Contains(logs, "=wrong") {
		t.Errorf("log after a wrong secret:\n%s", logs)
	}
	// Nothing given, or a secret when none is set: refused.
	if ck, m := fx.login(url.Values{}); ck != nil || code(m) == 0 {
		t.Errorf("empty form: %v %v", ck, m)
	}

	ck, m = fx.login(url.Values{"secret": {testSecret}})
	if ck == nil || code(m) != 0 {
		t.Fatalf("login with the secret: %v", m)
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Secure || len(ck.Value) < 43 {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, not Secure over plain HTTP, a 32-byte token", ck)
	}
	if strings.Contains(fx.logs.String(), testSecret) {
		t.Error("the secret reached the log")
	}

	for _, c := range []struct {
		name string
		rq   req
		ok   bool
	}{
		{"cookie and header", req{cookie: ck}, true},
		{"cookie without the header", req{cookie: ck, noHeader: true}, false},
		{"header without the cookie", req{}, false},
		{"a made-up cookie", req{cookie: &http.Cookie{Name: CookieName, Value: strings.Repeat("A", 43)}}, false},
		// ui.example is in api.allow_origin, so the API's browser check
		// lets it call with the secret; the console's cookie still does
		// not count for it (and no preflight allows the header anyway).
		{"an allowed other origin", req{cookie: ck, headers: map[string]string{"Origin": "http://ui.example", "Sec-Fetch-Site": "cross-site"}}, false},
		{"same-site page on another port", req{cookie: ck, headers: map[string]string{"Origin": "http://127.0.0.1:3000", "Sec-Fetch-Site": "same-site"}}, false},
		{"foreign Origin without Sec-Fetch-Site", req{cookie: ck, headers: map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": ""}}, false},
		{"another client address", req{cookie: ck, remote: "10.0.0.7:5000"}, false},
		{"curl with the cookie and header, no Origin", req{cookie: ck, headers: map[string]string{"Origin": "", "Sec-Fetch-Site": ""}}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ran, m := fx.call(c.rq)
			if ran != c.ok {
				t.Fatalf("endpoint ran = %v, want %v: %v", ran, c.ok, m)
			}
		})
	}
	// The secret itself still works as before, with or without a session.
	if ran, m := fx.call(req{body: "secret=" + testSecret, noHeader: true, headers: map[string]string{"Origin": "", "Sec-Fetch-Site": ""}}); !ran {
		t.Errorf("a script with the secret: %v", m)
	}
}

// TestLoginRefusedFromElsewhere: the login form posted by another page
// (a plain HTML form cannot add the header; a fetch from another origin
// needs a preflight nobody grants), or by GET, logs nobody in.
func TestLoginRefusedFromElsewhere(t *testing.T) {
	fx := newFixture(t, testSecret)
	form := url.Values{"secret": {testSecret}}
	for _, c := range []struct {
		name string
		mod  func(*req)
	}{
		{"no header", func(r *req) { r.noHeader = true }},
		{"cross-origin", func(r *req) {
			r.headers = map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
		}},
		{"allowed other origin", func(r *req) {
			r.headers = map[string]string{"Origin": "http://ui.example", "Sec-Fetch-Site": "cross-site"}
		}},
		{"GET", func(r *req) { r.method = http.MethodGet }},
	} {
		t.Run(c.name, func(t *testing.T) {
			if ck, m := fx.login(form, c.mod); ck != nil || code(m) == 0 {
				t.Fatalf("logged in: %v", m)
			}
		})
	}
	if n := fx.con.Sessions(); n != 0 {
		t.Errorf("%d sessions made", n)
	}
}

func TestUserLogin(t *testing.T) {
	fx := newFixture(t, testSecret)
	for _, c := range []struct{ user, pass string }{{"ops", "wrong"}, {"nobody", "ops-pass"}, {"viewer", "viewer-pass"}} {
		if ck, m := fx.login(url.Values{"user": {c.user}, "password": {c.pass}}); ck != nil || code(m) != int(api.CodeAuthFailed) {
			t.Errorf("user %s with %s: %v", c.user, c.pass, m)
		}
	}
	ck, m := fx.login(url.Values{"user": {"ops"}, "password": {"ops-pass"}})
	if ck == nil || m["who"] != "user ops" {
		t.Fatalf("ops: %v", m)
	}
	if ran, m := fx.call(req{cookie: ck}); !ran {
		t.Errorf("ops's session: %v", m)
	}
}

func TestExpiryAndLogout(t *testing.T) {
	fx := newFixture(t, testSecret)
	form := url.Values{"secret": {testSecret}}

	// Idle: a session unused for DefaultIdle ends; used, it goes on.
	ck, _ := fx.login(form)
	fx.advance(DefaultIdle - time.Minute)
	if ran, _ := fx.call(req{cookie: ck}); !ran {
		t.Fatal("session ended before its idle time")
	}
	fx.advance(DefaultIdle - time.Minute)
	if ran, _ := fx.call(req{cookie: ck}); !ran {
		t.Fatal("a used session ended")
	}
	fx.advance(DefaultIdle)
	if ran, _ := fx.call(req{cookie: ck}); ran {
		t.Fatal("an idle session still works")
	}

	// Absolute: however busy, it ends DefaultTTL after the login.
	ck, _ = fx.login(form)
	for elapsed := time.Duration(0); elapsed < DefaultTTL-DefaultIdle/2; elapsed += DefaultIdle / 2 {
		fx.advance(DefaultIdle / 2)
		if ran, _ := fx.call(req{cookie: ck}); !ran {
			t.Fatalf("session ended %v after login", elapsed+DefaultIdle/2)
		}
	}
	fx.advance(DefaultIdle / 2)
	if ran, _ := fx.call(req{cookie: ck}); ran {
		t.Fatal("session outlived its TTL")
	}

	// Logout ends it server side and tells the browser to drop it.
	ck, _ = fx.login(form)
	w := fx.do(req{path: "/console/logout", cookie: ck})
	cleared := false
	for _, c := range w.Result().Cookies() {
		cleared = cleared || (c.Name == CookieName && c.MaxAge < 0)
	}
	if code(decode(t, w)) != 0 || !cleared {
		t.Fatalf("logout: %d %s, cookies %v", w.Code, w.Body.String(), w.Result().Cookies())
	}
	if ran, _ := fx.call(req{cookie: ck}); ran {
		t.Fatal("the cookie still works after logout")
	}
	// A logout from another page is refused.
	ck, _ = fx.login(form)
	if w := fx.do(req{path: "/console/logout", cookie: ck, noHeader: true}); w.Code != http.StatusForbidden {
		t.Errorf("logout without the header: %d", w.Code)
	}

	// A new secret ends every session.
	fx.setSecret("another-secret")
	if ran, _ := fx.call(req{cookie: ck}); ran {
		t.Fatal("the session outlived a new secret")
	}
}

// TestLoginRateLimited: past maxFailures wrong logins from one address in
// a window, even the right secret is refused (and not logged each time)
// until the window passes; another address is not affected.
func TestLoginRateLimited(t *testing.T) {
	fx := newFixture(t, testSecret)
	for i := 0; i < maxFailures+3; i++ {
		fx.login(url.Values{"secret": {"guess"}})
	}
	if n := strings.Count(fx.logs.String(), "console login refused"); n != maxFailures {
		t.Errorf("%d refusals logged, want %d", n, maxFailures)
	}
	if ck, m := fx.login(url.Values{"secret": {testSecret}}); ck != nil || !strings.Contains(m["msg"].(string), "too many") {
		t.Fatalf("right secret while limited: %v", m)
	}
	// The API itself is not affected: a script with the secret works.
	if ran, m := fx.call(req{body: "secret=" + testSecret, noHeader: true}); !ran {
		t.Errorf("API call with the secret: %v", m)
	}
	fx.advance(failureWindow)
	if ck, m := fx.login(url.Values{"secret": {testSecret}}); ck == nil {
		t.Fatalf("after the window: %v", m)
	}
}

// TestFiles: a recording GET from the console page (a <video> or a
// download link: no header, but the browser's Sec-Fetch-Site:
// same-origin) is authorised by the session; a cross-site one, a POST, or
// one from a browser that sends no Sec-Fetch-Site is not.
func TestFiles(t *testing.T) {
	fx := newFixture(t, testSecret)
	ck, _ := fx.login(url.Values{"secret": {testSecret}})
	file := func(method string, headers map[string]string, cookie *http.Cookie) bool {
		r := httptest.NewRequest(method, "http://"+host+"/record/live/cam/2026-12-01/10-00-00.mp4", nil)
		r.RemoteAddr = "127.0.0.1:40000"
		for k, v := range headers {
			r.Header.Set(k, v)
		}
		if cookie != nil {
			r.AddCookie(cookie)
		}
		return fx.api.Authorized(r)
	}
	same := map[string]string{"Sec-Fetch-Site": "same-origin"}
	if !file(http.MethodGet, same, ck) {
		t.Error("a same-origin GET with the session refused")
	}
	if file(http.MethodGet, same, nil) {
		t.Error("a same-origin GET without the session allowed")
	}
	if file(http.MethodGet, map[string]string{"Sec-Fetch-Site": "cross-site"}, ck) {
		t.Error("a cross-site GET with the session allowed")
	}
	if file(http.MethodGet, nil, ck) {
		t.Error("a GET with the session and no Sec-Fetch-Site (no proof of the page) allowed")
	}
	if file(http.MethodPost, same, ck) {
		t.Error("a POST with the session and no header allowed")
	}
}

// TestOpenWithoutSecret: with no secret the console opens for a loopback
// browser without a login (the API serves it without credentials), and
// says "none" to anyone else; a login still needs right credentials.
func TestOpenWithoutSecret(t *testing.T) {
	fx := newFixture(t, "")
	status := func(rq req) string {
		rq.method, rq.path = http.MethodGet, "/console/session"
		w := fx.do(rq)
		m := decode(t, w)
		s, _ := m["auth"].(string)
		return s
	}
	if got := status(req{}); got != "open" {
		t.Errorf("loopback without a secret: %q, want open", got)
	}
	if got := status(req{remote: "192.168.1.20:5000"}); got != "none" {
		t.Errorf("a LAN client without a secret: %q, want none", got)
	}
	if got := status(req{host: "attacker.example:8080", headers: map[string]string{"Origin": "http://attacker.example:8080"}}); got != "none" {
		t.Errorf("a rebinding Host: %q, want none", got)
	}
	if w := fx.do(req{method: http.MethodGet, path: "/console/session", noHeader: true}); w.Code != http.StatusForbidden {
		t.Errorf("session status without the header: %d", w.Code)
	}
	if ck, m := fx.login(url.Values{"secret": {"anything"}}); ck != nil {
		t.Errorf("a secret when none is set logged in: %v", m)
	}
	if ck, m := fx.login(url.Values{"user": {"ops"}, "password": {"wrong"}}); ck != nil {
		t.Errorf("a wrong password logged in from loopback: %v", m)
	}

	fx.setSecret(testSecret)
	if got := status(req{}); got != "none" {
		t.Errorf("with a secret: %q, want none", got)
	}
	ck, _ := fx.login(url.Values{"secret": {testSecret}})
	if got := status(req{cookie: ck}); got != "session" {
		t.Errorf("logged in: %q, want session", got)
	}
}

func TestAssets(t *testing.T) {
	fx := newFixture(t, testSecret)
	for _, p := range []string{"/console/", "/console/console.js", "/console/console.css"} {
		w := fx.do(req{method: http.MethodGet, path: p, noHeader: true})
		h := w.Header()
		if w.Code != 200 || w.Body.Len() == 0 {
			t.Errorf("%s: %d", p, w.Code)
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self';") || !strings.Contains(csp, "frame-ancestors 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP %q", p, csp)
		}
		if h.Get("X-Frame-Options") != "SAMEORIGIN" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", p, h)
		}
	}
	page := fx.do(req{method: http.MethodGet, path: "/console/", noHeader: true}).Body.String()
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]|\son[a-z]+=|(src|href)="(https?:)?//`).MatchString(page) {
		t.Error("the page has inline script or loads from another site")
	}
	for _, p := range []string{"/console/assets/index.html", "/console/../go.mod", "/console/nope.js"} {
		if w := fx.do(req{method: http.MethodGet, path: p, noHeader: true}); w.Code == http.StatusOK {
			t.Errorf("%s: %d, want no file", p, w.Code)
		}
	}
	// A stream of the app "console" keeps its URLs: they go on to the
	// server's routes.
	for _, p := range []string{"/console/cam.live.flv", "/console/cam/", "/console/cam/hls.m3u8"} {
		if w := fx.do(req{method: http.MethodGet, path: p, noHeader: true}); w.Code != http.StatusTeapot {
			t.Errorf("%s: %d %s, want the stream routes", p, w.Code, w.Body.String())
		}
	}
}

// TestLoginLimitHolds: wrong logins sent at once are counted before any is
// checked (at most maxFailures checked); an IPv6 guesser is counted by
// its /64; the table of guessers stays bounded; a user name is logged cut
// short.
func TestLoginLimitHolds(t *testing.T) {
	fx := newFixture(t, testSecret)
	var wg sync.WaitGroup
	var mu sync.Mutex
	checked := 0
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := fx.do(req{path: "/console/login", body: "secret=guess"})
			if strings.Contains(w.Body.String(), "Incorrect secret") {
				mu.Lock()
				checked++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if checked != maxFailures {
		t.Errorf("%d of 40 parallel guesses checked, want %d", checked, maxFailures)
	}

	for i := range maxFailures + 3 {
		remote := "[2001:db8:1:2::" + strconv.Itoa(i+1) + "]:40000"
		w := fx.do(req{path: "/console/login", body: "secret=guess", remote: remote})
		limited := strings.Contains(w.Body.String(), "too many")
		if limited != (i >= maxFailures) {
			t.Errorf("guess %d from %s: %s", i, remote, w.Body.String())
		}
	}

	for i := range maxTracked + 100 {
		remote := "10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255) + ":1"
		fx.do(req{path: "/console/login", body: "user=" + strings.Repeat("x", 100) + "&password=p", remote: remote})
	}
	fx.con.mu.Lock()
	n := len(fx.con.failures)
	fx.con.mu.Unlock()
	if n > maxTracked {
		t.Errorf("%d guessers tracked, bound %d", n, maxTracked)
	}
	if strings.Contains(fx.logs.String(), strings.Repeat("x", 40)) {
		t.Error("a 100-byte user name logged whole")
	}
}

// TestCookieSecureBehindTLSProxy: a login from an https page (mediakit
// behind a TLS-terminating proxy) gets a Secure cookie; one from an http
// page does not.
func TestCookieSecureBehindTLSProxy(t *testing.T) {
	fx := newFixture(t, testSecret)
	ck, m := fx.login(url.Values{"secret": {testSecret}}, func(rq *req) {
		rq.headers = map[string]string{"Origin": "https://" + host}
	})
	if ck == nil || !ck.Secure {
		t.Errorf("https page: cookie %v (%v), want Secure", ck, m)
	}
	if ck, _ := fx.login(url.Values{"secret": {testSecret}}); ck == nil || ck.Secure {
		t.Errorf("http page: cookie %v, want not Secure", ck)
	}
}
