package websocket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

var (
	// ErrClosed is returned by FrameReader.Drain when the client sent a
	// Close frame: the caller should stop sending media, optionally send a
	// Close frame back (AppendCloseFrame) and close the connection.
	ErrClosed = errors.New("websocket: close frame received")

	// ErrProtocol is wrapped by FrameReader errors caused by a client frame
	// that violates RFC 6455. Callers may answer with CloseProtocolError.
	ErrProtocol = errors.New("protocol violation")

	// ErrTooLarge is wrapped by FrameReader errors caused by a frame whose
	// payload exceeds the reader's limit. Callers may answer with
	// CloseTooBig.
	ErrTooLarge = errors.New("payload exceeds limit")
)

// Frame is one client frame as returned by FrameReader.Next.
type Frame struct {
	Fin bool
	Op  Opcode
	// Payload is the unmasked payload. It aliases the reader's internal
	// buffer and is only valid until the next call to Next or Drain.
	Payload []byte
}

// FrameReader reads and validates the frames a client sends to the server.
//
// It reads whole frames, not messages: fragments are returned one by one
// (with their sequencing checked), because a media server does not act on
// client data messages and reassembly would only cost memory.
//
// Every payload is read into one internal buffer that is reused across
// calls, so once the buffer has grown to the largest frame seen, Next does
// not allocate. The buffer never grows beyond the maxPayload limit, and an
// oversized frame is rejected from its header alone, before any payload is
// read, so a hostile length field cannot make the server allocate.
//
// After Next returns an error the stream position is unknown; the error is
// remembered and returned by every later call. A FrameReader is not safe for
// concurrent use.
type FrameReader struct {
	r          io.Reader
	maxPayload int
	// hdr holds the frame header: 2 fixed bytes, up to 8 bytes of extended
	// length and the 4-byte masking key.
	hdr [MaxHeaderLen + 4]byte
	buf []byte
	// fragmented is true while a fragmented data message is in progress,
	// i.e. after a non-final Text/Binary/Continuation frame.
	fragmented bool
	err        error
}

// minBuffer is the first allocation size for the payload buffer, so a client
// sending a few small frames of growing size does not cause several
// allocations.
const minBuffer = 512

// NewFrameReader returns a FrameReader that reads client frames from r and
// rejects frames whose payload is larger than maxPayload bytes.
//
// r is typically the *bufio.Reader returned by Upgrade, which may already
// hold bytes the client sent right after its handshake; r should be buffered
// because each frame is read with two or three small reads.
//
// A maxPayload below MaxControlPayload is raised to MaxControlPayload so
// that every legal Ping and Close frame can be read.
func NewFrameReader(r io.Reader, maxPayload int) *FrameReader {
	return &FrameReader{r: r, maxPayload: max(maxPayload, MaxControlPayload)}
}

// Next reads the next frame, checks it against RFC 6455 and returns it with
// its payload unmasked. The returned Payload is only valid until the next
// call.
//
// Errors are wrapped with the operation name. A client closing the TCP
// connection between frames gives an error satisfying errors.Is(err, io.EOF);
// closing mid-frame gives io.ErrUnexpectedEOF. Violations of RFC 6455 (an
// unmasked frame, reserved bits, an unknown opcode, a fragmented or
// oversized control frame, a 64-bit length with its top bit set, a 1-byte
// Close payload, broken fragment sequencing) wrap ErrProtocol, and a payload
// above the limit wraps ErrTooLarge.
func (fr *FrameReader) Next() (Frame, error) {
	if fr.err != nil {
		return Frame{}, fr.err
	}
	f, err := fr.next()
	if err != nil {
		fr.err = err
		return Frame{}, err
	}
	return f, nil
}

func (fr *FrameReader) next() (Frame, error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:2]); err != nil {
		// io.EOF here means the connection ended cleanly between frames.
		return Frame{}, fmt.Errorf("websocket: read frame: %w", err)
	}
	b0, b1 := fr.hdr[0], fr.hdr[1]
	fin := b0&0x80 != 0
	op := Opcode(b0 & 0x0f)
	n7 := int(b1 & 0x7f)

	// Validate everything the first two bytes tell us before reading more,
	// so garbage is rejected as early as possible.
	if b0&0x70 != 0 {
		// No extension is ever negotiated, so RSV1-3 must be zero (5.2).
		return Frame{}, protocolError("reserved bits set (0x%02x)", b0&0x70)
	}
	if !op.known() {
		return Frame{}, protocolError("unknown %v", op)
	}
	if b1&0x80 == 0 {
		// 5.1: a server MUST close the connection on an unmasked client frame.
		return Frame{}, protocolError("client frame not masked")
	}
	if op.IsControl() {
		if !fin {
			return Frame{}, protocolError("fragmented %v frame", op)
		}
		if n7 > MaxControlPayload {
			return Frame{}, protocolError("%v frame payload longer than %d bytes", op, MaxControlPayload)
		}
	} else if op == Continuation && !fr.fragmented {
		return Frame{}, protocolError("continuation frame without a fragmented message")
	} else if op != Continuation && fr.fragmented {
		return Frame{}, protocolError("%v frame inside a fragmented message", op)
	}

	ext := 0
	switch n7 {
	case 126:
		ext = 2
	case 127:
		ext = 8
	}
	rest := fr.hdr[2 : 2+ext+4]
	if _, err := io.ReadFull(fr.r, rest); err != nil {
		return Frame{}, fmt.Errorf("websocket: read frame header: %w", noEOF(err))
	}
	var n uint64
	switch ext {
	case 0:
		n = uint64(n7)
	case 2:
		n = uint64(binary.BigEndian.Uint16(rest))
	case 8:
		n = binary.BigEndian.Uint64(rest)
		if n>>63 != 0 {
			return Frame{}, protocolError("64-bit payload length has its most significant bit set")
		}
	}
	// Non-minimal length encodings are accepted: rejecting them protects
	// nothing and some clients have been seen to send them.
	if n > uint64(fr.maxPayload) {
		return Frame{}, fmt.Errorf("websocket: read frame: %w: %v payload of %d bytes, limit %d", ErrTooLarge, op, n, fr.maxPayload)
	}
	if op == Close && n == 1 {
		// 5.5.1: a Close body starts with a 2-byte status code.
		return Frame{}, protocolError("close frame with a 1-byte payload")
	}
	key := [4]byte(rest[ext:])

	size := int(n)
	if cap(fr.buf) < size {
		// Grow geometrically, but never past the limit.
		fr.buf = make([]byte, min(max(size, 2*cap(fr.buf), minBuffer), fr.maxPayload))
	}
	p := fr.buf[:size]
	if _, err := io.ReadFull(fr.r, p); err != nil {
		return Frame{}, fmt.Errorf("websocket: read frame payload: %w", noEOF(err))
	}
	maskBytes(key, p)

	if !op.IsControl() {
		fr.fragmented = !fin
	}
	return Frame{Fin: fin, Op: op, Payload: p}, nil
}

// Drain reads and discards client frames until the client closes the
// WebSocket or the connection fails. It is meant to run on its own
// goroutine next to the goroutine sending media: it returns ErrClosed when
// a Close frame arrives and the read error (see Next) otherwise, and either
// way the caller should stop sending.
//
// For each Ping, onPing (if not nil) is called with the ping payload, which
// is only valid during the call. Drain does not write a Pong itself because
// the connection's writes belong to the caller (frames must not interleave);
// onPing typically copies the payload and queues a Pong for the writer. An
// error from onPing stops Drain and is returned wrapped.
//
// Pong, Text, Binary and Continuation frames are ignored.
func (fr *FrameReader) Drain(onPing func(payload []byte) error) error {
	for {
		f, err := fr.Next()
		if err != nil {
			return err
		}
		switch f.Op {
		case Close:
			return ErrClosed
		case Ping:
			if onPing != nil {
				if err := onPing(f.Payload); err != nil {
					return fmt.Errorf("websocket: drain: ping handler: %w", err)
				}
			}
		}
	}
}

func protocolError(format string, args ...any) error {
	return fmt.Errorf("websocket: read frame: %w: "+format, append([]any{ErrProtocol}, args...)...)
}

// noEOF turns io.EOF into io.ErrUnexpectedEOF: once part of a frame has been
// read, the connection ending is not a clean close.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
