package access

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func mustPolicy(t *testing.T, s Settings) *Policy {
	t.Helper()
	p, err := NewPolicy(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// request builds a request to the server at local (the address the
// client connected to) with Host host and headers.
func request(host, local string, headers map[string]string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/index/api/close_streams", nil)
	r.Host = host
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	if local != "" {
		addr, _ := net.ResolveTCPAddr("tcp", local)
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, addr))
	}
	return r
}

func TestCheckBrowser(t *testing.T) {
	p := mustPolicy(t, Settings{AllowOrigin: "https://console.example.com, http://10.0.0.5:3000", AllowHost: "media.example.com,*.cams.example"})
	for _, c := range []struct {
		name      string
		host      string
		headers   map[string]string
		checkHost bool
		ok        bool
	}{
		{"curl", "127.0.0.1:8080", nil, true, true},
		{"curl by name", "localhost:8080", nil, true, true},
		{"platform with secret, any host", "media.internal:8080", nil, false, true},
		{"foreign origin", "127.0.0.1:8080", map[string]string{"Origin": "http://evil.example"}, true, false},
		{"foreign origin with secret", "127.0.0.1:8080", map[string]string{"Origin": "http://evil.example"}, false, false},
		{"null origin", "127.0.0.1:8080", map[string]string{"Origin": "null"}, true, false},
		{"listed origin", "127.0.0.1:8080", map[string]string{"Origin": "https://console.example.com"}, true, true},
		{"listed origin, default port", "127.0.0.1:8080", map[string]string{"Origin": "https://console.example.com:443"}, true, true},
		{"listed origin with port", "127.0.0.1:8080", map[string]string{"Origin": "http://10.0.0.5:3000"}, true, true},
		{"same port other scheme is not listed", "127.0.0.1:8080", map[string]string{"Origin": "https://10.0.0.5:3000"}, true, false},
		{"same origin (console)", "127.0.0.1:8080", map[string]string{"Origin": "http://127.0.0.1:8080", "Sec-Fetch-Site": "same-origin"}, true, true},
		{"other port of this host", "127.0.0.1:8080", map[string]string{"Origin": "http://127.0.0.1:3000", "Sec-Fetch-Site": "same-site"}, true, false},
		{"cross-site fetch without Origin", "127.0.0.1:8080", map[string]string{"Sec-Fetch-Site": "cross-site"}, true, false},
		{"typed in the address bar", "127.0.0.1:8080", map[string]string{"Sec-Fetch-Site": "none"}, true, true},
		{"old browser img tag", "127.0.0.1:8080", map[string]string{"Referer": "http://evil.example/page.html"}, true, false},
		{"referer from the console", "127.0.0.1:8080", map[string]string{"Referer": "https://console.example.com/streams"}, true, true},
		{"DNS rebinding", "evil.example:8080", map[string]string{"Origin": "http://evil.example:8080", "Sec-Fetch-Site": "same-origin"}, true, false},
		{"DNS rebinding without Origin (GET)", "evil.example:8080", nil, true, false},
		{"rebinding name with a secret set", "evil.example:8080", nil, false, true},
		{"listed host", "media.example.com", nil, true, true},
		{"listed wildcard host", "a.cams.example:8080", nil, true, true},
		{"wildcard is not the bare domain", "cams.example", nil, true, false},
		{"*.localhost", "app.localhost:8080", nil, true, true},
		{"the address connected to", "192.0.2.2:8080", nil, true, true},
		{"another IP", "192.0.2.9:8080", nil, true, false},
		{"ipv6 loopback", "[::1]:8080", nil, true, true},
		{"IPv4-mapped loopback (no Sec-Fetch-Site from browsers)", "[::ffff:127.0.0.1]:8080", nil, true, false},
		{"IPv4-mapped loopback, hex", "[::ffff:7f00:1]:8080", nil, true, false},
		{"0.0.0.0", "0.0.0.0:8080", nil, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := p.CheckBrowser(request(c.host, "192.0.2.2:8080", c.headers), c.checkHost)
			if (err == nil) != c.ok {
				t.Errorf("CheckBrowser = %v, want ok=%v", err, c.ok)
			}
			if err != nil && !errors.Is(err, ErrBrowser) {
				t.Errorf("error %v does not wrap ErrBrowser", err)
			}
		})
	}
}

func TestAnyOrigin(t *testing.T) {
	p := mustPolicy(t, Settings{AllowOrigin: "*"})
	if err := p.CheckBrowser(request("127.0.0.1:8080", "", map[string]string{"Origin": "http://anything.example"}), true); err != nil {
		t.Error(err)
	}
}

func TestNewPolicyErrors(t *testing.T) {
	for _, s := range []Settings{
		{AllowIPRange: "10.0.0.1-x"},
		{TrustedProxies: "proxy.local"},
		{AllowOrigin: "console.example.com"},
		{AllowOrigin: "https://console.example.com/path"},
		{AllowOrigin: "ftp://x"},
		{AllowHost: "http://media.example.com"},
		{AllowHost: "media.example.com:8080"},
	} {
		if _, err := NewPolicy(s); err == nil {
			t.Errorf("NewPolicy(%+v) accepted", s)
		}
	}
}

func TestCORS(t *testing.T) {
	p := mustPolicy(t, Settings{AllowOrigin: "https://console.example.com"})
	for _, c := range []struct {
		origin, wantAPI, wantMedia, wantCred string
	}{
		{"https://console.example.com", "https://console.example.com", "https://console.example.com", "true"},
		{"http://player.example", "", "*", ""},
		{"", "", "*", ""},
	} {
		r := request("127.0.0.1:8080", "", map[string]string{"Origin": c.origin})
		w := httptest.NewRecorder()
		p.APICORS(w, r)
		if got := w.Header().Get("Access-Control-Allow-Origin"); got != c.wantAPI {
			t.Errorf("API, Origin %q: Allow-Origin %q, want %q", c.origin, got, c.wantAPI)
		}
		h := http.Header{}
		p.MediaCORS(h, r)
		if got := h.Get("Access-Control-Allow-Origin"); got != c.wantMedia {
			t.Errorf("media, Origin %q: Allow-Origin %q, want %q", c.origin, got, c.wantMedia)
		}
		if got := h.Get("Access-Control-Allow-Credentials"); got != c.wantCred {
			t.Errorf("media, Origin %q: Allow-Credentials %q, want %q", c.origin, got, c.wantCred)
		}
	}
}

func TestClientOf(t *testing.T) {
	trusted, _ := ParseIPRanges("127.0.0.1,10.0.0.0/8")
	for _, c := range []struct {
		name, remote, xff, realIP string
		want                      string
		forwarded                 bool
	}{
		{"direct", "192.0.2.7:1", "", "", "192.0.2.7", false},
		{"spoofed XFF from an untrusted peer", "192.0.2.7:1", "127.0.0.1", "", "192.0.2.7", true},
		{"trusted proxy", "127.0.0.1:1", "203.0.113.9", "", "203.0.113.9", false},
		{"chain of trusted proxies", "127.0.0.1:1", "203.0.113.9, 10.1.1.1", "", "203.0.113.9", false},
		{"client forged the left of the chain", "127.0.0.1:1", "127.0.0.1, 203.0.113.9", "", "203.0.113.9", false},
		{"every hop trusted: unknown", "127.0.0.1:1", "10.9.9.9, 10.1.1.1", "", "127.0.0.1", true},
		{"forged loopback through a proxy that sets X-Real-IP", "127.0.0.1:1", "127.0.0.1", "203.0.113.4", "203.0.113.4", false},
		{"X-Real-IP from a trusted proxy", "127.0.0.1:1", "", "203.0.113.4", "203.0.113.4", false},
		{"loopback proxy, not trusted", "[::1]:1", "203.0.113.9", "", "::1", true},
		{"unreadable hop", "127.0.0.1:1", "203.0.113.9, junk", "", "127.0.0.1", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = c.remote
			if c.xff != "" {
				r.Header.Set("X-Forwarded-For", c.xff)
			}
			if c.realIP != "" {
				r.Header.Set("X-Real-IP", c.realIP)
			}
			got := ClientOf(r, trusted)
			if got.Addr.String() != c.want || got.Forwarded != c.forwarded {
				t.Errorf("ClientOf = %v forwarded=%v, want %s forwarded=%v", got.Addr, got.Forwarded, c.want, c.forwarded)
			}
		})
	}
}
