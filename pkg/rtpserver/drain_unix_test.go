//go:build linux || darwin || freebsd

package rtpserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// drainUDPRecvmsg reads one datagram a system call, as drainUDP did
// before Linux read them in batches (and still does on the BSDs): the
// reference BenchmarkDrainUDP measures against.
func drainUDPRecvmsg(rc syscall.RawConn, buf []byte, fn func(b []byte, flags int, from netip.AddrPort)) (int, error) {
	got := 0
	var readErr error
	err := rc.Read(func(fd uintptr) bool {
		for {
			n, _, flags, sa, err := syscall.Recvmsg(int(fd), buf, nil, syscall.MSG_DONTWAIT)
			switch {
			case errors.Is(err, syscall.EINTR):
				continue
			case errors.Is(err, syscall.EAGAIN):
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
	// More than a batch, of sizes that tell them apart, one larger than
	// the buffer (truncated, flagged).
	const count = 21
	for i := range count {
		size := 100 + i
		if i == count-1 {
			size = udpBufSize + 10
		}
		b := make([]byte, size)
		b[0] = byte(i)
		if _, err := out.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, udpBufSize)
	type datagram struct{ first, n, flags int }
	var got []datagram
	// Loopback delivery can trail the writes: drain until all came.
	for deadline := time.Now().Add(5 * time.Second); len(got) < count && time.Now().Before(deadline); {
		_, err := drainUDP(rc, buf, func(b []byte, flags int, from netip.AddrPort) {
			if from != want {
				t.Errorf("datagram of %d bytes from %v, want from %v", len(b), from, want)
			}
			got = append(got, datagram{int(b[0]), len(b), flags})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != count {
		t.Fatalf("drained %d datagrams of %d", len(got), count)
	}
	for i, d := range got[:count-1] {
		if d.first != i || d.n != 100+i || d.flags&msgTrunc != 0 {
			t.Fatalf("datagram %d: %+v, want %d bytes starting %d, whole: %+v", i, d, 100+i, i, got)
		}
	}
	if last := got[count-1]; last.first != count-1 || last.n != udpBufSize || last.flags&msgTrunc == 0 {
		t.Fatalf("the datagram larger than the buffer: %+v, want %d bytes, flagged truncated", last, udpBufSize)
	}
	if n, err := drainUDP(rc, buf, func([]byte, int, netip.AddrPort) {}); n != 0 || err != nil {
		t.Fatalf("a drain of an empty socket read %d, %v", n, err)
	}
}

// BenchmarkDrainUDP reads batches of 64 camera-sized datagrams (1400
// bytes) queued on a loopback socket, with drainUDP (recvmmsg on Linux)
// and one datagram a recvmsg call, the way it replaced. The timer stops
// while a batch is sent.
func BenchmarkDrainUDP(b *testing.B) {
	for _, bc := range []struct {
		name  string
		drain func(syscall.RawConn, []byte, func([]byte, int, netip.AddrPort)) (int, error)
	}{{"drainUDP", drainUDP}, {"recvmsg", drainUDPRecvmsg}} {
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
					got, err := bc.drain(rc, buf, func([]byte, int, netip.AddrPort) {})
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

// TestDrainUDPConcurrentDrains: drains of many sockets at once (more than
// the batches kept between drains) each get their own socket's
// datagrams, whole, in order.
func TestDrainUDPConcurrentDrains(t *testing.T) {
	const sockets, each = 12, 40
	errs := make(chan error, sockets)
	for s := range sockets {
		_, rc, out := udpPair(t, "udp4")
		go func() {
			buf := make([]byte, udpBufSize)
			next := 0
			for deadline := time.Now().Add(10 * time.Second); next < each; {
				if time.Now().After(deadline) {
					errs <- fmt.Errorf("socket %d: %d datagrams of %d", s, next, each)
					return
				}
				if next%5 == 0 {
					for i := next; i < next+5; i++ {
						if _, err := out.Write([]byte{byte(s), byte(i), 7, 7, 7}); err != nil {
							errs <- err
							return
						}
					}
				}
				var bad error
				_, err := drainUDP(rc, buf, func(b []byte, _ int, _ netip.AddrPort) {
					if len(b) != 5 || b[0] != byte(s) || b[1] != byte(next) {
						bad = fmt.Errorf("socket %d: datagram %v, want socket %d number %d", s, b, s, next)
					}
					next++
				})
				if err == nil {
					err = bad
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range sockets {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
