package pushwrite

import (
	"errors"
	"net"
	"testing"

	"github.com/mediakit/mediakit/internal/testutil"
)

// Writes are raw system calls that must not wait, so a socket in
// blocking mode gets no rawWriter (and its writer runs on a goroutine).
func TestRawWriterNeedsNonBlockingSocket(t *testing.T) {
	_, server := testutil.TCPPair(t)
	if newRawWriter(server) == nil {
		t.Fatal("no rawWriter for a socket of the net package")
	}
	f, err := server.File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Fd() // puts the descriptor, which the dup shares with server, into blocking mode
	if newRawWriter(server) != nil {
		t.Fatal("a rawWriter for a socket in blocking mode")
	}
}

// A write on a closed connection fails as conn.Write would, without
// touching the descriptor: the session logs it as the player's end.
func TestRawWriterClosedConnection(t *testing.T) {
	_, server := testutil.TCPPair(t)
	raw := newRawWriter(server)
	if raw == nil {
		t.Fatal("no rawWriter for a socket of the net package")
	}
	server.Close()
	out := net.Buffers{[]byte("flv")}
	n, complete, err := raw.write(&out)
	if n != 0 || complete || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close = %d, %v, %v; want 0, false, net.ErrClosed", n, complete, err)
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "write" || op.Addr == nil {
		t.Fatalf("error %q: want a write error naming the peer", err)
	}
}
