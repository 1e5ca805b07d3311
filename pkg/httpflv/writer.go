package httpflv

import (
	"errors"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
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

// flvWriter writes one reader's stream as FLV. Frame tags are the shared,
// once-built bytes of each frame; only the framing and the initial tags
// are this session's own.
type flvWriter struct {
	conn         net.Conn
	reader       *engine.Reader
	framing      framing
	writeTimeout time.Duration

	video, audio *media.Track
	frames       []*media.Frame
	bufs         net.Buffers
	out          net.Buffers
	head         [16]byte // framing prefix
	extra        []byte   // session-only tags: header, metadata, sequence headers
	sent         int64
}

func newFLVWriter(conn net.Conn, r *engine.Reader, f framing, writeTimeout time.Duration) *flvWriter {
	return &flvWriter{
		conn:         conn,
		reader:       r,
		framing:      f,
		writeTimeout: writeTimeout,
		// Small to start with: an idle player holds these, and append
		// grows them for the GOP burst when a player joins.
		frames: make([]*media.Frame, 0, 64),
		bufs:   make(net.Buffers, 0, 16),
	}
}

// run writes until the stream ends (then terminates the body) or a write
// fails.
func (w *flvWriter) run() error {
	first := true
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
		w.extra = w.extra[:0]
		if first {
			first = false
			w.appendStart()
		}
		w.appendFrames()
		if err := w.write(); err != nil {
			return err
		}
		clear(w.frames)
		clear(w.bufs)
	}
}

// appendStart queues the FLV header, the onMetaData tag and the sequence
// headers of the stream's tracks (flv.AppendStart).
func (w *flvWriter) appendStart() {
	w.extra, w.video, w.audio = flv.AppendStart(w.extra[:0], w.reader.Tracks(), w.reader.Metadata(), w.frames[0].DTS)
	w.bufs = append(w.bufs, w.extra)
}

// seqHeaderSize is the room sequence headers need in this batch.
func (w *flvWriter) seqHeaderSize() int {
	n := 0
	for _, f := range w.frames {
		if t := f.Track; t != w.video && t != w.audio {
			n += flv.TagHeaderLen + flv.PrevSizeLen + len(flv.SequenceHeaderBody(t))
		}
	}
	return n
}

// appendFrames queues the frames, each preceded by a sequence header when
// its track's configuration is new to this session.
func (w *flvWriter) appendFrames() {
	if need := len(w.extra) + w.seqHeaderSize(); cap(w.extra) < need {
		// Grow before slicing: slices of extra already queued must stay
		// valid, so extra never reallocates below.
		grown := make([]byte, len(w.extra), need)
		copy(grown, w.extra)
		if len(w.extra) > 0 {
			w.bufs[len(w.bufs)-1] = grown
		}
		w.extra = grown
	}
	for _, f := range w.frames {
		t := f.Track
		cur := &w.audio
		if t.Kind() == media.KindVideo {
			cur = &w.video
		}
		if t != *cur {
			*cur = t
			start := len(w.extra)
			w.extra = flv.AppendSequenceHeaderTag(w.extra, t, f.DTS)
			if len(w.extra) > start {
				w.bufs = append(w.bufs, w.extra[start:])
			}
		}
		w.bufs = append(w.bufs, flv.FrameTag(f))
	}
}

func (w *flvWriter) write() error {
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
func (w *flvWriter) finish() {
	_ = w.conn.SetWriteDeadline(time.Now().Add(time.Second))
	switch w.framing {
	case framingChunked:
		_, _ = w.conn.Write(lastChunk)
	case framingWebSocket:
		_, _ = w.conn.Write(wsNormalClose)
	}
}
