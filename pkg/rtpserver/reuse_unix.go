//go:build linux || darwin || freebsd

package rtpserver

import (
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

// sockaddrAddrPort is the address of a sender as syscall returns it.
func sockaddrAddrPort(sa syscall.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
	}
	return netip.AddrPort{}
}
