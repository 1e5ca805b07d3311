package server

import (
	"net/http"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/auth"
	"github.com/mediakit/mediakit/pkg/config"
)

// TestAuthBehindTrustedProxy: behind a reverse proxy listed in
// http.trusted_proxies, auth.users ips rules see the client the proxy
// forwarded, for HTTP-FLV and HLS alike, not the proxy's address.
func TestAuthBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(c *config.Config) {
		c.HTTP.TrustedProxies = "127.0.0.1"
		c.General.MaxStreamWait = 500 * time.Millisecond
		c.Auth.Users = []auth.User{{IPs: []string{"10.0.0.0/8"}, Actions: []string{"play"}}}
	})
	for _, c := range []struct {
		name, xff string
		want      int // 404: allowed, then no such stream; 403: refused
	}{
		{"LAN viewer through the proxy", "10.1.2.3", http.StatusNotFound},
		{"outside viewer through the proxy", "203.0.113.9", http.StatusForbidden},
		{"the proxy itself", "", http.StatusForbidden},
		{"outside viewer forging a LAN hop", "10.1.2.3, 203.0.113.9", http.StatusForbidden},
	} {
		for _, path := range []string{"/live/none.live.flv", "/live/none/hls.m3u8"} {
			h := map[string]string{}
			if c.xff != "" {
				h["X-Forwarded-For"] = c.xff
			}
			resp, body := httpGet(t, ts.httpURL+path, h)
			if resp.StatusCode != c.want {
				t.Errorf("%s, %s: HTTP %d %s, want %d", c.name, path, resp.StatusCode, body, c.want)
			}
		}
	}
}
