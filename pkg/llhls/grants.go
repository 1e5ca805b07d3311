package llhls

import (
	"net/netip"
	"sync"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
)

// GrantTTL is how long a client stays authorised after its last request
// when no Viewers are set: longer than any player waits between
// playlist reloads.
const GrantTTL = 60 * time.Second

// maxGrants bounds the authorisation cache (one entry per client address
// and stream).
const maxGrants = 1 << 16

// grants remembers which client addresses were recently authorised to
// play which stream, as MPEG-TS HLS does: an LL-HLS player makes several
// requests per part, and asking on_play for each would flood the hook
// server; the media URIs are relative and carry the playlist's query
// (gohlslib appends it), but a cache is what keeps the hook quiet.
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

// add records a grant; when the table is full of live grants it is not
// kept and the next request is asked again.
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
