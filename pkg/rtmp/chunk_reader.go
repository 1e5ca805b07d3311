package rtmp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mediakit/mediakit/pkg/format/flv"
)

// Limits bound what a peer can make the chunk reader hold.
type Limits struct {
	// MaxMessageSize caps one message. RTMP's 24-bit length allows 16 MiB.
	MaxMessageSize int
	// MaxChunkStreams caps the chunk streams a peer may use at once.
	MaxChunkStreams int
	// MaxPending caps bytes of partly received messages across all chunk
	// streams.
	MaxPending int
}

// DefaultLimits are generous for real encoders (a 4K keyframe is a few
// MiB) and small enough that a hostile peer cannot exhaust memory.
func DefaultLimits() Limits {
	return Limits{MaxMessageSize: 8 << 20, MaxChunkStreams: 32, MaxPending: 16 << 20}
}

// readStep is the most a chunk's buffer grows ahead of the bytes received.
const readStep = 64 << 10

// ErrLimit marks input that exceeded a Limit.
var ErrLimit = errors.New("rtmp: limit exceeded")

// chunkStream is the header-compression state of one chunk stream id.
type chunkStream struct {
	hasHeader bool
	timestamp uint32 // of the current or last message
	delta     uint32 // timestamp delta applied by type 3 chunks
	extended  bool   // the last header used an extended timestamp
	extValue  uint32 // the extended timestamp field of that header
	length    uint32
	typ       MessageType
	streamID  uint32
	body      []byte // partial message
	raw       []byte // body's allocation, with tag room for audio and video
}

// resize gives the partial message a capacity of n, copying what it has.
// An audio or video body is allocated with room for an FLV tag header
// before it and the tag's size after it: the FLV encoder fills them in
// and sends the body where it lies instead of copying it (Message.Room).
func (cs *chunkStream) resize(n int) {
	head, tail := 0, 0
	if cs.typ == MsgAudio || cs.typ == MsgVideo {
		head, tail = flv.TagHeaderLen, flv.PrevSizeLen
	}
	raw := make([]byte, head+n+tail)
	copy(raw[head:], cs.body)
	cs.raw = raw
	cs.body = raw[head : head+len(cs.body) : head+n]
}

// room returns the complete body's allocation when it is exactly an FLV
// tag's worth: header room, the body, size room.
func (cs *chunkStream) room() []byte {
	if cs.typ != MsgAudio && cs.typ != MsgVideo {
		return nil
	}
	if n := flv.TagHeaderLen + len(cs.body) + flv.PrevSizeLen; cap(cs.body) != len(cs.body) || len(cs.raw) != n ||
		len(cs.body) == 0 || &cs.raw[flv.TagHeaderLen] != &cs.body[0] {
		return nil
	}
	return cs.raw
}

// ChunkReader reassembles messages from an RTMP chunk stream.
type ChunkReader struct {
	r         *bufio.Reader
	limits    Limits
	chunkSize uint32
	streams   map[uint32]*chunkStream
	pending   int
	hdr       [16]byte
}

// NewChunkReader reads chunks from r.
func NewChunkReader(r *bufio.Reader, limits Limits) *ChunkReader {
	return &ChunkReader{r: r, limits: limits, chunkSize: 128, streams: make(map[uint32]*chunkStream)}
}

// SetChunkSize applies the peer's Set Chunk Size.
func (c *ChunkReader) SetChunkSize(n uint32) error {
	// The top bit must be zero; a chunk never exceeds a message, so the
	// message cap bounds it too.
	if n < 1 || n > 0x7fffffff {
		return fmt.Errorf("%w: chunk size %d", ErrLimit, n)
	}
	c.chunkSize = n
	return nil
}

// Abort drops the partial message of a chunk stream (Abort Message).
func (c *ChunkReader) Abort(csid uint32) {
	if cs := c.streams[csid]; cs != nil && len(cs.body) > 0 {
		c.pending -= len(cs.body)
		cs.body, cs.raw = nil, nil
	}
}

// ReadMessage returns the next complete message. Protocol control messages
// are returned too; the caller applies them (SetChunkSize, Abort, ...).
func (c *ChunkReader) ReadMessage() (*Message, error) {
	msg := new(Message)
	if err := c.ReadMessageTo(msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// ReadMessageTo is ReadMessage into msg, for a reader that is done with a
// message before it reads the next: a publisher sends tens of messages a
// second, and at a thousand publishers a Message of its own for each was
// a tenth of the server's allocations. Only the Message is reused; its
// Body is the message's own, as from ReadMessage.
func (c *ChunkReader) ReadMessageTo(msg *Message) error {
	for {
		done, err := c.readChunk(msg)
		if err != nil || done {
			return err
		}
	}
}

// readChunk reads one chunk; when it completes a message, it fills msg
// and reports true.
func (c *ChunkReader) readChunk(msg *Message) (bool, error) {
	b0, err := c.r.ReadByte()
	if err != nil {
		return false, err
	}
	format := b0 >> 6
	csid := uint32(b0 & 0x3f)
	switch csid {
	case 0:
		b, err := c.r.ReadByte()
		if err != nil {
			return false, unexpected(err)
		}
		csid = 64 + uint32(b)
	case 1:
		if _, err := io.ReadFull(c.r, c.hdr[:2]); err != nil {
			return false, unexpected(err)
		}
		csid = 64 + uint32(c.hdr[0]) + uint32(c.hdr[1])<<8
	}

	cs := c.streams[csid]
	if cs == nil {
		if len(c.streams) >= c.limits.MaxChunkStreams {
			return false, fmt.Errorf("%w: more than %d chunk streams", ErrLimit, c.limits.MaxChunkStreams)
		}
		cs = &chunkStream{}
		c.streams[csid] = cs
	}
	if format != 0 && !cs.hasHeader {
		return false, fmt.Errorf("rtmp: chunk type %d on chunk stream %d without a previous header", format, csid)
	}
	if format != 3 && len(cs.body) > 0 {
		return false, fmt.Errorf("rtmp: chunk type %d on chunk stream %d in the middle of a message", format, csid)
	}

	var ts uint32
	switch format {
	case 0:
		if _, err := io.ReadFull(c.r, c.hdr[:11]); err != nil {
			return false, unexpected(err)
		}
		ts = uint24(c.hdr[0:3])
		cs.length = uint24(c.hdr[3:6])
		cs.typ = MessageType(c.hdr[6])
		cs.streamID = binary.LittleEndian.Uint32(c.hdr[7:11])
	case 1:
		if _, err := io.ReadFull(c.r, c.hdr[:7]); err != nil {
			return false, unexpected(err)
		}
		ts = uint24(c.hdr[0:3])
		cs.length = uint24(c.hdr[3:6])
		cs.typ = MessageType(c.hdr[6])
	case 2:
		if _, err := io.ReadFull(c.r, c.hdr[:3]); err != nil {
			return false, unexpected(err)
		}
		ts = uint24(c.hdr[0:3])
	}

	if format != 3 {
		cs.extended = ts == 0xffffff
		if cs.extended {
			if _, err := io.ReadFull(c.r, c.hdr[:4]); err != nil {
				return false, unexpected(err)
			}
			ts = binary.BigEndian.Uint32(c.hdr[:4])
			cs.extValue = ts
		}
		if format == 0 {
			cs.timestamp = ts
			// A type 3 chunk after a type 0 chunk repeats the type 0
			// timestamp as its delta (RTMP spec 5.3.1.2.4).
			cs.delta = ts
		} else {
			cs.delta = ts
			cs.timestamp += ts
		}
		cs.hasHeader = true
	} else {
		if cs.extended {
			// Type 3 chunks repeat the extended timestamp, though some
			// encoders omit it: consume it only when it is there.
			peek, err := c.r.Peek(4)
			if err != nil {
				return false, unexpected(err)
			}
			if binary.BigEndian.Uint32(peek) == cs.extValue {
				_, _ = c.r.Discard(4)
			}
		}
		if len(cs.body) == 0 {
			// a new message with the previous header and delta
			cs.timestamp += cs.delta
		}
	}

	if int(cs.length) > c.limits.MaxMessageSize {
		return false, fmt.Errorf("%w: message of %d bytes (limit %d)", ErrLimit, cs.length, c.limits.MaxMessageSize)
	}
	remaining := int(cs.length) - len(cs.body)
	n := min(remaining, int(c.chunkSize))
	if c.pending+n > c.limits.MaxPending {
		return false, fmt.Errorf("%w: %d bytes of partial messages", ErrLimit, c.pending+n)
	}
	if cs.body == nil {
		// grow with what actually arrives, not with the declared length
		cs.resize(min(int(cs.length), int(c.chunkSize), readStep))
	}
	// A peer may announce a chunk as large as the whole message (Set Chunk
	// Size 0x7fffffff) and then send nothing: read in steps so memory
	// follows the bytes received, not the bytes announced.
	for left := n; left > 0; {
		step := min(left, readStep)
		start := len(cs.body)
		if cap(cs.body)-start < step {
			// Double, as append would, but never past the message's
			// length: the body becomes the frame's payload and is kept
			// in the GOP cache, so spare capacity is memory held per
			// frame (up to half of it, with 128-byte chunks).
			cs.resize(min(int(cs.length), max(2*cap(cs.body), start+step)))
		}
		cs.body = cs.body[:start+step]
		if _, err := io.ReadFull(c.r, cs.body[start:]); err != nil {
			cs.body = cs.body[:start]
			return false, unexpected(err)
		}
		left -= step
		c.pending += step
	}
	if len(cs.body) < int(cs.length) {
		return false, nil
	}
	*msg = Message{
		ChunkStreamID: csid,
		Type:          cs.typ,
		StreamID:      cs.streamID,
		Timestamp:     time.Duration(cs.timestamp) * time.Millisecond,
		Body:          cs.body,
		Room:          cs.room(),
	}
	c.pending -= len(cs.body)
	cs.body, cs.raw = nil, nil
	return true, nil
}

func uint24(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
