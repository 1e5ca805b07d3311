// Package session keeps the list of open client connections (RTMP,
// HTTP-FLV, WebSocket-FLV, ...) so the API can list and kick them.
package session

import (
	"net"
	"sort"
	"sync"
	"time"
)

// Info describes one connection.
type Info struct {
	ID       string // unique, e.g. "rtmp-12"
	Protocol string // "rtmp", "http-flv", "ws-flv"
	TypeID   string // ZLMediaKit's typeid for the session class
	Local    net.Addr
	Remote   net.Addr
	Since    time.Time
}

type entry struct {
	info  Info
	close func()
}

// Registry is the set of open sessions. Its lock is held for map
// operations only; Kick closes connections outside it.
type Registry struct {
	mu       sync.Mutex
	sessions map[string]*entry
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{sessions: make(map[string]*entry)}
}

// Add registers a session; close must end it (close its connection) and
// be safe to call more than once. It returns the function that removes
// the session, to be called when the connection ends.
func (r *Registry) Add(info Info, close func()) (remove func()) {
	if info.Since.IsZero() {
		info.Since = time.Now()
	}
	e := &entry{info: info, close: close}
	r.mu.Lock()
	r.sessions[info.ID] = e
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		if r.sessions[info.ID] == e {
			delete(r.sessions, info.ID)
		}
		r.mu.Unlock()
	}
}

// List returns every session, oldest first.
func (r *Registry) List() []Info {
	r.mu.Lock()
	out := make([]Info, 0, len(r.sessions))
	for _, e := range r.sessions {
		out = append(out, e.info)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Since.Equal(out[j].Since) {
			return out[i].ID < out[j].ID
		}
		return out[i].Since.Before(out[j].Since)
	})
	return out
}

// Len returns the number of open sessions.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sessions)
}

// Kick ends the session id and reports whether it existed.
func (r *Registry) Kick(id string) bool {
	r.mu.Lock()
	e := r.sessions[id]
	r.mu.Unlock()
	if e == nil {
		return false
	}
	e.close()
	return true
}

// KickMatching ends every session for which match is true and returns how
// many it ended.
func (r *Registry) KickMatching(match func(Info) bool) int {
	var victims []*entry
	r.mu.Lock()
	for _, e := range r.sessions {
		if match(e.info) {
			victims = append(victims, e)
		}
	}
	r.mu.Unlock()
	for _, e := range victims {
		e.close()
	}
	return len(victims)
}
