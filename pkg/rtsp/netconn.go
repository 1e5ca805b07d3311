package rtsp

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// netConn is the connection gortsplib sees. It serialises writes, so a
// player can write its RTP straight to the socket (many packets in one
// writev, payloads shared with every other player) while gortsplib
// writes its RTSP responses and RTCP on the same connection: each of
// gortsplib's messages is one Write, and no write of ours can land in
// the middle of one.
type netConn struct {
	inner net.Conn
	// coalesce makes writeBuffers copy into one buffer: TLS would turn
	// every small buffer of a writev into its own record.
	coalesce bool

	mu sync.Mutex // held across one write, never across anything else
	// gate, when set, is closed once the next Write completes: a player
	// starts only after gortsplib sent the PLAY response.
	gate chan struct{}
	flat []byte // coalesce buffer, under mu
	// firstRead is set while the read deadline armFirstRead set is in
	// force: until gortsplib sets its own or the first response is
	// written.
	firstRead atomic.Bool
}

func newNetConn(c net.Conn) *netConn {
	_, isTLS := c.(*tls.Conn)
	return &netConn{inner: c, coalesce: isTLS}
}

func (c *netConn) Read(p []byte) (int, error) { return c.inner.Read(p) }

// armFirstRead bounds the time to the first request: gortsplib reads a
// connection's first bytes (to tell RTSP from an HTTP or WebSocket
// tunnel) and a tunnel's HTTP request with no deadline, so a client that
// sends nothing, or a request head a byte at a time, would hold the
// connection forever. gortsplib's own deadline replaces this one at its
// first SetReadDeadline (before it reads an RTSP request); a connection
// that answered a tunnel's request (an HTTP GET channel, a WebSocket
// upgrade, a 400) before any has its deadline lifted at that write, as
// gortsplib leaves those without one.
func (c *netConn) armFirstRead(d time.Duration) {
	if d <= 0 {
		return
	}
	c.firstRead.Store(true)
	_ = c.inner.SetReadDeadline(time.Now().Add(d))
}

func (c *netConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.firstRead.Swap(false) {
		_ = c.inner.SetReadDeadline(time.Time{})
	}
	n, err := c.inner.Write(p)
	gate := c.gate
	c.gate = nil
	c.mu.Unlock()
	if gate != nil {
		close(gate)
	}
	return n, err
}

// afterNextWrite returns a channel closed once the next Write (the
// response being prepared) has been written.
func (c *netConn) afterNextWrite() <-chan struct{} {
	ch := make(chan struct{})
	c.mu.Lock()
	if c.gate != nil {
		close(c.gate)
	}
	c.gate = ch
	c.mu.Unlock()
	return ch
}

// writeBuffers writes bufs as one unit with a deadline of timeout. It
// consumes bufs.
func (c *netConn) writeBuffers(bufs *net.Buffers, timeout time.Duration) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.inner.SetWriteDeadline(time.Now().Add(timeout))
	if !c.coalesce {
		return bufs.WriteTo(c.inner)
	}
	c.flat = c.flat[:0]
	for _, b := range *bufs {
		c.flat = append(c.flat, b...)
	}
	*bufs = (*bufs)[:0]
	n, err := c.inner.Write(c.flat)
	if cap(c.flat) > 256<<10 {
		c.flat = nil // a GOP burst: do not keep its buffer for an idle player
	}
	return int64(n), err
}

// Close does not take mu: it must unblock a write in progress.
func (c *netConn) Close() error         { return c.inner.Close() }
func (c *netConn) LocalAddr() net.Addr  { return c.inner.LocalAddr() }
func (c *netConn) RemoteAddr() net.Addr { return c.inner.RemoteAddr() }
func (c *netConn) SetDeadline(t time.Time) error {
	c.firstRead.Store(false)
	return c.inner.SetDeadline(t)
}

func (c *netConn) SetReadDeadline(t time.Time) error {
	c.firstRead.Store(false)
	return c.inner.SetReadDeadline(t)
}

func (c *netConn) SetWriteDeadline(t time.Time) error { return c.inner.SetWriteDeadline(t) }

// srvListener wraps accepted connections in netConn, and turns accept
// errors a server survives (out of file descriptors) into a pause
// instead of the end of the server: gortsplib stops serving at the
// first error Accept returns.
type srvListener struct {
	net.Listener
	tls    *tls.Config
	closed chan struct{}
	once   sync.Once
	onErr  func(error, time.Duration)
	// firstRead bounds the wait for a connection's first request (see
	// netConn.armFirstRead); set before serving starts.
	firstRead time.Duration
}

func newSrvListener(ln net.Listener, tlsConfig *tls.Config, onErr func(error, time.Duration)) *srvListener {
	return &srvListener{Listener: ln, tls: tlsConfig, closed: make(chan struct{}), onErr: onErr}
}

func (l *srvListener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			if l.tls != nil {
				c = tls.Server(c, l.tls)
			}
			nc := newNetConn(c)
			nc.armFirstRead(l.firstRead)
			return nc, nil
		}
		select {
		case <-l.closed:
			return nil, err
		default:
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			if l.onErr != nil {
				l.onErr(err, delay)
			}
			select {
			case <-time.After(delay):
			case <-l.closed:
				return nil, err
			}
			continue
		}
		return nil, err
	}
}

func (l *srvListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}
