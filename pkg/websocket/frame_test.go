package websocket

import (
	"bytes"
	"encoding/hex"
	"io"
	"math"
	"net"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppendFrameHeader(t *testing.T) {
	tests := []struct {
		name string
		fin  bool
		op   Opcode
		n    uint64
		want string // hex
	}{
		{"empty", true, Binary, 0, "8200"},
		{"7-bit max", true, Binary, 125, "827d"},
		{"16-bit min", true, Binary, 126, "827e007e"},
		{"16-bit max", true, Binary, 65535, "827effff"},
		{"64-bit min", true, Binary, 65536, "827f0000000000010000"},
		{"64-bit 4GiB", true, Binary, 1 << 32, "827f0000000100000000"},
		{"text", true, Text, 5, "8105"},
		{"not final", false, Binary, 1, "0201"},
		{"continuation", false, Continuation, 126, "007e007e"},
		{"ping", true, Ping, 0, "8900"},
		{"pong", true, Pong, 4, "8a04"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.n > math.MaxInt {
				t.Skip("length does not fit in int")
			}
			got := AppendFrameHeader(nil, tt.fin, tt.op, int(tt.n))
			if h := hex.EncodeToString(got); h != tt.want {
				t.Fatalf("AppendFrameHeader(%v, %v, %d) = %s, want %s", tt.fin, tt.op, tt.n, h, tt.want)
			}
			if len(got) > MaxHeaderLen {
				t.Fatalf("header is %d bytes, MaxHeaderLen is %d", len(got), MaxHeaderLen)
			}
			// Appending must keep what dst already held.
			got = AppendFrameHeader([]byte("xy"), tt.fin, tt.op, int(tt.n))
			if h := hex.EncodeToString(got); h != "7879"+tt.want {
				t.Fatalf("appending to a prefix gave %s", h)
			}
		})
	}
}

func TestAppendFrameHeaderNegativePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a negative payload length")
		}
	}()
	AppendFrameHeader(nil, true, Binary, -1)
}

func TestAppendCloseFrame(t *testing.T) {
	long := strings.Repeat("a", 200)
	// 122 ASCII bytes then a 3-byte rune straddling the 123-byte limit.
	straddle := strings.Repeat("b", 122) + "€" + "tail"
	tests := []struct {
		name       string
		code       uint16
		reason     string
		wantReason string
	}{
		{"no status", 0, "ignored", ""},
		{"code only", CloseNormal, "", ""},
		{"code and reason", CloseGoingAway, "server shutdown", "server shutdown"},
		{"reason at limit", CloseNormal, long[:123], long[:123]},
		{"reason truncated", CloseNormal, long, long[:123]},
		{"truncated at rune boundary", CloseNormal, straddle, straddle[:122]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendCloseFrame(nil, tt.code, tt.reason)
			fr := NewFrameReader(bytes.NewReader(maskServerFrame(t, got)), 125)
			f, err := fr.Next()
			if err != nil {
				t.Fatalf("reading back the close frame: %v", err)
			}
			if !f.Fin || f.Op != Close {
				t.Fatalf("got fin=%v op=%v, want a final close frame", f.Fin, f.Op)
			}
			if len(f.Payload) > MaxControlPayload {
				t.Fatalf("payload is %d bytes", len(f.Payload))
			}
			if tt.code == 0 {
				if len(f.Payload) != 0 {
					t.Fatalf("payload = %q, want empty", f.Payload)
				}
				return
			}
			if code := uint16(f.Payload[0])<<8 | uint16(f.Payload[1]); code != tt.code {
				t.Fatalf("code = %d, want %d", code, tt.code)
			}
			if reason := string(f.Payload[2:]); reason != tt.wantReason {
				t.Fatalf("reason = %q, want %q", reason, tt.wantReason)
			}
			if !utf8.Valid(f.Payload[2:]) {
				t.Fatal("reason is not valid UTF-8")
			}
		})
	}
}

func TestOpcode(t *testing.T) {
	tests := []struct {
		op      Opcode
		name    string
		control bool
	}{
		{Continuation, "continuation", false},
		{Text, "text", false},
		{Binary, "binary", false},
		{Close, "close", true},
		{Ping, "ping", true},
		{Pong, "pong", true},
		{3, "opcode(3)", false},
		{15, "opcode(15)", true},
	}
	for _, tt := range tests {
		if got := tt.op.String(); got != tt.name {
			t.Errorf("Opcode(%d).String() = %q, want %q", byte(tt.op), got, tt.name)
		}
		if got := tt.op.IsControl(); got != tt.control {
			t.Errorf("Opcode(%d).IsControl() = %v, want %v", byte(tt.op), got, tt.control)
		}
	}
}

func TestMaskBytes(t *testing.T) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	for n := 0; n <= 70; n++ {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(i * 7)
		}
		got := bytes.Clone(src)
		maskBytes(key, got)
		for i := range src {
			if want := src[i] ^ key[i%4]; got[i] != want {
				t.Fatalf("len %d: byte %d = %#x, want %#x", n, i, got[i], want)
			}
		}
		maskBytes(key, got)
		if !bytes.Equal(got, src) {
			t.Fatalf("len %d: masking twice did not restore the input", n)
		}
	}
	// RFC 6455 section 5.7: masked "Hello".
	hello := []byte{0x7f, 0x9f, 0x4d, 0x51, 0x58}
	maskBytes(key, hello)
	if string(hello) != "Hello" {
		t.Fatalf("RFC sample unmasked to %q", hello)
	}
}

// TestWritevPathAllocs checks the claim the package is built on: writing
// header and payload to a TCP connection with net.Buffers, both kept in a
// long-lived struct, does not allocate per frame.
func TestWritevPathAllocs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback TCP: %v", err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(io.Discard, c)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}

	var s struct {
		hdr  [MaxHeaderLen]byte
		vec  [2][]byte
		bufs net.Buffers
	}
	payload := payloadOf(4096)
	write := func() {
		hdr := AppendFrameHeader(s.hdr[:0], true, Binary, len(payload))
		s.bufs = append(s.vec[:0], hdr, payload)
		if _, err := s.bufs.WriteTo(conn); err != nil {
			t.Fatal(err)
		}
	}
	write() // the poller caches its iovec slice on first use
	if n := testing.AllocsPerRun(100, write); n != 0 {
		t.Errorf("%v allocations per frame, want 0", n)
	}
	conn.Close()
	<-done
}
