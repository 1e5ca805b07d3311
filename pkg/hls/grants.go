package hls

import (
	"net/netip"
	"sync"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
)

// grants remembers which client addresses were recently authorised to
// play which stream. An HLS player makes a request every segment; asking
// on_play for each would flood the hook server (ZLMediaKit tracks HLS
// players with a cookie for the same reason), and segment URIs are
// relative, so they do not carry the playlist's token. A grant is
// renewed by every request and ends ttl after the last one.
type grants struct {
	mu  sync.Mutex
	ttl time.Duration
	max int
	m   map[grantKey]time.Time // expiry
}

type grantKey struct {
	key  engine.Key
	addr netip.Addr
}

func newGrants(ttl time.Duration, max int) *grants {
	return &grants{ttl: ttl, max: max, m: make(map[grantKey]time.Time)}
}

// check reports whether addr holds a live grant for key, and renews it.
func (g *grants) check(key engine.Key, addr netip.Addr, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := grantKey{key, addr}
	exp, ok := g.m[k]
	if !ok || now.After(exp) {
		delete(g.m, k)
		return false
	}
	g.m[k] = now.Add(g.ttl)
	return true
}

// add records a grant. When the table is full of live grants the grant
// is not kept: the next request is simply asked again.
func (g *grants) add(key engine.Key, addr netip.Addr, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.m) >= g.max {
		for k, exp := range g.m {
			if now.After(exp) {
				delete(g.m, k)
			}
		}
		if len(g.m) >= g.max {
			return
		}
	}
	g.m[grantKey{key, addr}] = now.Add(g.ttl)
}

// len is the number of grants held, live or not.
func (g *grants) len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.m)
}
