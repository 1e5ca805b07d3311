package netlimit

import (
	"net"
	"net/netip"
	"sync/atomic"
)

// slot is one admitted connection's share of the counts.
type slot struct {
	l    *Limiter
	ip   netip.Addr
	on   *atomic.Int64
	done atomic.Bool
}

// release gives the slot back the first time only: servers close a
// connection from more than one place (the session on exit, the server
// on shutdown, an API kick) and each of those must not free a slot.
func (s *slot) release() {
	if s.done.CompareAndSwap(false, true) {
		s.l.release(s)
	}
}

// The wrappers embed the concrete connection rather than hold a net.Conn
// so every method of it stays promoted, unexported ones included:
// net.Buffers.WriteTo uses writev only when its writer has net's
// unexported writeBuffers method, and the servers write media that way.
// Promoted too are ReadFrom/WriteTo (sendfile, splice), CloseWrite and
// SyscallConn. Only Close is overridden.

type tcpConn struct {
	*net.TCPConn
	s slot
}

// Close closes the socket, then frees the slot: the count never drops
// below the number of descriptors still open.
func (c *tcpConn) Close() error {
	err := c.TCPConn.Close()
	c.s.release()
	return err
}

type unixConn struct {
	*net.UnixConn
	s slot
}

func (c *unixConn) Close() error {
	err := c.UnixConn.Close()
	c.s.release()
	return err
}

// conn is the fallback for any other net.Conn (a test pipe, a listener
// of another package); it keeps only the net.Conn methods.
type conn struct {
	net.Conn
	s slot
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.s.release()
	return err
}

func wrap(c net.Conn, l *Limiter, ip netip.Addr, on *atomic.Int64) net.Conn {
	switch nc := c.(type) {
	case *net.TCPConn:
		w := &tcpConn{TCPConn: nc}
		w.s.l, w.s.ip, w.s.on = l, ip, on
		return w
	case *net.UnixConn:
		w := &unixConn{UnixConn: nc}
		w.s.l, w.s.ip, w.s.on = l, ip, on
		return w
	default:
		w := &conn{Conn: c}
		w.s.l, w.s.ip, w.s.on = l, ip, on
		return w
	}
}
