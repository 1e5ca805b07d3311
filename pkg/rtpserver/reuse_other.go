//go:build !(linux || darwin || freebsd)

package rtpserver

import (
	"net/netip"
	"syscall"
)

func setReuse(fd uintptr, network string, reusePort bool) error { return nil }

// msgTrunc: Windows reports a datagram larger than the buffer as an
// error (WSAEMSGSIZE) rather than a flag; no flag to test here.
const msgTrunc = 0

const udpBufSize = maxPacket

// drainUDP: reads are not paced here; every datagram is read as it comes.
func drainUDP(rc syscall.RawConn, buf []byte, fn func(n, flags int, from netip.AddrPort)) (int, error) {
	return 0, nil
}
