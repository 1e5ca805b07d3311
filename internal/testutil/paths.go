package testutil

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// Clip returns the absolute path of testdata/clips/name in this module. The
// module root is found by walking up from the working directory (the package
// directory under go test) to the first directory holding go.mod. The test
// fails if the root or the clip cannot be found.
func Clip(t testing.TB, name string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("testutil.Clip(%q): %v", name, err)
	}
	p := filepath.Join(root, "testdata", "clips", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testutil.Clip(%q): %v (regenerate with testdata/gen.sh)", name, err)
	}
	return p
}

// moduleRoot walks up from the working directory to the directory holding
// go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !fi.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod found in the working directory or any parent")
		}
		dir = parent
	}
}

var (
	portsMu sync.Mutex
	// handedOut remembers every port returned by FreePort in this process so
	// that parallel tests never get the same one, even if the kernel offers
	// it again after the probe listener was closed.
	handedOut = map[int]bool{}
)

// FreePort returns a port on 127.0.0.1 that was free for both TCP and UDP at
// the time of the call and has not been returned before in this test binary.
// The port is released before FreePort returns, so another process could in
// principle take it; bind it promptly.
func FreePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	var lastErr error
	for range 100 {
		port, err := probePort()
		if err != nil {
			lastErr = err
			continue
		}
		if handedOut[port] {
			continue
		}
		handedOut[port] = true
		return port
	}
	t.Fatalf("testutil.FreePort: no free port found: %v", lastErr)
	return 0
}

// probePort asks the kernel for a free TCP port and checks the same UDP port
// is free too.
func probePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	defer l.Close()
	u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return 0, err
	}
	u.Close()
	return port, nil
}

// FreeAddr returns "127.0.0.1:PORT" for a port obtained from [FreePort].
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}
