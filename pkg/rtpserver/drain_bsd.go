//go:build darwin || freebsd

package rtpserver

import (
	"errors"
	"net/netip"
	"syscall"
)

// drainUDP reads every datagram queued on rc without waiting for more,
// calling fn for each with its bytes (in buf, valid during the call),
// recvmsg flags and sender; it returns how many it read. One recvmsg
// call per datagram, and one more that finds the queue empty (Linux
// reads them in batches: drain_linux.go).
//
// It calls the standard library's syscall.Recvmsg, not x/sys/unix's:
// the latter asks the socket for its protocol (a getsockopt system call)
// on every IPv4 or IPv6 datagram, to tell L2TP apart, which was 9% of the
// server's CPU at 500 RTP streams (BENCHMARKS.md, "PS over RTP: one
// system call per datagram less").
func drainUDP(rc syscall.RawConn, buf []byte, fn func(b []byte, flags int, from netip.AddrPort)) (int, error) {
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
			fn(buf[:n], flags, sockaddrAddrPort(sa))
		}
	})
	if err != nil {
		return got, err
	}
	return got, readErr
}
