package rtmp

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/internal/pushwrite"
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
// goroutine that starts playing it. The connection's first goroutine
// returns: its stack grew through the handshake, the commands and the
// logging. Once the server's writers have the stream, that goroutine
// returns too, and an idle player holds one small stack: its socket
// reader's, which ends the session.
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
	player    *player
	// handoff gets, once, the pushed writer the socket reader waits for
	// before it ends the session, or nil when run ends it.
	handoff     chan *pushwrite.Writer
	writerEnded *atomic.Bool
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
	handoff := make(chan *pushwrite.Writer, 1)
	var ps *playSession // set before handoff gets a writer
	// Set by the writer's end before it interrupts the read: closing the
	// reader then would close the connection (OnDone) under the end of
	// stream messages still to write, and end closes it after them.
	writerEnded := new(atomic.Bool)
	go func() {
		err := c.readWhilePlaying()
		c.cancel()
		if r := reader.Load(); r != nil && !writerEnded.Load() {
			r.Close()
		}
		readErr <- err
		if w := <-handoff; w != nil {
			<-w.Done()
			ps.end(w.Err(), w.Sent())
		}
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
		handoff <- nil
		<-readErr
		return nil, err
	}
	reader.Store(r)
	if c.ctx.Err() != nil {
		r.Close() // the player left while Play answered
	}
	ps = &playSession{c: c, reader: r, readErr: readErr, start: time.Now(), handoff: handoff, writerEnded: writerEnded}
	ps.player = &player{conn: c, reader: r}
	ps.stopClose = r.OnDone(func() { c.nc.Close() })
	c.log.Info("rtmp play started")
	return ps, nil
}

// run starts playing. The server's writers write the frames while the
// player keeps up, and the socket reader ends the session; without a
// socket to write to without blocking, run writes them itself and ends
// the session.
func (ps *playSession) run() {
	c := ps.c
	w, err := ps.player.start()
	if err == nil {
		// The writer's end interrupts the socket reader, which then ends
		// the session.
		if w.Push(c.srv.playWriters(), c.log, func(error) {
			ps.writerEnded.Store(true)
			_ = c.nc.SetReadDeadline(aLongTimeAgo)
		}) {
			ps.handoff <- w
			return
		}
		err = w.Run()
	}
	ps.handoff <- nil
	var sent int64
	if w != nil {
		sent = w.Sent()
	}
	ps.end(err, sent)
}

var aLongTimeAgo = time.Unix(1, 0)

// end finishes the stream for the player, when it ended, and the
// connection. Its socket reader has ended or is about to.
func (ps *playSession) end(err error, sent int64) {
	c := ps.c
	if errors.Is(err, io.EOF) {
		ps.player.finish()
	}
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

// player is a playing connection's Batcher: the start messages, then
// each frame's shared message, preceded by a sequence header whenever a
// track's configuration is new to this player.
type player struct {
	conn   *conn
	reader *engine.Reader
	video  *media.Track
	audio  *media.Track
	head   []byte // the start messages not written yet
	// During Batch: the batch's frames, and the buffers being appended to.
	frames []*media.Frame
	bufs   net.Buffers
	extra  []byte // per-batch scratch: sequence headers on a config change
}

// start writes the start messages but the metadata, which goes with the
// first frames, and returns the writer of the frames.
func (p *player) start() (*pushwrite.Writer, error) {
	c := p.conn
	c.mw.reset()
	c.mw.userControl(ucStreamIsRecorded, playStreamID)
	c.mw.userControl(ucStreamBegin, playStreamID)
	for _, s := range []struct{ code, desc string }{
		{"NetStream.Play.Reset", "Playing and resetting stream."},
		{"NetStream.Play.Start", "Started playing stream."},
	} {
		if err := c.mw.onStatus(playStreamID, "status", s.code, s.desc); err != nil {
			return nil, err
		}
	}
	if err := c.mw.amf(csidData, MsgDataAMF0, playStreamID, "|RtmpSampleAccess", true, true); err != nil {
		return nil, err
	}
	if err := c.mw.onStatus(playStreamID, "status", "NetStream.Data.Start", "Started playing stream."); err != nil {
		return nil, err
	}
	if md := flv.MetadataBody(p.reader.Tracks(), p.reader.Metadata()); md != nil {
		c.mw.buf = AppendMessage(c.mw.buf, csidData, MsgDataAMF0, playStreamID, 0, md, OutChunkSize)
	}
	p.head = append([]byte(nil), c.mw.buf...)
	c.mw.buf = nil // commands are done: an idle player holds nothing here
	return pushwrite.New(c.nc, p.reader, p, c.srv.WriteTimeout), nil
}

// Batch appends the start messages, before the first frames, and the
// frames.
func (p *player) Batch(bufs net.Buffers, frames []*media.Frame) net.Buffers {
	p.frames, p.bufs = frames, bufs
	p.extra = p.extra[:0]
	if p.head != nil {
		p.bufs = append(p.bufs, p.head)
		p.head = nil
	}
	p.appendFrames()
	bufs = p.bufs
	p.frames, p.bufs = nil, nil
	return bufs
}

// Written releases the batch's scratch: sequence headers come once per
// configuration, and an idle player need not keep them.
func (p *player) Written() { p.extra = nil }

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

// finish tells the player the stream ended.
func (p *player) finish() {
	c := p.conn
	c.mw.reset()
	c.mw.userControl(ucStreamEOF, playStreamID)
	_ = c.mw.onStatus(playStreamID, "status", "NetStream.Play.UnpublishNotify", "Stream ended.")
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_ = c.flush()
}
