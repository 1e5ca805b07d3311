package websocket

import (
	"encoding/binary"
	"strconv"
	"unicode/utf8"
)

// Opcode is the 4-bit frame type of RFC 6455 section 5.2.
type Opcode byte

// Frame opcodes defined by RFC 6455 section 5.2. Values 3-7 and 11-15 are
// reserved and rejected by FrameReader.
const (
	Continuation Opcode = 0
	Text         Opcode = 1
	Binary       Opcode = 2
	Close        Opcode = 8
	Ping         Opcode = 9
	Pong         Opcode = 10
)

// IsControl reports whether op is a control opcode (Close, Ping, Pong or a
// reserved control value). Control frames may not be fragmented and carry at
// most MaxControlPayload bytes.
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

// known reports whether op is one of the six opcodes RFC 6455 defines.
func (op Opcode) known() bool {
	switch op {
	case Continuation, Text, Binary, Close, Ping, Pong:
		return true
	}
	return false
}

// String returns the RFC name of op, for logs and error messages.
func (op Opcode) String() string {
	switch op {
	case Continuation:
		return "continuation"
	case Text:
		return "text"
	case Binary:
		return "binary"
	case Close:
		return "close"
	case Ping:
		return "ping"
	case Pong:
		return "pong"
	}
	return "opcode(" + strconv.Itoa(int(op)) + ")"
}

const (
	// MaxHeaderLen is the largest header AppendFrameHeader produces: 2 fixed
	// bytes plus a 64-bit extended length. Server frames are never masked,
	// so no masking key is added. A scratch buffer of this capacity makes
	// AppendFrameHeader allocation-free.
	MaxHeaderLen = 10

	// MaxControlPayload is the largest payload a control frame (Close,
	// Ping, Pong) may carry (RFC 6455 section 5.5).
	MaxControlPayload = 125
)

// Close status codes (RFC 6455 section 7.4.1) a media server typically sends.
const (
	CloseNormal        uint16 = 1000 // the stream ended
	CloseGoingAway     uint16 = 1001 // the server is shutting down
	CloseProtocolError uint16 = 1002 // the client broke RFC 6455
	CloseUnsupported   uint16 = 1003 // the client sent a data type we do not accept
	CloseTooBig        uint16 = 1009 // a client frame exceeded the reader's limit
	CloseInternalError uint16 = 1011 // the server hit an unexpected condition
)

// AppendFrameHeader appends the header of an unmasked server frame carrying
// payloadLen bytes to dst and returns the extended slice. It picks the
// shortest length encoding (7-bit, 16-bit or 64-bit) as RFC 6455 requires.
//
// The payload itself is not touched, so the caller can write header and
// payload with a single writev (net.Buffers) without copying media data.
// When cap(dst)-len(dst) >= MaxHeaderLen the call does not allocate.
//
// op must be a valid opcode and payloadLen must not be negative; a negative
// length is a programming error and panics. For control opcodes the caller
// is responsible for fin being true and payloadLen <= MaxControlPayload.
func AppendFrameHeader(dst []byte, fin bool, op Opcode, payloadLen int) []byte {
	b0 := byte(op & 0x0f)
	if fin {
		b0 |= 0x80
	}
	switch {
	case payloadLen < 0:
		panic("websocket: AppendFrameHeader: negative payload length " + strconv.Itoa(payloadLen))
	case payloadLen <= 125:
		return append(dst, b0, byte(payloadLen))
	case payloadLen <= 0xffff:
		return append(dst, b0, 126, byte(payloadLen>>8), byte(payloadLen))
	default:
		return binary.BigEndian.AppendUint64(append(dst, b0, 127), uint64(payloadLen))
	}
}

// AppendCloseFrame appends a complete Close frame (header and payload) to dst.
//
// The payload is the 2-byte status code followed by reason. Because a
// control frame carries at most 125 bytes, reason is cut to 123 bytes; the
// cut backs up to a UTF-8 character boundary so a valid reason stays valid
// UTF-8, which RFC 6455 section 5.5.1 requires.
//
// code 0 produces a Close frame with an empty payload ("no status code",
// which RFC 6455 allows); reason is then ignored. Codes such as 1005 and
// 1006 must not be sent on the wire; that is left to the caller.
func AppendCloseFrame(dst []byte, code uint16, reason string) []byte {
	if code == 0 {
		return AppendFrameHeader(dst, true, Close, 0)
	}
	const maxReason = MaxControlPayload - 2
	if len(reason) > maxReason {
		i := maxReason
		for i > 0 && !utf8.RuneStart(reason[i]) {
			i--
		}
		reason = reason[:i]
	}
	dst = AppendFrameHeader(dst, true, Close, 2+len(reason))
	dst = binary.BigEndian.AppendUint16(dst, code)
	return append(dst, reason...)
}

// maskBytes XORs b in place with the 4-byte masking key, the key position
// starting at 0 (RFC 6455 section 5.3). Masking is its own inverse, so this
// both masks and unmasks. It works 8 bytes at a time because a busy server
// unmasks every byte a client sends.
func maskBytes(key [4]byte, b []byte) {
	if len(b) >= 8 {
		k := uint64(binary.LittleEndian.Uint32(key[:]))
		k |= k << 32
		for len(b) >= 8 {
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
			b = b[8:]
		}
	}
	// Whole 8-byte words were consumed, so the key position is 0 again.
	for i := range b {
		b[i] ^= key[i&3]
	}
}
