package netlimit

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// wait is how long a test waits for something that should happen at
// once; it only bounds a failure, a passing test never waits it out.
const wait = 10 * time.Second

// waitFor polls cond until it holds or wait passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// server runs an accept loop on a limited loopback listener and hands
// the admitted connections to the test.
type server struct {
	ln    net.Listener
	conns chan net.Conn
	err   chan error // the error that ended Accept
}

func startServer(t *testing.T, l *Limiter, name string) *server {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: l.Listen(raw, name), conns: make(chan net.Conn, 16), err: make(chan error, 1)}
	go func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				s.err <- err
				return
			}
			s.conns <- c
		}
	}()
	t.Cleanup(func() {
		s.ln.Close()
		<-s.err
		for {
			select {
			case c := <-s.conns:
				c.Close()
			default:
				return
			}
		}
	})
	return s
}

func dial(t *testing.T, s *server) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.ln.Addr().String(), wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// admitted returns the server side of the next connection the server
// admits.
func admitted(t *testing.T, s *server) net.Conn {
	t.Helper()
	select {
	case c := <-s.conns:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(wait):
		t.Fatal("no connection admitted")
		return nil
	}
}

// refused checks that the server closed client's connection: the client
// reads end of file (or a reset) rather than waiting.
func refused(t *testing.T, client net.Conn) {
	t.Helper()
	client.SetReadDeadline(time.Now().Add(wait))
	n, err := client.Read(make([]byte, 1))
	if n != 0 || !(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("refused connection read %d bytes, error %v; want end of file or reset", n, err)
	}
}

// exchange checks that client and srv still talk both ways.
func exchange(t *testing.T, client, srv net.Conn) {
	t.Helper()
	for _, p := range [][2]net.Conn{{client, srv}, {srv, client}} {
		if _, err := p[0].Write([]byte("ping")); err != nil {
			t.Fatalf("write: %v", err)
		}
		p[1].SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(p[1], buf); err != nil || string(buf) != "ping" {
			t.Fatalf("read %q, %v; want ping", buf, err)
		}
	}
}

func TestMaxConnsOverTCP(t *testing.T) {
	l := New(fixed(Limits{MaxConns: 2}))
	s := startServer(t, l, "rtmp")

	c1 := dial(t, s)
	s1 := admitted(t, s)
	c2 := dial(t, s)
	s2 := admitted(t, s)

	for range 3 {
		refused(t, dial(t, s))
	}
	if g := l.Refused(ReasonMaxConns); g != 3 {
		t.Fatalf("Refused(max_conns) = %d, want 3", g)
	}
	// The sessions that were there are untouched.
	exchange(t, c1, s1)
	exchange(t, c2, s2)

	s1.Close()
	c3 := dial(t, s)
	s3 := admitted(t, s)
	exchange(t, c3, s3)
	if g := l.Active(); g != 2 {
		t.Fatalf("Active() = %d, want 2", g)
	}
}

func TestMaxConnsPerIPOverTCP(t *testing.T) {
	l := New(fixed(Limits{MaxConnsPerIP: 1}))
	s := startServer(t, l, "rtmp")

	c1 := dial(t, s)
	s1 := admitted(t, s)
	refused(t, dial(t, s))
	if g := l.Refused(ReasonMaxConnsPerIP); g != 1 {
		t.Fatalf("Refused(max_conns_per_ip) = %d, want 1", g)
	}
	exchange(t, c1, s1)
}

// The total is shared by every listener of a Limiter.
func TestMaxConnsAcrossListeners(t *testing.T) {
	l := New(fixed(Limits{MaxConns: 2}))
	rtmp := startServer(t, l, "rtmp")
	web := startServer(t, l, "http")

	dial(t, rtmp)
	sr := admitted(t, rtmp)
	dial(t, web)
	admitted(t, web)
	if r, h := l.ActiveOn("rtmp"), l.ActiveOn("http"); r != 1 || h != 1 {
		t.Fatalf("ActiveOn rtmp %d, http %d; want 1, 1", r, h)
	}
	refused(t, dial(t, rtmp))
	refused(t, dial(t, web))

	sr.Close()
	dial(t, web)
	admitted(t, web)
	if r, h, a := l.ActiveOn("rtmp"), l.ActiveOn("http"), l.Active(); r != 0 || h != 2 || a != 2 {
		t.Fatalf("ActiveOn rtmp %d, http %d, Active %d; want 0, 2, 2", r, h, a)
	}
}

func TestTCPReleaseOnce(t *testing.T) {
	l := New(fixed(Limits{MaxConns: 2}))
	s := startServer(t, l, "rtmp")
	dial(t, s)
	a := admitted(t, s)
	dial(t, s)
	b := admitted(t, s)

	if err := a.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := a.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v, want net.ErrClosed as from the bare conn", err)
	}
	done := make(chan struct{})
	go func() { b.Close(); close(done) }()
	b.Close()
	<-done
	if g := l.Active(); g != 0 {
		t.Fatalf("Active() = %d, want 0", g)
	}
	// Both slots are free again, not more.
	dial(t, s)
	admitted(t, s)
	dial(t, s)
	admitted(t, s)
	refused(t, dial(t, s))
}

// Servers stop their accept loop on net.ErrClosed; the wrapper must let
// it through whether Close comes before or during Accept.
func TestListenerCloseReturnsErrClosed(t *testing.T) {
	l := New(nil)
	s := startServer(t, l, "http") // blocked in Accept
	s.ln.Close()
	select {
	case err := <-s.err:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
		s.err <- err // for the cleanup
	case <-time.After(wait):
		t.Fatal("Accept did not return after Close")
	}
	if _, err := s.ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept on a closed listener: %v, want net.ErrClosed", err)
	}
}

// errListener fails every Accept with err.
type errListener struct {
	net.Listener
	err error
}

func (e errListener) Accept() (net.Conn, error) { return nil, e.err }

type tempErr struct{}

func (tempErr) Error() string   { return "accept: too many open files" }
func (tempErr) Timeout() bool   { return false }
func (tempErr) Temporary() bool { return true }

// http.Server backs off and retries only when err.(net.Error) is
// Temporary, a type assertion that wrapping would defeat.
func TestAcceptErrorUnchanged(t *testing.T) {
	var want net.Error = tempErr{}
	ln := New(nil).Listen(errListener{err: want}, "http")
	_, err := ln.Accept()
	if ne, ok := err.(net.Error); !ok || ne != want {
		t.Fatalf("Accept error %#v, want the listener's own %#v", err, want)
	}
}
