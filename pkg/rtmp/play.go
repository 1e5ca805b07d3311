package rtmp

import (
	"context"
	"errors"
	"io"
	"net"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

// playStreamID is the message stream id media is sent on; createStream
// always answers 1.
const playStreamID = 1

// FrameMessage returns f as RTMP chunks (chunk size OutChunkSize, absolute
// timestamp, message stream 1), built once per frame and shared by every
// RTMP player.
func FrameMessage(f *media.Frame) []byte {
	return f.Cached(media.EncodingRTMP, buildFrameMessage)
}

func buildFrameMessage(f *media.Frame) []byte {
	body := flv.FrameBody(f)
	csid, typ := uint32(csidAudio), MsgAudio
	if f.Track.Kind() == media.KindVideo {
		csid, typ = csidVideo, MsgVideo
	}
	b := make([]byte, 0, MessageSize(csid, f.DTS, len(body), OutChunkSize))
	return AppendMessage(b, csid, typ, playStreamID, f.DTS, body, OutChunkSize)
}

func (c *conn) runPlay(key engine.Key, params string, cmd *command) error {
	// Watch the connection while waiting for the stream and while
	// playing: a player that leaves or stops must release its reader.
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	_ = c.nc.SetDeadline(time.Time{})
	// A player sends only acknowledgements and the odd command: a small
	// read buffer, since thousands of idle players each hold one.
	c.rebuffer(256)
	readErr := make(chan error, 1)
	go func() {
		readErr <- c.readWhilePlaying()
		cancel()
	}()
	defer func() {
		c.nc.Close()
		<-readErr
	}()

	reader, err := c.srv.Engine.Play(ctx, key, c.sessionInfo(params))
	if err != nil {
		switch {
		case errors.Is(err, engine.ErrNotFound) || errors.Is(err, engine.ErrInvalidKey):
			c.refuse("NetStream.Play.StreamNotFound", "No such stream: "+key.String())
		case errors.Is(err, engine.ErrDenied):
			c.refuse("NetStream.Play.Failed", "Play denied: "+key.String())
		case errors.Is(err, engine.ErrTooManyReaders):
			c.refuse("NetStream.Play.Failed", "Too many players: "+key.String())
		}
		return err
	}
	defer reader.Close()
	stop := context.AfterFunc(ctx, reader.Close)
	defer stop()
	closeConn := reader.OnDone(func() { c.nc.Close() })
	defer closeConn()

	c.log.Info("rtmp play started")
	start := time.Now()
	var sent int64
	p := &player{conn: c, reader: reader}
	err = p.run(&sent)
	c.log.Info("rtmp play ended", "duration", time.Since(start).Round(time.Millisecond).String(),
		"bytes", sent, "skipped", reader.Skipped(), "reason", errString(err))
	if errors.Is(err, io.EOF) || errors.Is(err, engine.ErrReaderClosed) {
		return nil
	}
	return err
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// readWhilePlaying consumes what a player sends (acknowledgements,
// commands) until it stops or the connection closes. It never writes, so
// the player goroutine is the only writer.
func (c *conn) readWhilePlaying() error {
	for {
		msg, err := c.cr.ReadMessage()
		if err != nil {
			return err
		}
		switch msg.Type {
		case MsgSetChunkSize:
			if len(msg.Body) >= 4 {
				if err := c.cr.SetChunkSize(uint32(msg.Body[0])<<24&0x7f000000 | uint32(msg.Body[1])<<16 | uint32(msg.Body[2])<<8 | uint32(msg.Body[3])); err != nil {
					return err
				}
			}
		case MsgCommandAMF0, MsgCommandAMF3:
			cmd, err := parseCommand(msg)
			if err != nil {
				return err
			}
			switch cmd.name {
			case "deleteStream", "closeStream", "FCUnpublish":
				return io.EOF
			}
		}
	}
}

// player writes one reader's frames to the connection.
type player struct {
	conn   *conn
	reader *engine.Reader
	video  *media.Track
	audio  *media.Track
	frames []*media.Frame
	bufs   net.Buffers
	out    net.Buffers
	extra  []byte // per-write scratch: sequence headers on a config change
}

func (p *player) run(sent *int64) error {
	c := p.conn
	c.mw.reset()
	c.mw.userControl(ucStreamIsRecorded, playStreamID)
	c.mw.userControl(ucStreamBegin, playStreamID)
	for _, s := range []struct{ code, desc string }{
		{"NetStream.Play.Reset", "Playing and resetting stream."},
		{"NetStream.Play.Start", "Started playing stream."},
	} {
		if err := c.mw.onStatus(playStreamID, "status", s.code, s.desc); err != nil {
			return err
		}
	}
	if err := c.mw.amf(csidData, MsgDataAMF0, playStreamID, "|RtmpSampleAccess", true, true); err != nil {
		return err
	}
	if err := c.mw.onStatus(playStreamID, "status", "NetStream.Data.Start", "Started playing stream."); err != nil {
		return err
	}
	if md := flv.MetadataBody(p.reader.Tracks(), p.reader.Metadata()); md != nil {
		c.mw.buf = AppendMessage(c.mw.buf, csidData, MsgDataAMF0, playStreamID, 0, md, OutChunkSize)
	}
	head := append([]byte(nil), c.mw.buf...)
	c.mw.buf = nil // commands are done: an idle player holds nothing here

	// Small to start with: an idle player holds these; append grows them
	// for a GOP burst.
	p.frames = make([]*media.Frame, 0, 64)
	p.bufs = make(net.Buffers, 0, 16)
	first := true
	for {
		var err error
		p.frames, err = p.reader.Next(p.frames[:0])
		if err != nil {
			if errors.Is(err, io.EOF) {
				p.finish()
			}
			return err
		}
		p.bufs = p.bufs[:0]
		p.extra = p.extra[:0]
		if first {
			p.bufs = append(p.bufs, head)
			first = false
			head = nil
		}
		p.appendFrames()
		n, err := p.write()
		*sent += n
		if err != nil {
			return err
		}
		// drop references so delivered frames can be collected
		clear(p.frames)
		clear(p.bufs)
	}
}

// appendFrames queues the frames, preceded by a sequence header whenever
// a track's configuration is new to this player.
func (p *player) appendFrames() {
	// Sequence headers go to extra first; extra is only appended to, so
	// slices into it stay valid until the write.
	need := 0
	for _, f := range p.frames {
		if t := f.Track; (t.Kind() == media.KindVideo && t != p.video) || (t.Kind() == media.KindAudio && t != p.audio) {
			need += 64 + len(flv.SequenceHeaderBody(t))
		}
	}
	if cap(p.extra) < need {
		p.extra = make([]byte, 0, need)
	}
	for _, f := range p.frames {
		t := f.Track
		if !flv.SupportsCodec(t.Codec) {
			// Left out, reported once per stream; the other tracks play on.
			p.reader.DropTrack("rtmp", t, "FLV cannot carry "+t.Codec.String())
			continue
		}
		cur := &p.audio
		if t.Kind() == media.KindVideo {
			cur = &p.video
		}
		if t != *cur {
			*cur = t
			if body := flv.SequenceHeaderBody(t); body != nil {
				csid, typ := uint32(csidAudio), MsgAudio
				if t.Kind() == media.KindVideo {
					csid, typ = csidVideo, MsgVideo
				}
				start := len(p.extra)
				p.extra = AppendMessage(p.extra, csid, typ, playStreamID, f.DTS, body, OutChunkSize)
				p.bufs = append(p.bufs, p.extra[start:])
			}
		}
		p.bufs = append(p.bufs, FrameMessage(f))
	}
}

func (p *player) write() (int64, error) {
	c := p.conn
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.WriteTimeout))
	p.out = p.bufs
	n, err := p.out.WriteTo(c.nc)
	p.reader.AddBytesOut(int(n))
	return n, err
}

// finish tells the player the stream ended.
func (p *player) finish() {
	c := p.conn
	c.mw.reset()
	c.mw.userControl(ucStreamEOF, playStreamID)
	_ = c.mw.onStatus(playStreamID, "status", "NetStream.Play.UnpublishNotify", "Stream ended.")
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_ = c.flush()
}
