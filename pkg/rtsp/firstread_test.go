package rtsp

import (
	"bufio"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
)

// TestServerFirstRequestDeadline: gortsplib reads a connection's first
// bytes (RTSP or an HTTP/WebSocket tunnel?) and a tunnel's HTTP request
// without a deadline; the server bounds that wait by IdleTimeout, so a
// client that sends nothing, three bytes, or a tunnel request that never
// ends is closed, while a client that sends its requests in time is
// served past it.
func TestServerFirstRequestDeadline(t *testing.T) {
	srvNoLeaks(t)
	const idle = 500 * time.Millisecond
	env := newSrvEnv(t, func(s *Server) { s.IdleTimeout = idle })
	for _, tc := range []struct{ name, send string }{
		{"nothing", ""},
		{"three bytes", "OPT"},
		{"an HTTP tunnel request without its end", "GET /live/x HTTP/1.1\r\nX-Sessioncookie: a\r\n"},
		{"a WebSocket upgrade without its end", "GET /live/x HTTP/1.1\r\nUpgrade: websocket\r\n"},
	} {
		c, err := net.Dial("tcp", env.s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if tc.send != "" {
			if _, err := c.Write([]byte(tc.send)); err != nil {
				t.Fatal(err)
			}
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = c.Read(make([]byte, 1))
		// A bound that tells "cut by the deadline" from "held forever"
		// on a loaded machine.
		if ne, ok := err.(net.Error); (ok && ne.Timeout()) || err == nil || time.Since(start) > idle+5*time.Second {
			t.Errorf("%s: read %v after %v, want the connection closed after %v", tc.name, err, time.Since(start), idle)
		}
		c.Close()
	}

	// A client that sends its requests in time is served, request
	// after request, past the first deadline.
	c, err := net.Dial("tcp", env.s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 4 {
		time.Sleep(idle / 2)
		res := srvRequest(t, c, br, fmt.Sprintf("OPTIONS rtsp://%s/live/x RTSP/1.0\r\nCSeq: %d\r\n", env.s.Addr(), i+1))
		if res.StatusCode != base.StatusOK {
			t.Fatalf("OPTIONS %d: %v", i+1, res)
		}
	}
}
