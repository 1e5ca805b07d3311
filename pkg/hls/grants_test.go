package hls

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
)

func TestGrants(t *testing.T) {
	g := newGrants(time.Minute, 3)
	key := engine.NewKey("", "live", "a")
	other := engine.NewKey("", "live", "b")
	ip := netip.MustParseAddr("10.0.0.1")
	now := time.Unix(1000, 0)
	if g.check(key, ip, now) {
		t.Fatal("a grant before any was given")
	}
	g.add(key, ip, now)
	if !g.check(key, ip, now.Add(59*time.Second)) {
		t.Error("grant gone before its TTL")
	}
	// The check renewed it.
	if !g.check(key, ip, now.Add(118*time.Second)) {
		t.Error("grant not renewed by a request")
	}
	if g.check(other, ip, now) || g.check(key, netip.MustParseAddr("10.0.0.2"), now) {
		t.Error("a grant for one stream and address opens another")
	}
	if g.check(key, ip, now.Add(179*time.Second)) {
		t.Error("grant outlived its TTL after the last request")
	}
	// Bounded: when full of live grants, a new one is not kept; expired
	// ones make room.
	for i := 0; i < 3; i++ {
		g.add(key, netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}), now)
	}
	g.add(key, netip.MustParseAddr("10.2.0.0"), now)
	if g.len() != 3 || g.check(key, netip.MustParseAddr("10.2.0.0"), now) {
		t.Errorf("full table took a grant: %d held", g.len())
	}
	g.add(key, netip.MustParseAddr("10.2.0.0"), now.Add(2*time.Minute))
	if g.len() != 1 || !g.check(key, netip.MustParseAddr("10.2.0.0"), now.Add(2*time.Minute)) {
		t.Errorf("expired grants not swept: %d held", g.len())
	}
}

// countingAuthorizer allows every player and counts the questions.
type countingAuthorizer struct{ n int }

func (a *countingAuthorizer) AuthorizePlay(context.Context, engine.Key, engine.SessionInfo) error {
	a.n++
	return nil
}

// TestAuthorizeGrantNeedsIP: a grant is kept per client IP; a client with
// none (a unix socket's) is asked every time, for a grant to the zero
// address would let in every other such client.
func TestAuthorizeGrantNeedsIP(t *testing.T) {
	key := engine.NewKey("", "live", "a")
	for _, tc := range []struct {
		remote string
		asked  int
	}{
		{"192.0.2.1:1234", 1},
		{"@", 3},
		{"", 3},
	} {
		a := &countingAuthorizer{}
		l := &Live{Authorizer: a}
		for range 3 {
			r := httptest.NewRequest(http.MethodGet, "/live/a/hls.m3u8", nil)
			r.RemoteAddr = tc.remote
			if err := l.authorize(r, key); err != nil {
				t.Fatalf("%q: %v", tc.remote, err)
			}
		}
		if a.n != tc.asked {
			t.Errorf("remote %q: asked %d times for 3 requests, want %d", tc.remote, a.n, tc.asked)
		}
	}
}
