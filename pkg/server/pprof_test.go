package server

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/config"
)

// TestPprof: /debug/pprof/ is absent by default; with http.pprof on it
// answers only callers the API answers (here: the secret), and serves a
// real heap profile.
func TestPprof(t *testing.T) {
	t.Parallel()
	off := startServer(t, nil)
	if code, _ := off.get(t, "/debug/pprof/heap"); code != http.StatusNotFound {
		t.Errorf("pprof off: /debug/pprof/heap answered %d, want 404", code)
	}

	on := startServer(t, func(c *config.Config) {
		c.HTTP.Pprof = true
		c.API.Secret = "s3"
		c.General.WriteTimeout = time.Second
	})
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/debug/pprof/heap", http.StatusForbidden},
		{"/debug/pprof/heap?secret=wrong", http.StatusForbidden},
		{"/debug/pprof/heap?secret=s3", http.StatusOK},
		{"/debug/pprof/?secret=s3", http.StatusOK},
	} {
		code, body := on.get(t, tc.path)
		if code != tc.want {
			t.Errorf("%s: %d, want %d (%.100s)", tc.path, code, tc.want, body)
		}
		if tc.want == http.StatusOK && tc.path == "/debug/pprof/heap?secret=s3" &&
			!bytes.HasPrefix(body, []byte{0x1f, 0x8b}) { // a gzipped profile proto
			t.Errorf("heap profile does not look like one: % x", body[:min(len(body), 8)])
		}
		if tc.want == http.StatusForbidden && !bytes.Contains(body, []byte(`"code":`)) {
			t.Errorf("%s: refusal %q is not the API's JSON error", tc.path, body)
		}
	}
	req, _ := http.NewRequest("GET", on.httpURL+"/debug/pprof/heap?secret=s3", nil)
	req.Header.Set("Origin", "https://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin profile request: %d, want 403", resp.StatusCode)
	}

	// A trace longer than the write timeout of ordinary replies is whole.
	resp, err = http.Get(on.httpURL + "/debug/pprof/trace?seconds=2&secret=s3")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || len(body) == 0 {
		t.Errorf("2 s trace with a 1 s write timeout: %d, %d bytes, %v", resp.StatusCode, len(body), err)
	}
}
