package httpts

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

// framing wraps each write's payload: HTTP chunked encoding, a WebSocket
// binary frame, or nothing (HTTP/1.0, where the body ends at close).
type framing uint8

const (
	framingRaw framing = iota
	framingChunked
	framingWebSocket
)

// tsWriter writes one reader's stream as MPEG-TS. The packets of each
// frame are the shared, once-built bytes of the stream's streamMux; only
// the framing and (when the first frame lacks them) PAT and PMT are this
// session's own.
type tsWriter struct {
	conn         net.Conn
	reader       *engine.Reader
	mux          *streamMux
	framing      framing
	writeTimeout time.Duration

	frames []*media.Frame
	bufs   net.Buffers
	out    net.Buffers
	head   [16]byte // framing prefix
	begun  bool     // the first packets (PAT, PMT, keyframe) went out
	sent   int64
}

func newTSWriter(conn net.Conn, r *engine.Reader, m *streamMux, f framing, writeTimeout time.Duration) *tsWriter {
	return &tsWriter{
		conn:         conn,
		reader:       r,
		mux:          m,
		framing:      f,
		writeTimeout: writeTimeout,
		frames:       make([]*media.Frame, 0, 64),
		bufs:         make(net.Buffers, 0, 16),
	}
}

// run writes until the stream ends (then terminates the body) or a write
// fails.
func (w *tsWriter) run() error {
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
		for _, f := range w.frames {
			b := w.mux.frameBytes(f)
			if len(b) == 0 {
				continue
			}
			if !w.begun {
				// The stream starts at a keyframe (or, without video,
				// an audio frame), after PAT and PMT.
				if !w.startsStream(f) {
					continue
				}
				w.begun = true
				if !startsWithPAT(b) {
					w.bufs = append(w.bufs, w.mux.tables)
				}
			}
			w.bufs = append(w.bufs, b)
		}
		if len(w.bufs) > 1 {
			if err := w.write(); err != nil {
				return err
			}
		}
		clear(w.frames)
		clear(w.bufs)
	}
}

// startsStream reports whether f may be a session's first frame.
func (w *tsWriter) startsStream(f *media.Frame) bool {
	if w.mux.video == nil {
		return true
	}
	return f.Track.Kind() == media.KindVideo && f.Key
}

func (w *tsWriter) write() error {
	size := 0
	for _, b := range w.bufs[1:] {
		size += len(b)
	}
	prefix := w.head[:0]
	switch w.framing {
	case framingChunked:
		prefix = strconv.AppendInt(prefix, int64(size), 16)
		prefix = append(prefix, '\r', '\n')
		w.bufs = append(w.bufs, crlf)
	case framingWebSocket:
		prefix = websocket.AppendFrameHeader(prefix, true, websocket.Binary, size)
	}
	w.bufs[0] = prefix
	_ = w.conn.SetWriteDeadline(time.Now().Add(w.writeTimeout))
	w.out = w.bufs
	n, err := w.out.WriteTo(w.conn)
	w.sent += n
	w.reader.AddBytesOut(int(n))
	return err
}

var (
	crlf          = []byte("\r\n")
	lastChunk     = []byte("0\r\n\r\n")
	wsNormalClose = websocket.AppendCloseFrame(nil, websocket.CloseNormal, "stream ended")
	wsCloseReply  = websocket.AppendCloseFrame(nil, websocket.CloseNormal, "")
)

// finish ends the body cleanly: the last chunk, or a WebSocket close.
func (w *tsWriter) finish() {
	_ = w.conn.SetWriteDeadline(time.Now().Add(time.Second))
	switch w.framing {
	case framingChunked:
		_, _ = w.conn.Write(lastChunk)
	case framingWebSocket:
		_, _ = w.conn.Write(wsNormalClose)
	}
}
