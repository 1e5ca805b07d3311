//go:build linux || darwin || freebsd

package rtpserver

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// drainUDPXSys is drainUDP as it was, on x/sys/unix's Recvmsg: the
// reference BenchmarkDrainUDP measures against.
func drainUDPXSys(rc syscall.RawConn, buf []byte, fn func(n, flags int, from netip.AddrPort)) (int, error) {
	got := 0
	var readErr error
	err := rc.Read(func(fd uintptr) bool {
		for {
			n, _, flags, sa, err := unix.Recvmsg(int(fd), buf, nil, unix.MSG_DONTWAIT)
			switch {
			case errors.Is(err, unix.EINTR):
				continue
			case errors.Is(err, unix.EAGAIN):
				return true
			case err != nil:
				readErr = err
				return true
			}
			got++
			var from netip.AddrPort
			if sa, ok := sa.(*unix.SockaddrInet4); ok {
				from = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
			}
			fn(n, flags, from)
		}
	})
	if err != nil {
		return got, err
	}
	return got, readErr
}

// udpPair is a receiving socket on the loopback address of network
// ("udp4" or "udp6") and a sender connected to it.
func udpPair(tb testing.TB, network string) (*net.UDPConn, syscall.RawConn, *net.UDPConn) {
	tb.Helper()
	ip := net.IPv4(127, 0, 0, 1)
	if network == "udp6" {
		ip = net.IPv6loopback
	}
	in, err := net.ListenUDP(network, &net.UDPAddr{IP: ip})
	if err != nil {
		tb.Skipf("no %s loopback: %v", network, err)
	}
	tb.Cleanup(func() { in.Close() })
	if err := in.SetReadBuffer(4 << 20); err != nil {
		tb.Fatal(err)
	}
	rc, err := in.SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := net.DialUDP(network, nil, in.LocalAddr().(*net.UDPAddr))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { out.Close() })
	return in, rc, out
}

// TestDrainUDPReadsEveryDatagramWithItsSender: a drain returns every
// queued datagram once, whole, with the sender's address (IPv4 and IPv6),
// then stops without waiting for more.
func TestDrainUDPReadsEveryDatagramWithItsSender(t *testing.T) {
	for _, network := range []string{"udp4", "udp6"} {
		t.Run(network, func(t *testing.T) { testDrainUDP(t, network) })
	}
}

func testDrainUDP(t *testing.T, network string) {
	_, rc, out := udpPair(t, network)
	want := out.LocalAddr().(*net.UDPAddr).AddrPort()
	for i := range 20 {
		if _, err := out.Write(make([]byte, 100+i)); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, udpBufSize)
	var sizes []int
	// Loopback delivery can trail the writes: drain until all came.
	for deadline := time.Now().Add(5 * time.Second); len(sizes) < 20 && time.Now().Before(deadline); {
		_, err := drainUDP(rc, buf, func(n, flags int, from netip.AddrPort) {
			if from != want || flags&msgTrunc != 0 {
				t.Errorf("datagram of %d bytes from %v (flags %#x), want from %v whole", n, from, flags, want)
			}
			sizes = append(sizes, n)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(sizes) != 20 {
		t.Fatalf("drained %d datagrams of 20", len(sizes))
	}
	for i, n := range sizes {
		if n != 100+i {
			t.Fatalf("datagram %d: %d bytes, want %d: %v", i, n, 100+i, sizes)
		}
	}
	if got, err := drainUDP(rc, buf, func(int, int, netip.AddrPort) {}); got != 0 || err != nil {
		t.Fatalf("a drain of an empty socket read %d, %v", got, err)
	}
}

// BenchmarkDrainUDP reads batches of 64 camera-sized datagrams (1400
// bytes) queued on a loopback socket, with drainUDP (the standard
// library's recvmsg) and the x/sys/unix version it replaced, which made
// a getsockopt call for every datagram. The timer stops while a batch is
// sent.
func BenchmarkDrainUDP(b *testing.B) {
	for _, bc := range []struct {
		name  string
		drain func(syscall.RawConn, []byte, func(int, int, netip.AddrPort)) (int, error)
	}{{"syscall", drainUDP}, {"xsys", drainUDPXSys}} {
		b.Run(bc.name, func(b *testing.B) {
			_, rc, out := udpPair(b, "udp4")
			pkt := make([]byte, 1400)
			buf := make([]byte, udpBufSize)
			const batch = 64
			b.SetBytes(batch * int64(len(pkt)))
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				for range batch {
					if _, err := out.Write(pkt); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				for read, deadline := 0, time.Now().Add(5*time.Second); read < batch; {
					got, err := bc.drain(rc, buf, func(int, int, netip.AddrPort) {})
					if err != nil {
						b.Fatal(err)
					}
					if read += got; got == 0 && time.Now().After(deadline) {
						b.Fatalf("%d of %d datagrams came", read, batch)
					}
				}
			}
		})
	}
}
