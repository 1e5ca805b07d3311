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

// canDrainUDP: reads are not paced here (readUDP); every datagram is
// read as it comes.
const canDrainUDP = false

// drainUDP is not used here (canDrainUDP).
func drainUDP(rc syscall.RawConn, buf []byte, fn func(n, flags int, from netip.AddrPort)) (int, error) {
	return 0, nil
}
