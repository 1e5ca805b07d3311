package netlimit

import (
	"net"
	"testing"
)

// BenchmarkAcceptClose is the cost seen by a server: dial, Accept and
// Close over loopback TCP, bare and through a Limiter with both caps on.
func BenchmarkAcceptClose(b *testing.B) {
	for _, bb := range []struct {
		name string
		wrap func(net.Listener) net.Listener
	}{
		{"bare", func(ln net.Listener) net.Listener { return ln }},
		{"limited", func(ln net.Listener) net.Listener {
			return New(fixed(Limits{MaxConns: 1 << 20, MaxConnsPerIP: 1 << 20})).Listen(ln, "bench")
		}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			ln := bb.wrap(raw)
			defer ln.Close()
			addr := raw.Addr().String()
			for b.Loop() {
				// The kernel completes the handshake into the backlog, so
				// one goroutine can dial and then accept.
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				s, err := ln.Accept()
				if err != nil {
					b.Fatal(err)
				}
				// A reset instead of a FIN leaves no TIME_WAIT socket, so
				// many iterations do not run out of ephemeral ports.
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
				s.Close()
			}
		})
	}
}

// loopListener accepts the same conn forever, with no system call, so
// BenchmarkAdmit measures the limiter's own work.
type loopListener struct {
	net.Listener
	c net.Conn
}

func (l loopListener) Accept() (net.Conn, error) { return l.c, nil }

// BenchmarkAdmit is the limiter's overhead per connection: Accept and
// Close of an in-memory conn, bare and limited.
func BenchmarkAdmit(b *testing.B) {
	src := loopListener{c: &fakeConn{remote: addr("192.0.2.1:1935")}}
	for _, bb := range []struct {
		name string
		ln   net.Listener
	}{
		{"bare", src},
		{"limited", New(fixed(Limits{MaxConns: 1 << 20, MaxConnsPerIP: 1 << 20})).Listen(src, "bench")},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c, _ := bb.ln.Accept()
				c.Close()
			}
		})
	}
}
