//go:build linux || darwin || freebsd

package rtpserver

import (
	"errors"
	"net/netip"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// setReuse lets a TCP port in TIME_WAIT be bound again at once (a server
// reopened right after a close), and with re_use_port lets several
// sockets share the port. UDP gets no SO_REUSEADDR: on Linux it would let
// two sockets bind one UDP port and split its packets.
func setReuse(fd uintptr, network string, reusePort bool) error {
	if strings.HasPrefix(network, "tcp") {
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return err
		}
	}
	if reusePort {
		return unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}
	return nil
}

// msgTrunc is the recvmsg flag of a datagram larger than the buffer.
const msgTrunc = unix.MSG_TRUNC

const udpBufSize = 16 << 10

// canDrainUDP: a paced read drains the socket with non-blocking reads
// (drainUDP).
const canDrainUDP = true

// drainUDP reads every datagram queued on rc without waiting for more,
// calling fn for each with its length, recvmsg flags and sender; it
// returns how many it read.
//
// It calls the standard library's syscall.Recvmsg, not x/sys/unix's:
// the latter asks the socket for its protocol (a getsockopt system call)
// on every IPv4 or IPv6 datagram, to tell L2TP apart, which was 9% of the
// server's CPU at 500 RTP streams (BENCHMARKS.md, "PS over RTP: one
// system call per datagram less"; BenchmarkDrainUDP).
func drainUDP(rc syscall.RawConn, buf []byte, fn func(n, flags int, from netip.AddrPort)) (int, error) {
	got := 0
	var readErr error
	err := rc.Read(func(fd uintptr) bool {
		for {
			n, _, flags, sa, err := syscall.Recvmsg(int(fd), buf, nil, syscall.MSG_DONTWAIT)
			switch {
			case errors.Is(err, syscall.EINTR):
				continue
			case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EWOULDBLOCK):
				return true
			case err != nil:
				readErr = err
				return true
			}
			got++
			fn(n, flags, sockaddrAddrPort(sa))
		}
	})
	if err != nil {
		return got, err
	}
	return got, readErr
}

func sockaddrAddrPort(sa syscall.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
	}
	return netip.AddrPort{}
}
