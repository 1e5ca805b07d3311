package rtmp

import (
	"encoding/binary"
	"fmt"

	"github.com/bluenviron/gortmplib/pkg/amf0"
)

// maxAMFSize caps command and data messages before AMF decoding: real ones
// are a few hundred bytes, and the decoder recurses once per nesting level.
const maxAMFSize = 64 << 10

// maxAMFDepth caps how deeply objects and arrays nest in a command. Real
// commands nest two or three levels (connect's fourCcList); the decoder
// has no limit of its own and recurses once per level.
const maxAMFDepth = 32

// command is a decoded AMF0 command message.
type command struct {
	name     string
	txn      float64
	object   amf0.Object // command object (connect) or nil
	args     []any       // values after the command object
	streamID uint32
}

func decodeAMF(msg *Message) (amf0.Data, error) {
	body := msg.Body
	if msg.Type == MsgCommandAMF3 || msg.Type == MsgDataAMF3 {
		// AMF3 messages start with a format byte, then AMF0 values.
		if len(body) < 1 {
			return nil, fmt.Errorf("rtmp: empty AMF3 message")
		}
		body = body[1:]
	}
	if len(body) > maxAMFSize {
		return nil, fmt.Errorf("%w: AMF message of %d bytes", ErrLimit, len(body))
	}
	if amfTooDeep(body, maxAMFDepth) {
		return nil, fmt.Errorf("%w: AMF message nests deeper than %d levels", ErrLimit, maxAMFDepth)
	}
	data, err := amf0.Unmarshal(body)
	if err != nil {
		return nil, fmt.Errorf("rtmp: decode AMF0: %w", err)
	}
	return data, nil
}

// AMF0 markers amfTooDeep needs to walk a message.
const (
	amfNumber      = 0x00
	amfBoolean     = 0x01
	amfString      = 0x02
	amfObject      = 0x03
	amfNull        = 0x05
	amfUndefined   = 0x06
	amfECMAArray   = 0x08
	amfObjectEnd   = 0x09
	amfStrictArray = 0x0a
)

// amfTooDeep reports whether the AMF0 values in b nest objects or arrays
// more than max levels deep. It walks b without recursion or allocation
// beyond the nesting stack, and stops (reporting false) at anything the
// decoder will reject anyway.
func amfTooDeep(b []byte, max int) bool {
	// One entry per open container: -1 for an object or ECMA array
	// (key/value pairs until an empty key), else the values left in a
	// strict array.
	var stack []int64
	for {
		if n := len(stack); n > 0 {
			top := &stack[n-1]
			if *top < 0 {
				if len(b) < 2 {
					return false
				}
				kl := int(b[0])<<8 | int(b[1])
				b = b[2:]
				if kl == 0 {
					if len(b) < 1 || b[0] != amfObjectEnd {
						return false
					}
					b = b[1:]
					stack = stack[:n-1]
					continue
				}
				if len(b) < kl {
					return false
				}
				b = b[kl:]
			} else {
				if *top == 0 {
					stack = stack[:n-1]
					continue
				}
				*top--
			}
		}
		if len(b) < 1 {
			return false
		}
		marker := b[0]
		b = b[1:]
		skip := 0
		switch marker {
		case amfNumber:
			skip = 8
		case amfBoolean:
			skip = 1
		case amfString:
			if len(b) < 2 {
				return false
			}
			skip = 2 + (int(b[0])<<8 | int(b[1]))
		case amfNull, amfUndefined:
		case amfObject, amfECMAArray:
			if marker == amfECMAArray {
				if len(b) < 4 {
					return false
				}
				b = b[4:]
			}
			stack = append(stack, -1)
		case amfStrictArray:
			if len(b) < 4 {
				return false
			}
			stack = append(stack, int64(binary.BigEndian.Uint32(b)))
			b = b[4:]
		default:
			return false
		}
		if len(stack) > max {
			return true
		}
		if len(b) < skip {
			return false
		}
		b = b[skip:]
	}
}

func parseCommand(msg *Message) (*command, error) {
	data, err := decodeAMF(msg)
	if err != nil {
		return nil, err
	}
	if len(data) < 2 {
		return nil, fmt.Errorf("rtmp: command with %d values", len(data))
	}
	name, ok := data[0].(string)
	if !ok {
		return nil, fmt.Errorf("rtmp: command name is %T", data[0])
	}
	txn, _ := data[1].(float64)
	c := &command{name: name, txn: txn, streamID: msg.StreamID}
	if len(data) > 2 {
		c.object = objectOf(data[2])
		c.args = data[3:]
	}
	return c, nil
}

func objectOf(v any) amf0.Object {
	switch o := v.(type) {
	case amf0.Object:
		return o
	case amf0.ECMAArray:
		return amf0.Object(o)
	}
	return nil
}

// stringArg returns the i-th argument after the command object.
func (c *command) stringArg(i int) (string, bool) {
	if i >= len(c.args) {
		return "", false
	}
	s, ok := c.args[i].(string)
	return s, ok
}

// messageWriter builds control and command messages into a scratch buffer.
// Media does not go through it.
type messageWriter struct {
	buf []byte
}

func (w *messageWriter) reset() { w.buf = w.buf[:0] }

func (w *messageWriter) control(typ MessageType, payload []byte) {
	w.buf = AppendMessage(w.buf, csidControl, typ, 0, 0, payload, OutChunkSize)
}

func (w *messageWriter) setChunkSize(n uint32) {
	w.control(MsgSetChunkSize, binary.BigEndian.AppendUint32(nil, n))
}

func (w *messageWriter) windowAckSize(n uint32) {
	w.control(MsgWindowAckSize, binary.BigEndian.AppendUint32(nil, n))
}

func (w *messageWriter) setPeerBandwidth(n uint32) {
	w.control(MsgSetPeerBandwidth, append(binary.BigEndian.AppendUint32(nil, n), 2))
}

func (w *messageWriter) ack(n uint32) {
	w.control(MsgAcknowledgement, binary.BigEndian.AppendUint32(nil, n))
}

func (w *messageWriter) userControl(event uint16, value uint32) {
	b := binary.BigEndian.AppendUint16(nil, event)
	w.control(MsgUserControl, binary.BigEndian.AppendUint32(b, value))
}

func (w *messageWriter) amf(csid uint32, typ MessageType, streamID uint32, values ...any) error {
	body, err := amf0.Data(values).Marshal()
	if err != nil {
		return fmt.Errorf("rtmp: encode AMF0: %w", err)
	}
	w.buf = AppendMessage(w.buf, csid, typ, streamID, 0, body, OutChunkSize)
	return nil
}

func (w *messageWriter) result(txn float64, values ...any) error {
	return w.amf(csidCommand, MsgCommandAMF0, 0, append([]any{"_result", txn}, values...)...)
}

func (w *messageWriter) onStatus(streamID uint32, level, code, description string) error {
	return w.amf(csidData, MsgCommandAMF0, streamID, "onStatus", float64(0), nil, amf0.Object{
		{Key: "level", Value: level},
		{Key: "code", Value: code},
		{Key: "description", Value: description},
	})
}
