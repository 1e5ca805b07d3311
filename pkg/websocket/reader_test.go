package websocket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

var testKey = [4]byte{0xa1, 0xb2, 0xc3, 0xd4}

// clientFrame encodes a frame the way a browser does: masked with testKey.
// b0 is the first header byte (FIN, RSV1-3, opcode) so tests can set any bit.
// The length encoding is written independently of AppendFrameHeader.
func clientFrame(b0 byte, payload []byte) []byte {
	out := []byte{b0}
	switch n := len(payload); {
	case n <= 125:
		out = append(out, 0x80|byte(n))
	case n <= 0xffff:
		out = append(out, 0x80|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	out = append(out, testKey[:]...)
	start := len(out)
	out = append(out, payload...)
	for i := range payload {
		out[start+i] ^= testKey[i%4]
	}
	return out
}

// maskServerFrame turns an unmasked server frame into the masked frame a
// client would send with the same content.
func maskServerFrame(t *testing.T, frame []byte) []byte {
	t.Helper()
	if frame[1]&0x80 != 0 {
		t.Fatal("server frame is masked")
	}
	hdrLen := 2
	switch frame[1] & 0x7f {
	case 126:
		hdrLen = 4
	case 127:
		hdrLen = 10
	}
	return clientFrame(frame[0], frame[hdrLen:])
}

// fin and notFin build the first header byte.
func fin(op Opcode) byte    { return 0x80 | byte(op) }
func notFin(op Opcode) byte { return byte(op) }

func concat(frames ...[]byte) []byte { return slices.Concat(frames...) }

func payloadOf(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*31 + 7)
	}
	return p
}

func TestFrameReaderRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		frames []Frame
	}{
		{"empty binary", []Frame{{true, Binary, nil}}},
		{"one byte", []Frame{{true, Binary, []byte{0x42}}}},
		{"7-bit max", []Frame{{true, Binary, payloadOf(125)}}},
		{"16-bit min", []Frame{{true, Binary, payloadOf(126)}}},
		{"16-bit max", []Frame{{true, Binary, payloadOf(65535)}}},
		{"64-bit min", []Frame{{true, Binary, payloadOf(65536)}}},
		{"text", []Frame{{true, Text, []byte("hello")}}},
		{"control frames", []Frame{
			{true, Ping, []byte("ping")},
			{true, Pong, nil},
			{true, Ping, payloadOf(125)},
			{true, Close, []byte{0x03, 0xe8, 'o', 'k'}},
			{true, Close, nil},
		}},
		{"fragmented with interleaved ping", []Frame{
			{false, Text, []byte("hel")},
			{false, Continuation, []byte("lo ")},
			{true, Ping, []byte("p")},
			{true, Continuation, []byte("world")},
			{true, Binary, payloadOf(300)},
		}},
		{"shrinking then growing", []Frame{
			{true, Binary, payloadOf(1000)},
			{true, Binary, payloadOf(10)},
			{true, Binary, payloadOf(5000)},
		}},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte at a time", iotest.OneByteReader},
	}
	for _, tt := range tests {
		var wire []byte
		for _, f := range tt.frames {
			b0 := byte(f.Op)
			if f.Fin {
				b0 |= 0x80
			}
			wire = append(wire, clientFrame(b0, f.Payload)...)
		}
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				fr := NewFrameReader(rd.wrap(bytes.NewReader(wire)), 1<<17)
				for i, want := range tt.frames {
					got, err := fr.Next()
					if err != nil {
						t.Fatalf("frame %d: %v", i, err)
					}
					if got.Fin != want.Fin || got.Op != want.Op || !bytes.Equal(got.Payload, want.Payload) {
						t.Fatalf("frame %d: got fin=%v op=%v len=%d, want fin=%v op=%v len=%d",
							i, got.Fin, got.Op, len(got.Payload), want.Fin, want.Op, len(want.Payload))
					}
				}
				if _, err := fr.Next(); !errors.Is(err, io.EOF) {
					t.Fatalf("after the last frame: err = %v, want io.EOF", err)
				}
			})
		}
	}
}

func TestFrameReaderErrors(t *testing.T) {
	const limit = 1024
	bin := clientFrame(fin(Binary), []byte("ok"))
	tests := []struct {
		name string
		// ok frames are read successfully before input produces the error.
		ok    int
		input []byte
		want  error
		text  string // substring of the error message
	}{
		{"empty input", 0, nil, io.EOF, "read frame"},
		{"unmasked client frame", 0, []byte{0x82, 0x02, 'h', 'i'}, ErrProtocol, "not masked"},
		{"unmasked after a good frame", 1, concat(bin, []byte{0x82, 0x00}), ErrProtocol, "not masked"},
		{"rsv1", 0, clientFrame(0x80|0x40|byte(Binary), nil), ErrProtocol, "reserved bits"},
		{"rsv2", 0, clientFrame(0x80|0x20|byte(Text), nil), ErrProtocol, "reserved bits"},
		{"rsv3", 0, clientFrame(0x80|0x10|byte(Ping), nil), ErrProtocol, "reserved bits"},
		{"reserved data opcode", 0, clientFrame(0x83, nil), ErrProtocol, "opcode(3)"},
		{"reserved control opcode", 0, clientFrame(0x8b, nil), ErrProtocol, "opcode(11)"},
		{"control frame over 125", 0, clientFrame(fin(Ping), payloadOf(126)), ErrProtocol, "longer than 125"},
		{"close over 125", 0, clientFrame(fin(Close), payloadOf(200)), ErrProtocol, "longer than 125"},
		{"fragmented ping", 0, clientFrame(notFin(Ping), []byte("x")), ErrProtocol, "fragmented ping"},
		{"fragmented close", 0, clientFrame(notFin(Close), nil), ErrProtocol, "fragmented close"},
		{"close with 1-byte payload", 0, clientFrame(fin(Close), []byte{3}), ErrProtocol, "1-byte"},
		{"64-bit length top bit", 0, []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, ErrProtocol, "most significant bit"},
		{"continuation without start", 0, clientFrame(fin(Continuation), []byte("x")), ErrProtocol, "without a fragmented message"},
		{"new message inside fragmented", 1, concat(clientFrame(notFin(Text), []byte("a")), clientFrame(fin(Binary), []byte("b"))), ErrProtocol, "inside a fragmented message"},
		{"oversize 16-bit", 0, clientFrame(fin(Binary), payloadOf(limit+1)), ErrTooLarge, "1025 bytes, limit 1024"},
		{"oversize 64-bit header only", 0, []byte{0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4}, ErrTooLarge, "limit 1024"},
		{"truncated first byte", 0, []byte{0x82}, io.ErrUnexpectedEOF, "read frame"},
		{"truncated extended length", 0, []byte{0x82, 0xfe, 0x01}, io.ErrUnexpectedEOF, "header"},
		{"truncated mask key", 0, []byte{0x82, 0x85, 1, 2}, io.ErrUnexpectedEOF, "header"},
		{"truncated payload", 0, clientFrame(fin(Binary), payloadOf(50))[:20], io.ErrUnexpectedEOF, "payload"},
		{"truncated after good frame", 1, concat(bin, bin[:3]), io.ErrUnexpectedEOF, "header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := NewFrameReader(bytes.NewReader(tt.input), limit)
			for i := range tt.ok {
				if _, err := fr.Next(); err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
			}
			f, err := fr.Next()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "websocket: read frame") || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err = %q, want it to name the operation and contain %q", err, tt.text)
			}
			if f.Payload != nil || f.Op != 0 || f.Fin {
				t.Fatalf("got frame %+v with the error", f)
			}
			// The error is sticky: the stream position is lost.
			if _, err2 := fr.Next(); err2 != err {
				t.Fatalf("second Next: err = %v, want the first error %v", err2, err)
			}
		})
	}
}

// TestFrameReaderOversizeDoesNotAllocate checks that a hostile length field
// is rejected from the header alone: nothing close to the claimed size is
// allocated and no payload byte is consumed.
func TestFrameReaderOversizeDoesNotAllocate(t *testing.T) {
	tests := []struct {
		name   string
		limit  int
		length uint64
	}{
		{"1 GiB claimed", 1 << 20, 1 << 30},
		{"limit plus one", 16 << 20, 16<<20 + 1},
		{"max 63-bit", 1 << 20, 1<<63 - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := binary.BigEndian.AppendUint64([]byte{0x82, 0xff}, tt.length)
			hdr = append(hdr, testKey[:]...)
			src := bytes.NewReader(concat(hdr, payloadOf(4096)))
			fr := NewFrameReader(src, tt.limit)

			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := fr.Next()
			runtime.ReadMemStats(&after)

			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err = %v, want ErrTooLarge", err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
				t.Fatalf("rejecting the frame allocated %d bytes", n)
			}
			if src.Len() != 4096 {
				t.Fatalf("%d payload bytes were consumed", 4096-src.Len())
			}
			if fr.buf != nil {
				t.Fatalf("payload buffer of %d bytes was allocated", cap(fr.buf))
			}
		})
	}
}

// TestFrameReaderBufferBounded checks that the reused buffer never grows past
// the limit, whatever the growth policy wants.
func TestFrameReaderBufferBounded(t *testing.T) {
	tests := []struct {
		limit int
		sizes []int
	}{
		{1000, []int{600, 1000, 1000}},
		{200, []int{10, 125, 200}},
		{100, []int{125}}, // limit raised to 125 for control-sized frames
		{1 << 16, []int{100, 513, 1025, 4000, 1 << 16}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.limit, tt.sizes), func(t *testing.T) {
			var wire []byte
			for _, n := range tt.sizes {
				wire = append(wire, clientFrame(fin(Binary), payloadOf(n))...)
			}
			fr := NewFrameReader(bytes.NewReader(wire), tt.limit)
			limit := max(tt.limit, MaxControlPayload)
			for _, n := range tt.sizes {
				f, err := fr.Next()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(f.Payload, payloadOf(n)) {
					t.Fatalf("payload of %d bytes corrupted", n)
				}
				if cap(fr.buf) > limit {
					t.Fatalf("buffer capacity %d exceeds limit %d", cap(fr.buf), limit)
				}
			}
		})
	}
}

func TestDrain(t *testing.T) {
	errHandler := errors.New("queue full")
	closeFrame := clientFrame(fin(Close), []byte{0x03, 0xe8})
	tests := []struct {
		name      string
		input     []byte
		nilPing   bool
		pingErr   error
		want      error
		wantPings []string
	}{
		{"close", closeFrame, false, nil, ErrClosed, nil},
		{"empty close", clientFrame(fin(Close), nil), false, nil, ErrClosed, nil},
		{"pings then close", concat(
			clientFrame(fin(Ping), []byte("a")),
			clientFrame(fin(Ping), nil),
			clientFrame(fin(Ping), []byte("ccc")),
			closeFrame), false, nil, ErrClosed, []string{"a", "", "ccc"}},
		{"data and pongs ignored", concat(
			clientFrame(fin(Text), []byte("hi")),
			clientFrame(fin(Binary), payloadOf(300)),
			clientFrame(notFin(Binary), []byte("x")),
			clientFrame(fin(Continuation), []byte("y")),
			clientFrame(fin(Pong), []byte("p")),
			closeFrame), false, nil, ErrClosed, nil},
		{"frames after close not read", concat(closeFrame, []byte{0x82, 0x00}), false, nil, ErrClosed, nil},
		{"nil onPing", concat(clientFrame(fin(Ping), []byte("a")), closeFrame), true, nil, ErrClosed, nil},
		{"eof without close", clientFrame(fin(Ping), []byte("a")), false, nil, io.EOF, []string{"a"}},
		{"truncated", closeFrame[:4], false, nil, io.ErrUnexpectedEOF, nil},
		{"protocol error", []byte{0x82, 0x00}, false, nil, ErrProtocol, nil},
		{"ping handler error", concat(clientFrame(fin(Ping), []byte("a")), closeFrame), false, errHandler, errHandler, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pings []string
			onPing := func(p []byte) error {
				pings = append(pings, string(p))
				return tt.pingErr
			}
			if tt.nilPing {
				onPing = nil
			}
			err := NewFrameReader(bytes.NewReader(tt.input), 1024).Drain(onPing)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Drain() = %v, want %v", err, tt.want)
			}
			if !slices.Equal(pings, tt.wantPings) {
				t.Fatalf("pings = %q, want %q", pings, tt.wantPings)
			}
		})
	}
}

// loopReader replays data forever without allocating, so the steady state
// of a FrameReader can be measured.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

func TestAllocs(t *testing.T) {
	hdr := make([]byte, 0, MaxHeaderLen)
	closeBuf := make([]byte, 0, MaxHeaderLen+MaxControlPayload)
	wire := concat(
		clientFrame(fin(Binary), payloadOf(4000)),
		clientFrame(fin(Ping), []byte("ping")),
		clientFrame(notFin(Text), payloadOf(200)),
		clientFrame(fin(Continuation), payloadOf(70000)),
	)
	fr := NewFrameReader(&loopReader{data: wire}, 1<<17)
	drainFR := NewFrameReader(&loopReader{data: concat(clientFrame(fin(Ping), []byte("x")), clientFrame(fin(Close), nil))}, 1024)
	onPing := func([]byte) error { return nil }

	tests := []struct {
		name string
		f    func()
	}{
		{"AppendFrameHeader 7-bit", func() { hdr = AppendFrameHeader(hdr[:0], true, Binary, 100) }},
		{"AppendFrameHeader 16-bit", func() { hdr = AppendFrameHeader(hdr[:0], true, Binary, 4000) }},
		{"AppendFrameHeader 64-bit", func() { hdr = AppendFrameHeader(hdr[:0], true, Binary, 1<<20) }},
		{"AppendCloseFrame", func() { closeBuf = AppendCloseFrame(closeBuf[:0], CloseGoingAway, "restart") }},
		{"FrameReader.Next", func() {
			// Four frames per run, so every frame type hits the measurement.
			for range 4 {
				if _, err := fr.Next(); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"FrameReader.Drain", func() {
			if err := drainFR.Drain(onPing); err != ErrClosed {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f() // warm up: let the payload buffer reach its final size
			if n := testing.AllocsPerRun(100, tt.f); n != 0 {
				t.Fatalf("%v allocations per run, want 0", n)
			}
		})
	}
}
