package rtmp

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/mediakit/mediakit/pkg/format/flv"
)

// applyControl applies a protocol control message that either end of a
// connection receives: chunk size, abort, the peer's acknowledgement
// window. It reports whether msg was a control message, and for a ping
// request the value the caller must echo in a ping response.
func applyControl(cr *ChunkReader, msg *Message, ackWindow *uint32) (consumed bool, ping *uint32, err error) {
	switch msg.Type {
	case MsgSetChunkSize:
		if len(msg.Body) < 4 {
			return true, nil, errors.New("short Set Chunk Size")
		}
		return true, nil, cr.SetChunkSize(binary.BigEndian.Uint32(msg.Body) & 0x7fffffff)
	case MsgAbort:
		if len(msg.Body) >= 4 {
			cr.Abort(binary.BigEndian.Uint32(msg.Body))
		}
		return true, nil, nil
	case MsgWindowAckSize:
		if len(msg.Body) >= 4 {
			*ackWindow = binary.BigEndian.Uint32(msg.Body)
		}
		return true, nil, nil
	case MsgAcknowledgement, MsgSetPeerBandwidth:
		return true, nil, nil
	case MsgUserControl:
		if len(msg.Body) >= 6 && binary.BigEndian.Uint16(msg.Body) == ucPingRequest {
			v := binary.BigEndian.Uint32(msg.Body[2:])
			return true, &v, nil
		}
		return true, nil, nil
	}
	return false, nil, nil
}

// eachAggregated calls fn for the audio, video and data messages packed in
// an aggregate message: FLV tags whose timestamps are relative to the
// first one's, rebased on the message timestamp.
func eachAggregated(msg *Message, fn func(sub *Message) error) error {
	body := msg.Body
	var base time.Duration
	first := true
	for len(body) >= flv.TagHeaderLen {
		typ := flv.TagType(body[0] & 0x1f)
		size := int(body[1])<<16 | int(body[2])<<8 | int(body[3])
		ts := time.Duration(uint32(body[7])<<24|uint32(body[4])<<16|uint32(body[5])<<8|uint32(body[6])) * time.Millisecond
		if len(body) < flv.TagHeaderLen+size {
			return errors.New("rtmp: truncated aggregate message")
		}
		if first {
			base = ts
			first = false
		}
		sub := &Message{
			ChunkStreamID: msg.ChunkStreamID,
			StreamID:      msg.StreamID,
			Timestamp:     msg.Timestamp + ts - base,
			Body:          body[flv.TagHeaderLen : flv.TagHeaderLen+size : flv.TagHeaderLen+size],
		}
		switch typ {
		case flv.TagVideo:
			sub.Type = MsgVideo
		case flv.TagAudio:
			sub.Type = MsgAudio
		case flv.TagScript:
			sub.Type = MsgDataAMF0
		default:
			sub = nil
		}
		if sub != nil && len(sub.Body) > 0 {
			if err := fn(sub); err != nil {
				return err
			}
		}
		body = body[min(len(body), flv.TagHeaderLen+size+flv.PrevSizeLen):]
	}
	return nil
}
