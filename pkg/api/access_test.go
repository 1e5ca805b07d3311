package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/mediakit/mediakit/pkg/access"
)

// accessServer is an API with one state-changing endpoint that counts
// its calls, behind the given secret and access settings.
func accessServer(t *testing.T, secret string, settings access.Settings) (*Server, *int) {
	t.Helper()
	policy, err := access.NewPolicy(settings)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(func() string { return secret }, nil, nil)
	s.Access = func() *access.Policy { return policy }
	calls := new(int)
	s.Handle("close_streams", func(ctx context.Context, p *Params) (Reply, error) {
		*calls++
		return Reply{"count_hit": 1}, nil
	})
	return s, calls
}

func TestBrowserRequestsRefused(t *testing.T) {
	s, calls := accessServer(t, "", access.Settings{AllowOrigin: "https://console.example"})
	for _, c := range []struct {
		name    string
		host    string
		headers map[string]string
		body    string
		ok      bool
	}{
		{"curl", "127.0.0.1:8080", nil, "force=1", true},
		{"curl, text/plain", "127.0.0.1:8080", map[string]string{"Content-Type": "text/plain"}, "force=1", true},
		// A page the visitor opened: a "simple" cross-origin POST needs
		// no preflight, so the Origin check is what stops it.
		{"foreign page, text/plain", "127.0.0.1:8080", map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain"}, "force=1", false},
		{"foreign page, form", "localhost:8080", map[string]string{"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"}, "force=1", false},
		{"foreign img tag", "127.0.0.1:8080", map[string]string{"Sec-Fetch-Site": "cross-site"}, "", false},
		{"DNS rebinding", "attacker.example:8080", map[string]string{"Origin": "http://attacker.example:8080"}, "force=1", false},
		{"DNS rebinding GET", "attacker.example:8080", nil, "", false},
		{"listed console", "127.0.0.1:8080", map[string]string{"Origin": "https://console.example"}, "force=1", true},
		{"this server's own page", "127.0.0.1:8080", map[string]string{"Origin": "http://127.0.0.1:8080", "Sec-Fetch-Site": "same-origin"}, "force=1", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := *calls
			method := http.MethodPost
			if c.body == "" {
				method = http.MethodGet
			}
			r := httptest.NewRequest(method, Prefix+"close_streams", strings.NewReader(c.body))
			r.RemoteAddr = "127.0.0.1:40000"
			r.Host = c.host
			for k, v := range c.headers {
				r.Header.Set(k, v)
			}
			w := newRecorder(s, r)
			ran := *calls > before
			if ran != c.ok {
				t.Fatalf("endpoint ran = %v, want %v (HTTP %d %s)", ran, c.ok, w.Code, w.Body.String())
			}
			if !c.ok {
				if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), `"code":-100`) {
					t.Errorf("refusal: HTTP %d %s, want 403 with code -100", w.Code, w.Body.String())
				}
				if got := w.Header().Get("Access-Control-Allow-Origin"); got != "" {
					t.Errorf("refusal carries Access-Control-Allow-Origin %q", got)
				}
			}
		})
	}
}

func TestPreflightOnlyForListedOrigins(t *testing.T) {
	s, _ := accessServer(t, "s", access.Settings{AllowOrigin: "https://console.example"})
	for origin, want := range map[string]int{"https://console.example": http.StatusNoContent, "http://evil.example": http.StatusForbidden} {
		r := httptest.NewRequest(http.MethodOptions, Prefix+"close_streams", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "POST")
		w := newRecorder(s, r)
		if w.Code != want {
			t.Errorf("preflight from %s: HTTP %d, want %d", origin, w.Code, want)
		}
		if got := w.Header().Get("Access-Control-Allow-Origin"); (got == origin) != (want == http.StatusNoContent) {
			t.Errorf("preflight from %s: Allow-Origin %q", origin, got)
		}
	}
}

func TestAllowIPRange(t *testing.T) {
	const secret = "wvp"
	s, calls := accessServer(t, secret, access.Settings{
		AllowIPRange:   "::1,127.0.0.1,10.0.0.0-10.255.255.255",
		TrustedProxies: "10.0.0.1",
	})
	for _, c := range []struct {
		name, remote, xff, secret string
		want                      Code
	}{
		{"WVP from the LAN with the secret", "10.2.3.4:5000", "", secret, CodeSuccess},
		{"LAN without the secret", "10.2.3.4:5000", "", "", CodeInvalidArgs},
		{"LAN, wrong secret", "10.2.3.4:5000", "", "guess", CodeAuthFailed},
		{"outside the range, right secret", "203.0.113.7:5000", "", secret, CodeAuthFailed},
		{"outside, forging X-Forwarded-For", "203.0.113.7:5000", "10.9.9.9", secret, CodeAuthFailed},
		{"trusted proxy naming an outside client", "10.0.0.1:5000", "203.0.113.7", secret, CodeAuthFailed},
		{"trusted proxy naming a LAN client", "10.0.0.1:5000", "10.5.5.5", secret, CodeSuccess},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := *calls
			target := Prefix + "close_streams"
			if c.secret != "" {
				target += "?secret=" + c.secret
			}
			r := httptest.NewRequest(http.MethodGet, target, nil)
			r.RemoteAddr = c.remote
			if c.xff != "" {
				r.Header.Set("X-Forwarded-For", c.xff)
			}
			_, m := do(t, s, r)
			if got := jInt(t, m, "code"); got != int64(c.want) {
				t.Fatalf("code %d, want %d (%v)", got, c.want, m)
			}
			if (*calls > before) != (c.want == CodeSuccess) {
				t.Errorf("endpoint ran = %v", *calls > before)
			}
			if c.remote == "203.0.113.7:5000" && jStr(t, m, "msg") != "Your ip is not allowed to access the service." {
				t.Errorf("msg %q, want ZLMediaKit's", jStr(t, m, "msg"))
			}
		})
	}
}

func TestNoSecretProxiedLoopback(t *testing.T) {
	// A reverse proxy on this host makes every client look like
	// loopback; without a secret, a proxied call is refused unless the
	// proxy is trusted and names a loopback client.
	s, calls := accessServer(t, "", access.Settings{})
	r := httptest.NewRequest(http.MethodGet, Prefix+"close_streams", nil)
	r.RemoteAddr = "127.0.0.1:5000"
	r.Host = "127.0.0.1:8080"
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	_, m := do(t, s, r)
	if jInt(t, m, "code") != int64(CodeAuthFailed) || *calls != 0 || !strings.Contains(jStr(t, m, "msg"), "trusted_proxies") {
		t.Errorf("proxied call without secret: %v", m)
	}

	trusting, calls := accessServer(t, "", access.Settings{TrustedProxies: "127.0.0.1"})
	_, m = do(t, trusting, r)
	if jInt(t, m, "code") != int64(CodeAuthFailed) || *calls != 0 {
		t.Errorf("trusted proxy naming a remote client, no secret: %v", m)
	}
}

func TestAPIUser(t *testing.T) {
	s, calls := accessServer(t, "secret-not-given", access.Settings{})
	s.User = func(r *http.Request, client netip.Addr) bool {
		u, p, ok := r.BasicAuth()
		return ok && u == "ops" && p == "pw" && client.IsLoopback()
	}
	r := httptest.NewRequest(http.MethodGet, Prefix+"close_streams", nil)
	r.RemoteAddr = "127.0.0.1:5000"
	r.SetBasicAuth("ops", "pw")
	if _, m := do(t, s, r); jInt(t, m, "code") != 0 || *calls != 1 {
		t.Errorf("built-in API user: %v", m)
	}
	r.SetBasicAuth("ops", "nope")
	if _, m := do(t, s, r); jInt(t, m, "code") == 0 || *calls != 1 {
		t.Errorf("wrong password passed: %v", m)
	}
}
