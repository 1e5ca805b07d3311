package websocket

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// rfcRequest is the sample handshake of RFC 6455 section 1.3.
const rfcRequest = "GET /chat HTTP/1.1\r\n" +
	"Host: server.example.com\r\n" +
	"Upgrade: websocket\r\n" +
	"Connection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
	"Origin: http://example.com\r\n" +
	"Sec-WebSocket-Protocol: chat, superchat\r\n" +
	"Sec-WebSocket-Version: 13\r\n" +
	"\r\n"

// rfcAccept is the Sec-WebSocket-Accept RFC 6455 section 1.3 gives for the
// sample key: base64 of the SHA-1 hash 0xb3 0x7a 0x4f 0x2c 0xc0 0x62 0x4f
// 0x16 0x90 0xf6 0x46 0x06 0xcf 0x38 0x59 0x45 0xb2 0xbe 0xc4 0xea.
const rfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

func TestAcceptKey(t *testing.T) {
	if got := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != rfcAccept {
		t.Fatalf("acceptKey = %q, want %q", got, rfcAccept)
	}
}

func TestIsUpgradeRequest(t *testing.T) {
	tests := []struct {
		name       string
		connection []string
		upgrade    []string
		want       bool
	}{
		{"canonical", []string{"Upgrade"}, []string{"websocket"}, true},
		{"case-insensitive", []string{"UPGRADE"}, []string{"WebSocket"}, true},
		{"token list (Firefox)", []string{"keep-alive, Upgrade"}, []string{"websocket"}, true},
		{"token list with tabs", []string{"keep-alive,\tupgrade "}, []string{"websocket"}, true},
		{"repeated header lines", []string{"keep-alive", "Upgrade"}, []string{"websocket"}, true},
		{"no connection", nil, []string{"websocket"}, false},
		{"no upgrade", []string{"Upgrade"}, nil, false},
		{"connection keep-alive", []string{"keep-alive"}, []string{"websocket"}, false},
		{"token is substring only", []string{"upgraded"}, []string{"websocket"}, false},
		{"other protocol", []string{"Upgrade"}, []string{"h2c"}, false},
		{"websocket-ish", []string{"Upgrade"}, []string{"websockets"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/live.flv", nil)
			if tt.connection != nil {
				r.Header["Connection"] = tt.connection
			}
			if tt.upgrade != nil {
				r.Header["Upgrade"] = tt.upgrade
			}
			if got := IsUpgradeRequest(r); got != tt.want {
				t.Fatalf("IsUpgradeRequest = %v, want %v", got, tt.want)
			}
		})
	}
}

// dial opens a raw TCP connection to srv with a deadline so a broken
// handshake fails the test instead of hanging it.
func dial(t *testing.T, srv *httptest.Server) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	return conn
}

// readServerFrame parses one unmasked server frame.
func readServerFrame(t *testing.T, br *bufio.Reader) Frame {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatalf("reading server frame: %v", err)
	}
	if h[1]&0x80 != 0 {
		t.Fatal("server frame is masked")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		io.ReadFull(br, ext[:])
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		io.ReadFull(br, ext[:])
		n = binary.BigEndian.Uint64(ext[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatalf("reading server payload: %v", err)
	}
	return Frame{Fin: h[0]&0x80 != 0, Op: Opcode(h[0] & 0x0f), Payload: p}
}

// TestUpgradeSession runs the whole life of a WebSocket-FLV client against a
// real server: RFC sample handshake, a media frame written with net.Buffers,
// a ping answered from the Drain callback, and a client close that Drain
// reports as ErrClosed.
func TestUpgradeSession(t *testing.T) {
	media := payloadOf(300) // 16-bit length on purpose
	result := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !IsUpgradeRequest(r) {
			result <- errors.New("IsUpgradeRequest = false for the RFC sample")
			return
		}
		conn, br, err := Upgrade(w, r, http.Header{"Access-Control-Allow-Origin": {"*"}})
		if err != nil {
			result <- err
			return
		}
		defer conn.Close()
		hdr := AppendFrameHeader(make([]byte, 0, MaxHeaderLen), true, Binary, len(media))
		bufs := net.Buffers{hdr, media}
		if _, err := bufs.WriteTo(conn); err != nil {
			result <- err
			return
		}
		fr := NewFrameReader(br, 4096)
		result <- fr.Drain(func(p []byte) error {
			pong := AppendFrameHeader(nil, true, Pong, len(p))
			_, err := conn.Write(append(pong, p...))
			return err
		})
	}))
	defer srv.Close()

	conn := dial(t, srv)
	if _, err := io.WriteString(conn, rfcRequest); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading handshake response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status = %s, want 101", resp.Status)
	}
	for name, want := range map[string]string{
		"Upgrade":                     "websocket",
		"Connection":                  "Upgrade",
		"Sec-WebSocket-Accept":        rfcAccept,
		"Sec-WebSocket-Protocol":      "chat",
		"Access-Control-Allow-Origin": "*",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}

	f := readServerFrame(t, br)
	if !f.Fin || f.Op != Binary || !bytes.Equal(f.Payload, media) {
		t.Fatalf("got fin=%v op=%v len=%d, want the %d-byte binary frame", f.Fin, f.Op, len(f.Payload), len(media))
	}

	conn.Write(clientFrame(fin(Ping), []byte("are you there")))
	if f := readServerFrame(t, br); f.Op != Pong || string(f.Payload) != "are you there" {
		t.Fatalf("got %v %q, want the pong", f.Op, f.Payload)
	}

	conn.Write(maskServerFrame(t, AppendCloseFrame(nil, CloseNormal, "bye")))
	select {
	case err := <-result:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("server Drain = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not see the close frame")
	}
}

// TestUpgradeKeepsPipelinedBytes checks that client bytes sent in the same
// packet as the handshake, which net/http has already buffered, reach the
// FrameReader through the returned bufio.Reader.
func TestUpgradeKeepsPipelinedBytes(t *testing.T) {
	result := make(chan error, 1)
	pings := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, br, err := Upgrade(w, r, nil)
		if err != nil {
			result <- err
			return
		}
		defer conn.Close()
		result <- NewFrameReader(br, 1024).Drain(func(p []byte) error {
			pings <- string(p)
			return nil
		})
	}))
	defer srv.Close()

	conn := dial(t, srv)
	pipelined := rfcRequest + string(clientFrame(fin(Ping), []byte("early"))) + string(clientFrame(fin(Close), nil))
	if _, err := io.WriteString(conn, pipelined); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-result:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("server Drain = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not see the pipelined close frame")
	}
	if got := <-pings; got != "early" {
		t.Fatalf("ping payload = %q, want %q", got, "early")
	}
}

func TestUpgradeRejects(t *testing.T) {
	const key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	const upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	const version = "Sec-WebSocket-Version: 13\r\n"
	tests := []struct {
		name       string
		request    string
		wantStatus int
		wantHeader map[string]string
	}{
		{"bad version", "GET / HTTP/1.1\r\nHost: x\r\n" + upgrade + key + "Sec-WebSocket-Version: 8\r\n\r\n",
			http.StatusUpgradeRequired, map[string]string{"Sec-WebSocket-Version": "13"}},
		{"missing version", "GET / HTTP/1.1\r\nHost: x\r\n" + upgrade + key + "\r\n",
			http.StatusUpgradeRequired, map[string]string{"Sec-WebSocket-Version": "13"}},
		{"missing key", "GET / HTTP/1.1\r\nHost: x\r\n" + upgrade + version + "\r\n",
			http.StatusBadRequest, nil},
		{"key not base64", "GET / HTTP/1.1\r\nHost: x\r\n" + upgrade + version + "Sec-WebSocket-Key: not base64!\r\n\r\n",
			http.StatusBadRequest, nil},
		{"key of 15 bytes", "GET / HTTP/1.1\r\nHost: x\r\n" + upgrade + version + "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n\r\n",
			http.StatusBadRequest, nil},
		{"two keys", "GET / HTTP/1.1\r\nHost: x\r\n" + upgrade + version + key + key + "\r\n",
			http.StatusBadRequest, nil},
		{"POST", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n" + upgrade + version + key + "\r\n",
			http.StatusMethodNotAllowed, map[string]string{"Allow": "GET"}},
		{"no upgrade headers", "GET / HTTP/1.1\r\nHost: x\r\n" + version + key + "\r\n",
			http.StatusBadRequest, nil},
		{"connection keep-alive only", "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n" + version + key + "\r\n",
			http.StatusBadRequest, nil},
		{"HTTP/1.0", "GET / HTTP/1.0\r\nHost: x\r\n" + upgrade + version + key + "\r\n",
			http.StatusBadRequest, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			result := make(chan error, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				conn, br, err := Upgrade(w, r, nil)
				if err == nil {
					conn.Close()
				}
				if (conn == nil) != (br == nil) || (err == nil) == (conn == nil) {
					err = fmt.Errorf("inconsistent results: conn=%v br=%v err=%v", conn, br, err)
				}
				result <- err
			}))
			defer srv.Close()

			conn := dial(t, srv)
			io.WriteString(conn, tt.request)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("reading response: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			for name, want := range tt.wantHeader {
				if got := resp.Header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			err = <-result
			if err == nil || !strings.HasPrefix(err.Error(), "websocket: upgrade: ") {
				t.Fatalf("Upgrade error = %v, want a websocket: upgrade: error", err)
			}
		})
	}
}

func TestUpgradeNotHijackable(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", strings.NewReader(""))
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	w := httptest.NewRecorder()
	conn, br, err := Upgrade(w, r, nil)
	if err == nil || conn != nil || br != nil {
		t.Fatalf("Upgrade on a ResponseRecorder = %v, %v, %v; want an error", conn, br, err)
	}
	if !errors.Is(err, http.ErrNotSupported) {
		t.Fatalf("err = %v, want http.ErrNotSupported", err)
	}
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", w.Code)
	}
}

func TestAppendResponse(t *testing.T) {
	tests := []struct {
		name     string
		protocol string
		extra    http.Header
		want     map[string]string // "" means absent
	}{
		{"minimal", "", nil, map[string]string{
			"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": rfcAccept, "Sec-WebSocket-Protocol": "",
		}},
		{"echoed protocol", "chat", nil, map[string]string{"Sec-WebSocket-Protocol": "chat"}},
		{"cors", "", http.Header{
			"Access-Control-Allow-Origin":      {"*"},
			"access-control-allow-credentials": {"true"},
		}, map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": "true"}},
		{"extra protocol overrides echo", "chat", http.Header{"Sec-Websocket-Protocol": {"flv"}}, map[string]string{"Sec-WebSocket-Protocol": "flv"}},
		{"handshake headers cannot be overridden", "", http.Header{
			"Connection":               {"close"},
			"Upgrade":                  {"h2c"},
			"Sec-WebSocket-Accept":     {"forged"},
			"Sec-WebSocket-Extensions": {"permessage-deflate"},
		}, map[string]string{
			"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Accept": rfcAccept, "Sec-WebSocket-Extensions": "",
		}},
		{"no header injection", "", http.Header{
			"X-Evil":          {"a\r\nInjected: yes"},
			"Bad\r\nInjected": {"yes"},
			"Bad Name":        {"yes"},
		}, map[string]string{"X-Evil": "a  Injected: yes", "Injected": "", "Bad Name": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := appendResponse(nil, "dGhlIHNhbXBsZSBub25jZQ==", tt.protocol, tt.extra)
			if !bytes.HasPrefix(raw, []byte("HTTP/1.1 101 Switching Protocols\r\n")) {
				t.Fatalf("response starts with %q", raw[:min(len(raw), 40)])
			}
			br := bufio.NewReader(bytes.NewReader(raw))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("parsing %q: %v", raw, err)
			}
			if br.Buffered() != 0 {
				t.Fatalf("%d bytes after the header block", br.Buffered())
			}
			for name, want := range tt.want {
				if got := resp.Header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}
