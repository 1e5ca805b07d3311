package pushwrite

import (
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
