// Package rtmp is mediakit's RTMP server: the chunk stream with hard limits
// on sizes, the NetConnection/NetStream commands, and the adapters that turn
// a publishing session into an engine publisher and a playing session into
// an engine reader. The handshake and AMF0 come from gortmplib; the chunk
// layer is mediakit's own so that limits are enforced while reading and
// media chunks are built once per frame and shared by every player.
package rtmp

import (
	"time"
)

// MessageType is an RTMP message type id.
type MessageType uint8

// Message types (RTMP spec 5.4, 7.1).
const (
	MsgSetChunkSize     MessageType = 1
	MsgAbort            MessageType = 2
	MsgAcknowledgement  MessageType = 3
	MsgUserControl      MessageType = 4
	MsgWindowAckSize    MessageType = 5
	MsgSetPeerBandwidth MessageType = 6
	MsgAudio            MessageType = 8
	MsgVideo            MessageType = 9
	MsgDataAMF3         MessageType = 15
	MsgCommandAMF3      MessageType = 17
	MsgDataAMF0         MessageType = 18
	MsgCommandAMF0      MessageType = 20
	MsgAggregate        MessageType = 22
)

// User control event types.
const (
	ucStreamBegin      = 0
	ucStreamEOF        = 1
	ucStreamDry        = 2
	ucSetBufferLength  = 3
	ucStreamIsRecorded = 4
	ucPingRequest      = 6
	ucPingResponse     = 7
)

// Chunk stream ids mediakit writes on. Media has its own ids so the
// pre-built media chunks never share header-compression state with
// control messages.
const (
	csidControl = 2
	csidCommand = 3
	csidAudio   = 4
	csidData    = 5
	csidVideo   = 6
)

// Message is one reassembled RTMP message. Body is owned by the caller.
type Message struct {
	ChunkStreamID uint32
	Type          MessageType
	StreamID      uint32
	Timestamp     time.Duration
	Body          []byte
	// Room, for an audio or video message read by a ChunkReader, is
	// Body's allocation laid out as an FLV tag: flv.TagHeaderLen bytes
	// before Body and flv.PrevSizeLen after it, free for the tag's header
	// and size (flv.Ingest.VideoInRoom). Nil otherwise.
	Room []byte
}
