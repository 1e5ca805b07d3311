package rtmp

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
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

// startPlay attaches a reader for key and hands the connection to a new
// goroutine that plays it. The connection's first goroutine returns:
// its stack grew through the handshake, the commands and the logging,
// and an idle player then holds only two small stacks (its writer,
// parked in Reader.Next, and its socket reader).
func (c *conn) startPlay(key engine.Key, params string) error {
	ps, err := c.attachPlayer(key, params)
	if err != nil {
		return err
	}
	c.handedOff = true
	go ps.run()
	return nil
}

// playSession is a player with its reader attached.
type playSession struct {
	c         *conn
	reader    *engine.Reader
	readErr   chan error
	stopClose func() bool
	start     time.Time
}

// attachPlayer starts the socket reader and waits for the stream's
// reader. On error the socket reader has ended.
func (c *conn) attachPlayer(key engine.Key, params string) (*playSession, error) {
	_ = c.nc.SetDeadline(time.Time{})
	// A player sends only acknowledgements and the odd command: a small
	// read buffer, since thousands of idle players each hold one.
	c.rebuffer(256)
	// The socket reader ends the session when the player leaves or
	// stops, waiting for the stream or playing: it cancels the
	// connection's context and closes the reader, if there is one yet.
	var reader atomic.Pointer[engine.Reader]
	readErr := make(chan error, 1)
	go func() {
		err := c.readWhilePlaying()
		c.cancel()
		if r := reader.Load(); r != nil {
			r.Close()
		}
		readErr <- err
	}()

	r, err := c.srv.Engine.Play(c.ctx, key, c.sessionInfo(params))
	if err != nil {
		switch {
		case errors.Is(err, engine.ErrNotFound) || errors.Is(err, engine.ErrInvalidKey):
			c.refuse("NetStream.Play.StreamNotFound", "No such stream: "+key.String())
		case errors.Is(err, engine.ErrDenied):
			c.refuse("NetStream.Play.Failed", "Play denied: "+key.String())
		case errors.Is(err, engine.ErrTooManyReaders):
			c.refuse("NetStream.Play.Failed", "Too many players: "+key.String())
		}
		c.nc.Close()
		<-readErr
		return nil, err
	}
	reader.Store(r)
	if c.ctx.Err() != nil {
		r.Close() // the player left while Play answered
	}
	ps := &playSession{c: c, reader: r, readErr: readErr, start: time.Now()}
	ps.stopClose = r.OnDone(func() { c.nc.Close() })
	c.log.Info("rtmp play started")
	return ps, nil
}

// run plays until the reader or the connection ends, then finishes the
// connection.
func (ps *playSession) run() {
	c := ps.c
	var sent int64
	p := &player{conn: c, reader: ps.reader}
	err := p.run(&sent)
	c.log.Info("rtmp play ended", "duration", time.Since(ps.start).Round(time.Millisecond).String(),
		"bytes", sent, "skipped", ps.reader.Skipped(), "reason", errString(err))
	ps.stopClose()
	ps.reader.Close()
	c.nc.Close()
	<-ps.readErr
	c.cancel()
	if errors.Is(err, io.EOF) || errors.Is(err, engine.ErrReaderClosed) {
		err = nil
	}
	c.logClosed(err)
	if c.done != nil {
		c.done()
	}
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
		// Sequence headers come once per configuration: an idle player
		// need not keep their scratch.
		p.extra = nil
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
