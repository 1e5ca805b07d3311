package netlimit

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeConn is a connection with only an address, for admission tests
// that need many remote IPs (loopback TCP offers one portably).
type fakeConn struct {
	net.Conn // nil: calling anything but RemoteAddr or Close panics
	remote   net.Addr
	closes   atomic.Int32
}

func (c *fakeConn) RemoteAddr() net.Addr { return c.remote }
func (c *fakeConn) Close() error         { c.closes.Add(1); return nil }

// strAddr is an address that is not a *net.TCPAddr, like those of
// listeners from other packages.
type strAddr string

func (a strAddr) Network() string { return "test" }
func (a strAddr) String() string  { return string(a) }

// addr parses "ip:port" into a *net.TCPAddr; anything else becomes a
// strAddr with no IP.
func addr(s string) net.Addr {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return strAddr(s)
	}
	return net.TCPAddrFromAddrPort(ap)
}

func fixed(lim Limits) func() Limits { return func() Limits { return lim } }

// testListener returns the listener admit is called with, registered
// under name like Listen does, with no real listener behind it.
func testListener(l *Limiter, name string) *listener {
	return &listener{l: l, name: name, active: l.listenerCount(name)}
}

func perIPLen(l *Limiter) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.perIP)
}

func perIPCount(l *Limiter, ip string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.perIP[netip.MustParseAddr(ip)]
}

func TestAdmit(t *testing.T) {
	tests := []struct {
		name    string
		limits  Limits
		remotes []string
		want    string // per remote: 'y' admitted, 'n' refused
		maxRef  int64  // refusals counted as max_conns
		ipRef   int64  // refusals counted as max_conns_per_ip
	}{
		{"unlimited", Limits{}, []string{"1.1.1.1:1", "1.1.1.1:2", "1.1.1.1:3"}, "yyy", 0, 0},
		{"negative is unlimited", Limits{MaxConns: -1, MaxConnsPerIP: -1}, []string{"1.1.1.1:1", "1.1.1.1:2"}, "yy", 0, 0},
		{"max conns", Limits{MaxConns: 2}, []string{"1.1.1.1:1", "2.2.2.2:1", "3.3.3.3:1", "4.4.4.4:1"}, "yynn", 2, 0},
		{"per ip", Limits{MaxConnsPerIP: 2}, []string{"1.1.1.1:1", "1.1.1.1:2", "1.1.1.1:3", "2.2.2.2:1"}, "yyny", 0, 1},
		{"ipv4-mapped ipv6 counts as ipv4", Limits{MaxConnsPerIP: 1}, []string{"1.1.1.1:1", "[::ffff:1.1.1.1]:2"}, "yn", 0, 1},
		{"ipv6 addresses apart", Limits{MaxConnsPerIP: 1}, []string{"[2001:db8::1]:1", "[2001:db8::2]:1", "[2001:db8::1]:2"}, "yyn", 0, 1},
		{"non-TCP address parsed", Limits{MaxConnsPerIP: 1}, []string{"1.1.1.1:1", "x", "x"}, "yyn", 0, 1},
		{"max conns checked first", Limits{MaxConns: 1, MaxConnsPerIP: 1}, []string{"1.1.1.1:1", "1.1.1.1:2"}, "yn", 1, 0},
		{"no ip: per ip cap does not apply", Limits{MaxConnsPerIP: 1}, []string{"pipe", "pipe", "pipe"}, "yyy", 0, 0},
		{"no ip: max conns applies", Limits{MaxConns: 1, MaxConnsPerIP: 1}, []string{"pipe", "pipe"}, "yn", 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(fixed(tt.limits))
			ln := testListener(l, "test")
			var admitted []net.Conn
			for i, r := range tt.remotes {
				c := &fakeConn{remote: addr(r)}
				if r == "x" { // not a *net.TCPAddr, but it names an IP
					c.remote = strAddr("[::ffff:9.9.9.9]:1")
				}
				got := l.admit(c, ln)
				switch {
				case tt.want[i] == 'y' && got == nil:
					t.Fatalf("conn %d from %s refused, want admitted", i, r)
				case tt.want[i] == 'n' && got != nil:
					t.Fatalf("conn %d from %s admitted, want refused", i, r)
				case got == nil && c.closes.Load() != 1:
					t.Fatalf("refused conn %d closed %d times, want 1", i, c.closes.Load())
				case got != nil && c.closes.Load() != 0:
					t.Fatalf("admitted conn %d closed", i)
				}
				if got != nil {
					admitted = append(admitted, got)
				}
			}
			if g := l.Active(); g != int64(len(admitted)) {
				t.Errorf("Active() = %d, want %d", g, len(admitted))
			}
			if g := l.ActiveOn("test"); g != int64(len(admitted)) {
				t.Errorf("ActiveOn(test) = %d, want %d", g, len(admitted))
			}
			if g := l.Refused(ReasonMaxConns); g != tt.maxRef {
				t.Errorf("Refused(%s) = %d, want %d", ReasonMaxConns, g, tt.maxRef)
			}
			if g := l.Refused(ReasonMaxConnsPerIP); g != tt.ipRef {
				t.Errorf("Refused(%s) = %d, want %d", ReasonMaxConnsPerIP, g, tt.ipRef)
			}
			for _, c := range admitted {
				c.Close()
			}
			if g, n := l.Active(), perIPLen(l); g != 0 || n != 0 {
				t.Errorf("after closing all: Active() = %d, per-IP entries = %d, want 0, 0", g, n)
			}
		})
	}
}

func TestRemoteIP(t *testing.T) {
	tests := []struct {
		name   string
		remote net.Addr
		want   string // "" for no IP
	}{
		{"ipv4", addr("192.0.2.1:1935"), "192.0.2.1"},
		{"ipv4 in 16 bytes", &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}, "192.0.2.1"},
		{"ipv4-mapped ipv6", addr("[::ffff:192.0.2.1]:1935"), "192.0.2.1"},
		{"ipv6", addr("[2001:db8::1]:1935"), "2001:db8::1"},
		{"ipv6 zone", addr("[fe80::1%eth0]:1935"), "fe80::1%eth0"},
		{"other addr type", strAddr("[::ffff:192.0.2.1]:80"), "192.0.2.1"},
		{"no ip", strAddr("pipe"), ""},
		{"nil addr", nil, ""},
		{"nil tcp addr", (*net.TCPAddr)(nil), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := remoteIP(tt.remote)
			if tt.want == "" {
				if got.IsValid() {
					t.Fatalf("remoteIP = %v, want none", got)
				}
				return
			}
			if want := netip.MustParseAddr(tt.want); got != want {
				t.Fatalf("remoteIP = %v, want %v", got, want)
			}
		})
	}
}

func TestReleaseOnce(t *testing.T) {
	tests := []struct {
		name  string
		close func(c net.Conn)
	}{
		{"twice", func(c net.Conn) { c.Close(); c.Close() }},
		{"from several goroutines", func(c net.Conn) {
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() { c.Close() })
			}
			wg.Wait()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(fixed(Limits{MaxConns: 10, MaxConnsPerIP: 10}))
			ln := testListener(l, "test")
			// Two connections, so a slot freed twice shows as 0, not 1.
			a := l.admit(&fakeConn{remote: addr("1.1.1.1:1")}, ln)
			b := l.admit(&fakeConn{remote: addr("1.1.1.1:2")}, ln)
			tt.close(a)
			if g, p, o := l.Active(), perIPCount(l, "1.1.1.1"), l.ActiveOn("test"); g != 1 || p != 1 || o != 1 {
				t.Fatalf("after closing one of two: Active %d, per IP %d, ActiveOn %d, want 1, 1, 1", g, p, o)
			}
			tt.close(b)
			if g, n, o := l.Active(), perIPLen(l), l.ActiveOn("test"); g != 0 || n != 0 || o != 0 {
				t.Fatalf("after closing both: Active %d, per-IP entries %d, ActiveOn %d, want 0, 0, 0", g, n, o)
			}
		})
	}
}

func TestPerIPEntriesDeleted(t *testing.T) {
	l := New(fixed(Limits{MaxConnsPerIP: 1}))
	ln := testListener(l, "test")
	var conns []net.Conn
	for i := range 1000 {
		ip := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		conns = append(conns, l.admit(&fakeConn{remote: net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, 1))}, ln))
	}
	if n := perIPLen(l); n != 1000 {
		t.Fatalf("per-IP entries = %d, want 1000", n)
	}
	for _, c := range conns {
		c.Close()
	}
	if n := perIPLen(l); n != 0 {
		t.Fatalf("per-IP entries after close = %d, want 0", n)
	}
}

func TestLimitsChangeAtRuntime(t *testing.T) {
	var cur atomic.Pointer[Limits]
	cur.Store(&Limits{})
	l := New(func() Limits { return *cur.Load() })
	ln := testListener(l, "test")
	admit := func(remote string) (net.Conn, *fakeConn) {
		fc := &fakeConn{remote: addr(remote)}
		return l.admit(fc, ln), fc
	}

	var open []net.Conn
	var raw []*fakeConn
	for i := range 3 {
		c, fc := admit(fmt.Sprintf("1.1.1.1:%d", i))
		if c == nil {
			t.Fatalf("conn %d refused with no limits", i)
		}
		open, raw = append(open, c), append(raw, fc)
	}

	steps := []struct {
		name   string
		limits Limits
		close  int // open connections to close first
		remote string
		admit  bool
	}{
		{"lowered below open: next refused", Limits{MaxConns: 2}, 0, "2.2.2.2:1", false},
		{"still at the limit after one close", Limits{MaxConns: 2}, 1, "2.2.2.2:1", false},
		{"under the limit", Limits{MaxConns: 2}, 1, "2.2.2.2:1", true},
		{"per-IP cap sees conns opened before it", Limits{MaxConnsPerIP: 1}, 0, "1.1.1.1:9", false},
		{"other IP under the per-IP cap", Limits{MaxConnsPerIP: 1}, 0, "3.3.3.3:1", true},
		{"raised", Limits{MaxConnsPerIP: 2}, 0, "1.1.1.1:9", true},
	}
	for _, st := range steps {
		cur.Store(&st.limits)
		for range st.close {
			open[0].Close()
			open = open[1:]
		}
		if got := l.Limits(); got != st.limits {
			t.Fatalf("%s: Limits() = %+v, want %+v", st.name, got, st.limits)
		}
		c, _ := admit(st.remote)
		if (c != nil) != st.admit {
			t.Fatalf("%s: admitted %v, want %v", st.name, c != nil, st.admit)
		}
		if c != nil {
			open = append(open, c)
		}
	}
	// Lowering a limit never closes what is open.
	if n := raw[2].closes.Load(); n != 0 {
		t.Fatalf("an open connection was closed %d times by a limit change", n)
	}
	for _, c := range open {
		c.Close()
	}
	if g := l.Active(); g != 0 {
		t.Fatalf("Active() = %d after closing all, want 0", g)
	}
}

func TestNilLimitsUnlimited(t *testing.T) {
	l := New(nil)
	if got := l.Limits(); got != (Limits{}) {
		t.Fatalf("Limits() = %+v, want zero", got)
	}
	c := l.admit(&fakeConn{remote: addr("1.1.1.1:1")}, testListener(l, "test"))
	if c == nil {
		t.Fatal("refused with nil limits")
	}
	c.Close()
	if l.Refused("nonsense") != 0 || l.ActiveOn("nonsense") != 0 {
		t.Fatal("unknown reason or listener has a count")
	}
}

// recorder is a slog.Handler keeping its records.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) attrs() []map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]string
	for _, rec := range r.recs {
		m := map[string]string{"level": rec.Level.String()}
		rec.Attrs(func(a slog.Attr) bool {
			m[a.Key] = a.Value.String()
			return true
		})
		out = append(out, m)
	}
	return out
}

func TestRefusalLogAggregated(t *testing.T) {
	rec := &recorder{}
	l := New(fixed(Limits{MaxConns: 1, MaxConnsPerIP: 1}))
	l.Log = slog.New(rec)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	l.now = func() time.Time { return now }
	ln := testListener(l, "rtmp")

	// The one open connection, from 1.1.1.1: others hit max_conns.
	open := l.admit(&fakeConn{remote: addr("1.1.1.1:1")}, ln)
	refuse := func(at time.Duration, remote string) {
		now = t0.Add(at)
		if c := l.admit(&fakeConn{remote: addr(remote)}, ln); c != nil {
			t.Fatalf("conn from %s at %v admitted", remote, at)
		}
	}
	refuse(0, "2.2.2.2:1")                     // logged: first
	refuse(100*time.Millisecond, "2.2.2.2:2")  // counted
	refuse(900*time.Millisecond, "2.2.2.2:3")  // counted
	refuse(1000*time.Millisecond, "2.2.2.2:4") // logged, stands for 3
	refuse(1500*time.Millisecond, "2.2.2.2:5") // counted, never logged
	// Per-IP refusals are spaced on their own.
	open.Close()
	l.limits = fixed(Limits{MaxConns: 10, MaxConnsPerIP: 1})
	open = l.admit(&fakeConn{remote: addr("1.1.1.1:2")}, ln)
	defer open.Close()
	refuse(1600*time.Millisecond, "1.1.1.1:3") // logged: first of its reason

	got := rec.attrs()
	want := []map[string]string{
		{"level": "WARN", "listener": "rtmp", "remote": "2.2.2.2:1", "reason": ReasonMaxConns, "limit": "1", "refused": "1"},
		{"level": "WARN", "listener": "rtmp", "remote": "2.2.2.2:4", "reason": ReasonMaxConns, "limit": "1", "refused": "3"},
		{"level": "WARN", "listener": "rtmp", "remote": "1.1.1.1:3", "reason": ReasonMaxConnsPerIP, "limit": "1", "refused": "1"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d log lines, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			t.Errorf("line %d:\n got %v\nwant %v", i, got[i], want[i])
		}
	}
	if g := l.Refused(ReasonMaxConns); g != 5 {
		t.Errorf("Refused(max_conns) = %d, want 5 (logged or not)", g)
	}
}
