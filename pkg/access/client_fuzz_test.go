package access

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzRequestHeaders feeds the headers a client controls (forwarding
// headers, Host, Origin, Referer, Sec-Fetch-Site) to ClientOf and the
// browser checks: no panic, and a peer that is not a trusted proxy is
// never taken for anyone but itself. Seeds in testdata/fuzz.
func FuzzRequestHeaders(f *testing.F) {
	policy, err := NewPolicy(Settings{
		AllowIPRange:   "::1,127.0.0.1,10.0.0.0-10.255.255.255",
		TrustedProxies: "127.0.0.1,10.0.0.0/8",
		AllowOrigin:    "https://console.example.com",
		AllowHost:      "*.example.com",
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, remote, xff, realIP, host, origin, referer, site string) {
		r := httptest.NewRequest(http.MethodGet, "/index/api/getServerConfig", nil)
		r.RemoteAddr, r.Host = remote, host
		for k, v := range map[string]string{"X-Forwarded-For": xff, "X-Real-Ip": realIP, "Origin": origin, "Referer": referer, "Sec-Fetch-Site": site} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		c := policy.Client(r)
		if c.Addr != c.Peer && !policy.TrustedProxies.Contains(c.Peer) {
			t.Fatalf("untrusted peer %v taken for %v (X-Forwarded-For %q, X-Real-IP %q)", c.Peer, c.Addr, xff, realIP)
		}
		_ = policy.CheckBrowser(r, true)
		_ = policy.HostAllowed(r)
		policy.MediaCORS(http.Header{}, r)
		policy.APICORS(httptest.NewRecorder(), r)
	})
}
