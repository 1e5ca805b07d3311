package livehttp

import (
	"net"
	"strconv"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/internal/pushwrite"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/websocket"
)

// Framing wraps each write's payload: HTTP chunked encoding, a WebSocket
// binary frame, or nothing (HTTP/1.0, where the body ends at close).
type Framing uint8

const (
	FramingRaw Framing = iota
	FramingChunked
	FramingWebSocket
)

// Encoder produces one session's bytes for each batch of frames. The
// bytes of frames are usually shared, once-built ones; only what the
// session adds (a header, tables, sequence headers) is its own.
type Encoder interface {
	// Append appends the bytes of frames to bufs and returns it. Slices
	// appended must stay valid until the next call.
	Append(bufs net.Buffers, frames []*media.Frame) net.Buffers
}

// Writer writes one reader's stream, encoded by an Encoder, in a framing.
type Writer = pushwrite.Writer

// NewWriter returns a writer of r's frames to conn.
func NewWriter(conn net.Conn, r *engine.Reader, enc Encoder, f Framing, writeTimeout time.Duration) *Writer {
	return pushwrite.New(conn, r, &framer{enc: enc, framing: f}, writeTimeout)
}

// framer is a session's Batcher: its encoder's bytes in its framing.
type framer struct {
	enc     Encoder
	framing Framing
	head    [16]byte // framing prefix
}

func (f *framer) Batch(bufs net.Buffers, frames []*media.Frame) net.Buffers {
	bufs = append(bufs, nil) // slot for the framing prefix
	bufs = f.enc.Append(bufs, frames)
	if len(bufs) == 1 {
		return bufs[:0]
	}
	size := 0
	for _, b := range bufs[1:] {
		size += len(b)
	}
	prefix := f.head[:0]
	switch f.framing {
	case FramingChunked:
		prefix = strconv.AppendInt(prefix, int64(size), 16)
		prefix = append(prefix, '\r', '\n')
		bufs = append(bufs, crlf)
	case FramingWebSocket:
		prefix = websocket.AppendFrameHeader(prefix, true, websocket.Binary, size)
	}
	bufs[0] = prefix
	return bufs
}

func (f *framer) Written() {}

var (
	crlf          = []byte("\r\n")
	lastChunk     = []byte("0\r\n\r\n")
	wsNormalClose = websocket.AppendCloseFrame(nil, websocket.CloseNormal, "stream ended")
	wsCloseReply  = websocket.AppendCloseFrame(nil, websocket.CloseNormal, "")
)

// finish ends the body cleanly: the last chunk, or a WebSocket close.
func finish(conn net.Conn, f Framing) {
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	switch f {
	case FramingChunked:
		_, _ = conn.Write(lastChunk)
	case FramingWebSocket:
		_, _ = conn.Write(wsNormalClose)
	}
}
