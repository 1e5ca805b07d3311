package netlimit

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// holder is the wrapper not to write: it hides the connection's
// unexported writeBuffers, so net.Buffers.WriteTo falls back to one
// Write per buffer. It is the control of TestKeepsWritev.
type holder struct{ c net.Conn }

func (h holder) Write(p []byte) (int, error) { return h.c.Write(p) }

// writevOp is the Op of the net.OpError from a failed writev, which
// names the system call; a failed Write says "write".
func writevOp(t *testing.T) string {
	switch runtime.GOOS {
	case "windows":
		return "wsasend"
	case "js", "wasip1", "plan9":
		t.Skipf("no writev on %s", runtime.GOOS)
	}
	return "writev"
}

// pair returns both ends of a connection accepted through l on network.
func pair(t *testing.T, l *Limiter, network string) (client, srv net.Conn) {
	t.Helper()
	address := "127.0.0.1:0"
	if network == "unix" {
		if runtime.GOOS == "windows" {
			t.Skip("no unix sockets")
		}
		dir, err := os.MkdirTemp("", "netlimit") // short: sun_path is ~100 bytes
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		address = filepath.Join(dir, "s")
	}
	raw, err := net.Listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	ln := l.Listen(raw, network)
	defer ln.Close()
	client, err = net.DialTimeout(network, ln.Addr().String(), wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	srv, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return client, srv
}

// The servers write media with net.Buffers.WriteTo on the accepted conn;
// the wrapper must keep that a single writev. The proof is which system
// call fails once the write deadline has passed: a failed writev reports
// Op "writev", the per-buffer fallback Op "write".
func TestKeepsWritev(t *testing.T) {
	op := writevOp(t)
	tests := []struct {
		name    string
		network string
		embeds  reflect.Type
	}{
		{"tcp", "tcp", reflect.TypeFor[*net.TCPConn]()},
		{"unix", "unix", reflect.TypeFor[*net.UnixConn]()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(nil)
			client, srv := pair(t, l, tt.network)

			// The wrapper embeds the net package's conn type, so its method
			// set is a superset of it, unexported methods included.
			typ := reflect.TypeOf(srv).Elem()
			if f := typ.Field(0); !f.Anonymous || f.Type != tt.embeds {
				t.Fatalf("%v does not embed %v first", typ, tt.embeds)
			}
			if _, ok := srv.(syscall.Conn); !ok {
				t.Fatalf("%T lost SyscallConn", srv)
			}
			if _, ok := srv.(interface{ CloseWrite() error }); !ok {
				t.Fatalf("%T lost CloseWrite", srv)
			}
			if _, ok := srv.(io.ReaderFrom); !ok && tt.network == "tcp" {
				t.Fatalf("%T lost ReadFrom (sendfile)", srv)
			}

			// Every byte arrives, in order.
			var bufs net.Buffers
			var want []byte
			for i := range 100 {
				b := bytes.Repeat([]byte{byte(i)}, 1+i*97)
				bufs = append(bufs, b)
				want = append(want, b...)
			}
			got := make(chan []byte, 1)
			go func() {
				b := make([]byte, len(want))
				client.SetReadDeadline(time.Now().Add(wait))
				n, _ := io.ReadFull(client, b)
				got <- b[:n]
			}()
			n, err := bufs.WriteTo(srv)
			if err != nil || n != int64(len(want)) {
				t.Fatalf("WriteTo = %d, %v; want %d, nil", n, err, len(want))
			}
			if len(bufs) != 0 {
				t.Fatalf("WriteTo left %d buffers", len(bufs))
			}
			if b := <-got; !bytes.Equal(b, want) {
				t.Fatalf("client read %d bytes, not the %d written", len(b), len(want))
			}

			// Which system call WriteTo used.
			srv.SetWriteDeadline(time.Now().Add(-time.Second))
			for _, w := range []struct {
				name string
				w    io.Writer
				op   string
			}{{"wrapper", srv, op}, {"net.Conn holder (control)", holder{srv}, "write"}} {
				bufs := net.Buffers{[]byte("a"), []byte("b")}
				_, err := bufs.WriteTo(w.w)
				var oe *net.OpError
				if !errors.As(err, &oe) || oe.Op != w.op {
					t.Errorf("%s: WriteTo past the deadline: %v, want a %q error", w.name, err, w.op)
				}
			}
		})
	}
}

// http.Server hands Hijack the very conn it accepted, the wrapper; the
// handler that owns it afterwards frees the slot by closing it.
func TestHijackedConnReleasesSlot(t *testing.T) {
	l := New(fixed(Limits{MaxConns: 1}))
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := l.Listen(raw, "http")
	hijacked := make(chan net.Conn, 1)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/hijack" {
				io.WriteString(w, "ok")
				return
			}
			c, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			hijacked <- c
		}),
		ErrorLog: log.New(io.Discard, "", 0),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v, want http.ErrServerClosed", err)
		}
	}()
	get := func(path string) net.Conn {
		c, err := net.DialTimeout("tcp", raw.Addr().String(), wait)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		return c
	}

	get("/hijack")
	var hc net.Conn
	select {
	case hc = <-hijacked:
	case <-time.After(wait):
		t.Fatal("no hijacked conn")
	}
	if _, ok := hc.(*tcpConn); !ok {
		t.Fatalf("Hijack returned %T, want the limiter's *tcpConn", hc)
	}
	if g := l.ActiveOn("http"); g != 1 {
		t.Fatalf("ActiveOn(http) = %d with a hijacked conn, want 1", g)
	}
	refused(t, get("/")) // the hijacked conn still holds the only slot

	hc.Close()
	if g := l.Active(); g != 0 {
		t.Fatalf("Active() = %d after the hijacker closed, want 0", g)
	}
	c := get("/")
	c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("request after the slot was freed: %v", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 2))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "ok") {
		t.Fatalf("response %d %q, want 200 ok", resp.StatusCode, body)
	}
	// The kept-alive conn is http.Server's to close.
	srv.Close()
	waitFor(t, "http.Server.Close to free the slots", func() bool { return l.Active() == 0 })
}
