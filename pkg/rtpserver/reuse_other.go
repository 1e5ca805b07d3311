//go:build !(linux || darwin || freebsd)

package rtpserver

func setReuse(fd uintptr, network string, reusePort bool) error { return nil }

// msgTrunc: Windows reports a datagram larger than the buffer as an
// error (WSAEMSGSIZE) rather than a flag; no flag to test here.
const msgTrunc = 0

const udpBufSize = maxPacket
