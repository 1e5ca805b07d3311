//go:build linux

package webrtc

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// GSO bounds: the kernel takes at most 64 segments per send (UDP_MAX_SEGMENTS
// before Linux 6.x raised it) and a datagram of at most 64 KiB.
const (
	gsoMaxSegments = 64
	gsoMaxBytes    = 60000
)

// batchConn is the ICE UDP socket. Packets written to a destination while
// it is held (Hold, then Release) are coalesced into one sendmsg with
// UDP_SEGMENT (UDP GSO), so a viewer's packets of a frame cross the
// kernel's UDP and IP layers once instead of once each: that send path
// per packet and viewer was most of WebRTC's CPU. Writes to destinations
// not held go out at once, as on the plain socket.
type batchConn struct {
	*net.UDPConn
	raw syscall.RawConn
	v6  bool // an AF_INET6 socket: IPv4 peers as v4-mapped addresses
	log *slog.Logger
	off atomic.Bool // the kernel refused GSO: plain writes from then on

	mu   sync.Mutex
	held map[netip.AddrPort]*gsoBatch

	batches, packets atomic.Uint64 // sends with GSO and the packets in them
}

// gsoBatch is what is held for one destination.
type gsoBatch struct {
	holds int
	buf   []byte
	seg   int  // size of every segment but the last
	n     int  // segments in buf
	short bool // a shorter segment ended buf: the next write starts another
}

var gsoBuffers = sync.Pool{New: func() any { b := make([]byte, 0, gsoMaxBytes); return &b }}

// newBatchConn wraps a UDP socket; anything else is returned as is.
func newBatchConn(pc net.PacketConn, log *slog.Logger) net.PacketConn {
	udp, ok := pc.(*net.UDPConn)
	if !ok {
		return pc
	}
	raw, err := udp.SyscallConn()
	if err != nil {
		return pc
	}
	c := &batchConn{UDPConn: udp, raw: raw, log: log, held: map[netip.AddrPort]*gsoBatch{}}
	_ = raw.Control(func(fd uintptr) {
		if sa, err := unix.Getsockname(int(fd)); err == nil {
			_, c.v6 = sa.(*unix.SockaddrInet6)
		}
	})
	return c
}

// ReadFromAddrPort and WriteToAddrPort are pion ICE's allocation-free
// path (ice.AddrPortReaderWriter), which it takes only from a plain
// *net.UDPConn otherwise.
func (c *batchConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.UDPConn.ReadFromUDPAddrPort(b)
}

func (c *batchConn) WriteToAddrPort(b []byte, to netip.AddrPort) (int, error) {
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	c.mu.Lock()
	bt := c.held[to]
	if bt == nil || c.off.Load() || len(b) > gsoMaxBytes {
		c.mu.Unlock()
		return c.UDPConn.WriteToUDPAddrPort(b, to)
	}
	var full []byte
	var seg int
	if bt.n > 0 && (bt.short || len(b) > bt.seg || bt.n == gsoMaxSegments || len(bt.buf)+len(b) > gsoMaxBytes) {
		full, seg = bt.buf, bt.seg
		bt.buf, bt.n, bt.short = nil, 0, false
	}
	if bt.buf == nil {
		bt.buf = (*gsoBuffers.Get().(*[]byte))[:0]
	}
	if bt.n == 0 {
		bt.seg = len(b)
	}
	bt.buf = append(bt.buf, b...)
	bt.n++
	bt.short = len(b) < bt.seg
	c.mu.Unlock()
	if full != nil {
		c.send(full, seg, to)
	}
	return len(b), nil
}

func (c *batchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); ok {
		return c.WriteToAddrPort(b, ua.AddrPort())
	}
	return c.UDPConn.WriteTo(b, addr)
}

// Hold starts coalescing the packets written to to; every Hold needs its
// Release.
func (c *batchConn) Hold(to netip.AddrPort) {
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	c.mu.Lock()
	bt := c.held[to]
	if bt == nil {
		bt = &gsoBatch{}
		c.held[to] = bt
	}
	bt.holds++
	c.mu.Unlock()
}

// Release sends what Hold coalesced, once the last holder lets go.
func (c *batchConn) Release(to netip.AddrPort) {
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	c.mu.Lock()
	bt := c.held[to]
	if bt == nil {
		c.mu.Unlock()
		return
	}
	var full []byte
	var seg int
	if bt.holds--; bt.holds <= 0 {
		delete(c.held, to)
		full, seg = bt.buf, bt.seg
	} else if bt.n > 0 {
		full, seg = bt.buf, bt.seg
		bt.buf, bt.n, bt.short = nil, 0, false
	}
	c.mu.Unlock()
	if full != nil {
		c.send(full, seg, to)
	}
}

// send writes buf, segments of seg bytes (the last one may be shorter),
// with one sendmsg; it returns buf to the pool. Errors are a UDP send's:
// the peer's loss, mended by NACKs, as a plain write's would be.
func (c *batchConn) send(buf []byte, seg int, to netip.AddrPort) {
	defer func() { buf = buf[:0]; gsoBuffers.Put(&buf) }() // buf itself is not moved below
	if len(buf) <= seg {
		_, _ = c.UDPConn.WriteToUDPAddrPort(buf, to)
		return
	}
	if !c.off.Load() {
		err := c.sendGSO(buf, seg, to)
		if err == nil {
			c.batches.Add(1)
			c.packets.Add(uint64((len(buf) + seg - 1) / seg))
			return
		}
		if !gsoRefused(err) {
			return
		}
		if c.off.CompareAndSwap(false, true) {
			c.log.Warn("webrtc: the kernel refused UDP GSO; sending packet by packet", "error", err)
		}
	}
	for rest := buf; len(rest) > 0; {
		n := min(seg, len(rest))
		_, _ = c.UDPConn.WriteToUDPAddrPort(rest[:n], to)
		rest = rest[n:]
	}
}

func (c *batchConn) sendGSO(buf []byte, seg int, to netip.AddrPort) error {
	var sa unix.Sockaddr
	switch {
	case c.v6:
		sa = &unix.SockaddrInet6{Port: int(to.Port()), Addr: to.Addr().As16()}
	case to.Addr().Is4():
		sa = &unix.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().As4()}
	default:
		return unix.EAFNOSUPPORT
	}
	var oob [unix.SizeofCmsghdr + 8]byte // CmsgSpace(2)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], uint16(seg))
	var serr error
	err := c.raw.Write(func(fd uintptr) bool {
		_, serr = unix.SendmsgN(int(fd), buf, oob[:unix.CmsgSpace(2)], sa, 0)
		return !errors.Is(serr, unix.EAGAIN)
	})
	if err != nil {
		return err
	}
	return serr
}

// gsoRefused reports an error that says the socket or device cannot do
// UDP GSO at all (not a send that failed once).
func gsoRefused(err error) bool {
	return errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOPROTOOPT) ||
		errors.Is(err, unix.EOPNOTSUPP)
}
