//go:build linux

package rtpserver

import (
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchLen is the most datagrams one recvmmsg call reads. A camera's
// socket holds one or two at a paced tick; a burst takes a few calls.
const batchLen = 8

// udpBatch is what a recvmmsg call reads into: batchLen datagrams, each
// in a buffer of udpBufSize, with its sender. Its headers point into
// itself; it is heap-allocated and never copied.
type udpBatch struct {
	hdrs  [batchLen]mmsghdr
	iovs  [batchLen]unix.Iovec
	names [batchLen]unix.RawSockaddrAny
	bufs  [batchLen][udpBufSize]byte
}

// mmsghdr is struct mmsghdr: Go lays it out as C does on every Linux
// architecture (the message header, then the length, padded to the
// header's alignment).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// udpBatches lends a batch for the length of one drain. The drains of a
// thousand RTP servers run one after another on the processors, so a
// few batches serve them all, where a batch each would be 128 KiB per
// camera. It keeps up to spareBatches between drains (a sync.Pool would
// drop them at every garbage collection, to allocate 128 KiB again);
// more drains at once borrow batches that are then dropped.
var udpBatches = make(chan *udpBatch, spareBatches)

const spareBatches = 4

func getBatch() *udpBatch {
	select {
	case b := <-udpBatches:
		return b
	default:
	}
	b := new(udpBatch)
	for i := range b.hdrs {
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(udpBufSize)
		b.hdrs[i].hdr.Iov = &b.iovs[i]
		b.hdrs[i].hdr.SetIovlen(1)
		b.hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	}
	return b
}

func putBatch(b *udpBatch) {
	select {
	case udpBatches <- b:
	default:
	}
}

// drainUDP reads every datagram queued on rc without waiting for more,
// calling fn for each with its bytes (valid during the call), recvmsg
// flags and sender; it returns how many it read.
//
// It reads with recvmmsg, up to batchLen datagrams a system call, and
// stops when a call returns fewer: the queue was empty. Reading one
// datagram a call took two calls for a camera's one or two datagrams
// per paced tick (the second finding the queue empty); at 500 RTP
// streams the reads were a fifth of the server's CPU (BENCHMARKS.md,
// "PS over RTP in batches"). buf is not used: the datagrams land in a
// pooled batch.
func drainUDP(rc syscall.RawConn, buf []byte, fn func(b []byte, flags int, from netip.AddrPort)) (int, error) {
	batch := getBatch()
	defer putBatch(batch)
	got := 0
	var readErr error
	err := rc.Read(func(fd uintptr) bool {
		for {
			for i := range batch.hdrs {
				batch.hdrs[i].hdr.Namelen = unix.SizeofSockaddrAny
				batch.hdrs[i].hdr.Flags = 0
				batch.hdrs[i].len = 0
			}
			r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&batch.hdrs[0])), batchLen, unix.MSG_DONTWAIT, 0, 0)
			switch errno {
			case 0:
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return true
			default:
				readErr = errno
				return true
			}
			n := int(r)
			for i := range n {
				h := &batch.hdrs[i]
				fn(batch.bufs[i][:min(int(h.len), udpBufSize)], int(h.hdr.Flags), rawAddrPort(&batch.names[i]))
			}
			got += n
			if n < batchLen {
				return true
			}
		}
	})
	if err != nil {
		return got, err
	}
	return got, readErr
}

// rawAddrPort is the IPv4 or IPv6 address a recvmmsg call wrote (the
// port in network byte order), without the Sockaddr allocation of the
// syscall package's conversion.
func rawAddrPort(sa *unix.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case unix.AF_INET:
		in := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := (*[2]byte)(unsafe.Pointer(&in.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(in.Addr), uint16(port[0])<<8|uint16(port[1]))
	case unix.AF_INET6:
		in := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		port := (*[2]byte)(unsafe.Pointer(&in.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(in.Addr), uint16(port[0])<<8|uint16(port[1]))
	}
	return netip.AddrPort{}
}
