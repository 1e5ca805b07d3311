//go:build linux

package pushwrite

import (
	"errors"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxIovecs is the most buffers one writev takes (Linux's IOV_MAX).
const maxIovecs = 1024

// rawWriter writes to a socket without waiting for it: the socket is
// non-blocking (Go's netpoller made it so), and a write the socket
// cannot take returns at once instead of parking the goroutine.
type rawWriter struct {
	conn  net.Conn // for its addresses in errors
	rc    syscall.RawConn
	iov   []unix.Iovec
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) // writev, made once: no closure per write
}

// newRawWriter returns a rawWriter of c, or nil when c is not a socket
// (a TLS connection) or not a non-blocking one (its descriptor was put
// into blocking mode, as os.File.Fd does to a dup of it).
func newRawWriter(c net.Conn) *rawWriter {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	nonblocking := false
	if err := rc.Control(func(fd uintptr) {
		flags, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		nonblocking = err == nil && flags&unix.O_NONBLOCK != 0
	}); err != nil || !nonblocking {
		return nil
	}
	w := &rawWriter{conn: c, rc: rc}
	w.fn = w.writev
	return w
}

// write writes as much of *out as the socket takes now and removes it
// from *out. It reports whether all of it was written.
func (w *rawWriter) write(out *net.Buffers) (n int, complete bool, err error) {
	for {
		w.iov = w.iov[:0]
		want := 0
		for _, b := range *out {
			if len(b) == 0 {
				continue
			}
			v := unix.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			w.iov = append(w.iov, v)
			want += len(b)
			if len(w.iov) == maxIovecs {
				break
			}
		}
		if want == 0 {
			*out = (*out)[:0]
			return n, true, nil
		}
		// Control, not Write: it holds the descriptor open while fn
		// runs, which is all a write that never waits needs. Write would
		// also take the write lock (this writer is the connection's only
		// one while it pushes) and reset the poller's state for a wait
		// that never comes: a cache line per player per write.
		if err := w.rc.Control(w.fn); err != nil {
			return n, false, w.opError(err)
		}
		switch w.errno {
		case 0:
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return n, false, nil
		default:
			return n, false, w.opError(os.NewSyscallError("writev", w.errno))
		}
		n += w.n
		consume(out, w.n)
		if w.n < want {
			return n, false, nil // the socket is full
		}
	}
}

// opError names a failed write as conn.Write would: "write tcp
// LOCAL->REMOTE: use of closed network connection" when Control found
// the connection closed, "write tcp LOCAL->REMOTE: writev: broken pipe"
// when the system call failed.
func (w *rawWriter) opError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		err = op.Err
	}
	local := w.conn.LocalAddr() // a socket's: never nil
	return &net.OpError{Op: "write", Net: local.Network(), Source: local, Addr: w.conn.RemoteAddr(), Err: err}
}

// writev is a raw system call. The socket is non-blocking (checked in
// newRawWriter), so the call does not wait for the peer, only for the
// kernel's own work on the write (on loopback the receiver's TCP work
// too: about 20 µs for 87 KB). Telling the scheduler about it
// (syscall.Syscall) woke the runtime's monitor thread from its sleep at
// every burst of writes, to poll every 20 µs while the burst lasted: at
// 1000 players, 1727 of its sleeps in 5 s against 264 now, and 15% more
// context switches (BENCHMARKS.md, "One worker per stream").
func (w *rawWriter) writev(fd uintptr) {
	r, _, errno := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(len(w.iov)))
	w.n, w.errno = int(r), errno
}

// release drops the buffers' pointers, and the vector itself after a
// large batch (a player's first GOP), which an idle player would
// otherwise hold.
func (w *rawWriter) release() {
	clear(w.iov)
	if cap(w.iov) > 64 {
		w.iov = nil
	}
}

// consume removes the first n bytes from *out.
func consume(out *net.Buffers, n int) {
	b := *out
	for len(b) > 0 && n >= len(b[0]) {
		n -= len(b[0])
		b[0] = nil
		b = b[1:]
	}
	if n > 0 {
		b[0] = b[0][n:]
	}
	*out = b
}
