package rtmp

import (
	"encoding/binary"
	"fmt"

	"github.com/bluenviron/gortmplib/pkg/amf0"

	"github.com/mediakit/mediakit/pkg/format/flv"
)

// maxAMFSize caps command and data messages before AMF decoding: real ones
// are a few hundred bytes, and the decoder recurses once per nesting level.
const maxAMFSize = 64 << 10

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
	if flv.AMFTooDeep(body, flv.MaxAMFDepth) {
		return nil, fmt.Errorf("%w: AMF message nests deeper than %d levels", ErrLimit, flv.MaxAMFDepth)
	}
	data, err := amf0.Unmarshal(body)
	if err != nil {
		return nil, fmt.Errorf("rtmp: decode AMF0: %w", err)
	}
	return data, nil
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
