package livehttp

import (
	"errors"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
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
type Writer struct {
	conn         net.Conn
	reader       *engine.Reader
	enc          Encoder
	framing      Framing
	writeTimeout time.Duration

	frames []*media.Frame
	bufs   net.Buffers
	out    net.Buffers
	head   [16]byte // framing prefix
	sent   int64
}

// NewWriter returns a writer of r's frames to conn.
func NewWriter(conn net.Conn, r *engine.Reader, enc Encoder, f Framing, writeTimeout time.Duration) *Writer {
	return &Writer{
		conn:         conn,
		reader:       r,
		enc:          enc,
		framing:      f,
		writeTimeout: writeTimeout,
		// Small to start with: an idle player holds these, and append
		// grows them for the GOP burst when a player joins.
		frames: make([]*media.Frame, 0, 64),
		bufs:   make(net.Buffers, 0, 16),
	}
}

// FrameCap is the capacity of the writer's batch of frames.
func (w *Writer) FrameCap() int { return cap(w.frames) }

// Sent is the number of bytes written.
func (w *Writer) Sent() int64 { return w.sent }

// Run writes until the stream ends (then terminates the body) or a write
// fails.
func (w *Writer) Run() error {
	for {
		var err error
		w.frames, err = w.reader.Next(w.frames[:0])
		if err != nil {
			if errors.Is(err, io.EOF) {
				w.finish()
			}
			return err
		}
		w.bufs = append(w.bufs[:0], nil) // slot for the framing prefix
		w.bufs = w.enc.Append(w.bufs, w.frames)
		if len(w.bufs) > 1 {
			if err := w.write(); err != nil {
				return err
			}
		}
		clear(w.frames)
		clear(w.bufs)
	}
}

func (w *Writer) write() error {
	w.frame()
	_ = w.conn.SetWriteDeadline(time.Now().Add(w.writeTimeout))
	return w.writeOut()
}

// frame puts the framing around the batch in w.bufs (whose first slot is
// kept for the prefix) and makes it w.out, what is left to write.
func (w *Writer) frame() {
	size := 0
	for _, b := range w.bufs[1:] {
		size += len(b)
	}
	prefix := w.head[:0]
	switch w.framing {
	case FramingChunked:
		prefix = strconv.AppendInt(prefix, int64(size), 16)
		prefix = append(prefix, '\r', '\n')
		w.bufs = append(w.bufs, crlf)
	case FramingWebSocket:
		prefix = websocket.AppendFrameHeader(prefix, true, websocket.Binary, size)
	}
	w.bufs[0] = prefix
	w.out = w.bufs
}

// writeOut writes w.out, waiting for the socket as long as the deadline
// set allows.
func (w *Writer) writeOut() error {
	n, err := w.out.WriteTo(w.conn)
	w.count(int(n))
	return err
}

func (w *Writer) count(n int) {
	w.sent += int64(n)
	w.reader.AddBytesOut(n)
}

var (
	crlf          = []byte("\r\n")
	lastChunk     = []byte("0\r\n\r\n")
	wsNormalClose = websocket.AppendCloseFrame(nil, websocket.CloseNormal, "stream ended")
	wsCloseReply  = websocket.AppendCloseFrame(nil, websocket.CloseNormal, "")
)

// finish ends the body cleanly: the last chunk, or a WebSocket close.
func (w *Writer) finish() {
	_ = w.conn.SetWriteDeadline(time.Now().Add(time.Second))
	switch w.framing {
	case FramingChunked:
		_, _ = w.conn.Write(lastChunk)
	case FramingWebSocket:
		_, _ = w.conn.Write(wsNormalClose)
	}
}
