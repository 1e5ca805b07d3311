// Package netlimit caps the connections a server holds open, in total
// across its listeners and per remote IP. A connection over a limit is
// closed as soon as it is accepted; connections already open are never
// touched, so lowering a limit only stops new ones until enough have
// ended.
//
// The limiter has no goroutines and no timers: it does its work inside
// Accept and Close, under one mutex that is never held across I/O
// (closing a refused connection and logging happen after it is released).
package netlimit

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Refusal reasons, as counted by Refused and logged in the "reason"
// attribute.
const (
	ReasonMaxConns      = "max_conns"
	ReasonMaxConnsPerIP = "max_conns_per_ip"
)

// Reasons lists every refusal reason, for exporting the counters.
var Reasons = []string{ReasonMaxConns, ReasonMaxConnsPerIP}

type reason int

const (
	rMaxConns reason = iota
	rMaxConnsPerIP
	numReasons
)

// logEvery spaces refusal log lines per reason: a flood of refused
// connections must not become a flood of log lines.
const logEvery = time.Second

// Limits are the caps in force; zero or negative means unlimited.
type Limits struct {
	MaxConns      int // open connections across every listener of the Limiter
	MaxConnsPerIP int // open connections from one remote IP
}

// Limiter counts the connections accepted through its listeners.
type Limiter struct {
	// Log receives refusals at Warn, at most one line per reason per
	// second; nil logs nothing. Set it before the first Listen.
	Log *slog.Logger

	limits func() Limits
	now    func() time.Time // replaced by tests of the log spacing

	// active and the per-listener counters are written under mu (so the
	// check against the limit and the increment are one step) and read
	// without it, so a metrics scrape never waits for an accept.
	active  atomic.Int64
	refused [numReasons]atomic.Int64

	mu sync.Mutex
	// perIP holds only IPs with an open connection: an entry is deleted
	// when its count drops to zero, so it is bounded by active.
	perIP     map[netip.Addr]int
	listeners map[string]*atomic.Int64
	logs      [numReasons]logState
}

// logState spaces the log lines of one reason.
type logState struct {
	last    time.Time
	pending int64 // refusals since the last line, this one included
}

// New returns a Limiter reading its limits from limits at every accept,
// so a configuration change applies to the next connection without a
// restart; limits must be cheap (e.g. an atomic pointer load). A nil
// limits means unlimited.
func New(limits func() Limits) *Limiter {
	return &Limiter{
		limits:    limits,
		now:       time.Now,
		perIP:     make(map[netip.Addr]int),
		listeners: make(map[string]*atomic.Int64),
	}
}

// Limits returns the limits in force now.
func (l *Limiter) Limits() Limits {
	if l.limits == nil {
		return Limits{}
	}
	return l.limits()
}

// Active is the number of open connections across every listener.
func (l *Limiter) Active() int64 { return l.active.Load() }

// ActiveOn is the number of open connections accepted through the
// listeners named name, 0 for a name never passed to Listen.
func (l *Limiter) ActiveOn(name string) int64 {
	l.mu.Lock()
	n := l.listeners[name]
	l.mu.Unlock()
	if n == nil {
		return 0
	}
	return n.Load()
}

// Refused is the number of connections refused for reason (one of
// Reasons) since New; 0 for an unknown reason.
func (l *Limiter) Refused(reason string) int64 {
	switch reason {
	case ReasonMaxConns:
		return l.refused[rMaxConns].Load()
	case ReasonMaxConnsPerIP:
		return l.refused[rMaxConnsPerIP].Load()
	}
	return 0
}

// listenerCount returns the counter shared by the listeners named name.
func (l *Limiter) listenerCount(name string) *atomic.Int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.listeners[name]
	if n == nil {
		n = new(atomic.Int64)
		l.listeners[name] = n
	}
	return n
}

// admit takes a slot for c and returns c wrapped to give it back on
// Close, or closes c and returns nil when a limit is reached.
func (l *Limiter) admit(c net.Conn, ln *listener) net.Conn {
	lim := l.Limits()
	remote := c.RemoteAddr()
	ip := remoteIP(remote)

	l.mu.Lock()
	r, limit := l.over(lim, ip)
	if r < 0 {
		l.active.Add(1)
		if ip.IsValid() {
			// Counted even with no per-IP cap, so a cap turned on at run
			// time sees the connections already open.
			l.perIP[ip]++
		}
		ln.active.Add(1)
		l.mu.Unlock()
		return wrap(c, l, ip, ln.active)
	}
	l.refused[r].Add(1)
	logNow, count := l.logs[r].note(l.now())
	l.mu.Unlock()

	_ = c.Close()
	if logNow && l.Log != nil {
		l.Log.Warn("connection refused: limit reached",
			"listener", ln.name,
			"remote", addrString(remote),
			"reason", reasonName(r),
			"limit", limit,
			"refused", count)
	}
	return nil
}

// over returns the reason ip may not open one more connection and the
// limit in question, or -1. l.mu must be held.
func (l *Limiter) over(lim Limits, ip netip.Addr) (reason, int) {
	if lim.MaxConns > 0 && l.active.Load() >= int64(lim.MaxConns) {
		return rMaxConns, lim.MaxConns
	}
	if lim.MaxConnsPerIP > 0 && ip.IsValid() && l.perIP[ip] >= lim.MaxConnsPerIP {
		return rMaxConnsPerIP, lim.MaxConnsPerIP
	}
	return -1, 0
}

// release gives back the slot taken by admit.
func (l *Limiter) release(s *slot) {
	l.mu.Lock()
	l.active.Add(-1)
	if s.ip.IsValid() {
		if n := l.perIP[s.ip] - 1; n > 0 {
			l.perIP[s.ip] = n
		} else {
			delete(l.perIP, s.ip)
		}
	}
	s.on.Add(-1)
	l.mu.Unlock()
}

// note counts a refusal and reports whether to log it now, with the
// number of refusals the line stands for.
func (s *logState) note(now time.Time) (bool, int64) {
	s.pending++
	if !s.last.IsZero() && now.Sub(s.last) < logEvery {
		return false, 0
	}
	n := s.pending
	s.last, s.pending = now, 0
	return true, n
}

func reasonName(r reason) string {
	if r == rMaxConnsPerIP {
		return ReasonMaxConnsPerIP
	}
	return ReasonMaxConns
}

// remoteIP is the IP of a connection's remote address with IPv4-mapped IPv6 unmapped,
// so a client counts once whether it reached a dual-stack or an IPv4
// socket; the zero Addr when the peer has no IP (unix socket, pipe),
// which the per-IP cap then does not apply to.
func remoteIP(remote net.Addr) netip.Addr {
	switch a := remote.(type) {
	case nil:
		return netip.Addr{}
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Addr{}
		}
		return ap.Addr().Unmap()
	}
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
