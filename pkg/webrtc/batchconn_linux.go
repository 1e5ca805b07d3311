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
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// GSO bounds: the kernel takes at most 64 segments per send (UDP_MAX_SEGMENTS
// before Linux 6.x raised it) and a datagram of at most 64 KiB.
const (
	gsoMaxSegments = 64
	gsoMaxBytes    = 60000
)

// batchConn is the ICE UDP socket. Packets written to a destination while
// it is held (Hold, then Release) are queued and leave together when the
// last holder lets go: runs of equal-size packets (a frame's) each become
// one message with UDP_SEGMENT (UDP GSO), and the messages one sendmmsg.
// So the kernel's UDP and IP layers run once per frame instead of once
// per packet, and a viewer's wake-up costs one system call: that send path
// per packet and viewer was most of WebRTC's CPU. Writes to destinations
// not held go out at once, as on the plain socket.
type batchConn struct {
	*net.UDPConn
	batch interface {
		WriteBatch(ms []ipv4.Message, flags int) (int, error)
	}
	log *slog.Logger
	off atomic.Bool // the kernel refused GSO: plain writes from then on

	mu   sync.Mutex
	held map[netip.AddrPort]*gsoBatch

	batches, packets atomic.Uint64 // GSO messages sent and the packets in them
}

// gsoBatch is what is queued for one destination: buf holds the packets
// back to back, runs says where each run of equal sizes is.
type gsoBatch struct {
	holds int
	buf   []byte
	runs  []gsoRun
}

// gsoRun is buf[start:end] in segments of seg bytes, the last one maybe
// shorter (which ends the run).
type gsoRun struct {
	start, end, seg int
	n               int
	short           bool
}

// Bounds of what one destination queues before it is sent anyway.
const (
	gsoMaxRuns  = 32
	gsoMaxQueue = 512 << 10
)

var gsoBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// newBatchConn wraps a UDP socket; anything else is returned as is.
func newBatchConn(pc net.PacketConn, log *slog.Logger) net.PacketConn {
	udp, ok := pc.(*net.UDPConn)
	if !ok {
		return pc
	}
	c := &batchConn{UDPConn: udp, log: log, held: map[netip.AddrPort]*gsoBatch{}}
	// ipv4's batch writes address IPv6 peers too (the sockaddr follows
	// the address), and Linux takes an IPv4 address on a dual-stack
	// socket.
	c.batch = ipv4.NewPacketConn(udp)
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
	var full *gsoBatch
	if len(bt.runs) > 0 && (len(bt.runs) == gsoMaxRuns && bt.runs[len(bt.runs)-1].closedFor(len(b)) || len(bt.buf)+len(b) > gsoMaxQueue) {
		full = &gsoBatch{buf: bt.buf, runs: bt.runs}
		bt.buf, bt.runs = nil, nil
	}
	if bt.buf == nil {
		bt.buf = (*gsoBuffers.Get().(*[]byte))[:0]
	}
	start := len(bt.buf)
	bt.buf = append(bt.buf, b...)
	if n := len(bt.runs); n > 0 && !bt.runs[n-1].closedFor(len(b)) {
		r := &bt.runs[n-1]
		r.end, r.n, r.short = len(bt.buf), r.n+1, len(b) < r.seg
	} else {
		bt.runs = append(bt.runs, gsoRun{start: start, end: len(bt.buf), seg: len(b), n: 1})
	}
	c.mu.Unlock()
	if full != nil {
		c.send(full, to)
	}
	return len(b), nil
}

// closedFor reports whether a packet of size cannot join the run.
func (r gsoRun) closedFor(size int) bool {
	return r.short || size > r.seg || r.n == gsoMaxSegments || r.end-r.start+size > gsoMaxBytes
}

func (c *batchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); ok {
		return c.WriteToAddrPort(b, ua.AddrPort())
	}
	return c.UDPConn.WriteTo(b, addr)
}

// Hold starts queueing the packets written to to; every Hold needs its
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

// Release sends what was queued for to once its last holder lets go.
func (c *batchConn) Release(to netip.AddrPort) {
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	c.mu.Lock()
	bt := c.held[to]
	if bt == nil {
		c.mu.Unlock()
		return
	}
	if bt.holds--; bt.holds > 0 {
		c.mu.Unlock()
		return
	}
	delete(c.held, to)
	c.mu.Unlock()
	if len(bt.runs) > 0 {
		c.send(bt, to)
	}
}

// send writes a batch's runs, one GSO message each, with as few sendmmsg
// calls as the kernel takes; it returns the buffer to the pool. Errors
// are a UDP send's: the peer's loss, mended by NACKs, as a plain write's
// would be.
func (c *batchConn) send(bt *gsoBatch, to netip.AddrPort) {
	defer func() { b := bt.buf[:0]; gsoBuffers.Put(&b) }()
	if !c.off.Load() {
		err := c.sendGSO(bt, to)
		if err == nil {
			return
		}
		if !gsoRefused(err) {
			return
		}
		if c.off.CompareAndSwap(false, true) {
			c.log.Warn("webrtc: the kernel refused UDP GSO; sending packet by packet", "error", err)
		}
	}
	for _, r := range bt.runs {
		for rest := bt.buf[r.start:r.end]; len(rest) > 0; {
			n := min(r.seg, len(rest))
			_, _ = c.UDPConn.WriteToUDPAddrPort(rest[:n], to)
			rest = rest[n:]
		}
	}
}

func (c *batchConn) sendGSO(bt *gsoBatch, to netip.AddrPort) error {
	addr := net.UDPAddrFromAddrPort(to)
	msgs := make([]ipv4.Message, len(bt.runs))
	oobs := make([]byte, len(bt.runs)*unix.CmsgSpace(2))
	for i, r := range bt.runs {
		msgs[i] = ipv4.Message{Buffers: [][]byte{bt.buf[r.start:r.end]}, Addr: addr}
		if r.n > 1 {
			oob := oobs[i*unix.CmsgSpace(2) : (i+1)*unix.CmsgSpace(2)]
			h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
			h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
			h.SetLen(unix.CmsgLen(2))
			binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], uint16(r.seg))
			msgs[i].OOB = oob
		}
	}
	for sent := 0; sent < len(msgs); {
		n, err := c.batch.WriteBatch(msgs[sent:], 0)
		if err != nil {
			return err
		}
		for _, r := range bt.runs[sent : sent+n] {
			if r.n > 1 {
				c.batches.Add(1)
				c.packets.Add(uint64(r.n))
			}
		}
		sent += n
	}
	return nil
}

// gsoRefused reports an error that says the socket or device cannot do
// UDP GSO at all (not a send that failed once).
func gsoRefused(err error) bool {
	return errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOPROTOOPT) ||
		errors.Is(err, unix.EOPNOTSUPP)
}
