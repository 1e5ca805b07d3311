package rtmp

import (
	"fmt"
	"net"
	"time"

	"github.com/bluenviron/gortmplib/pkg/amf0"

	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

// setDataFrame is the AMF0 string "@setDataFrame" that prefixes the
// metadata a publisher sends.
var setDataFrame = func() []byte {
	b, _ := amf0.Data{"@setDataFrame"}.Marshal()
	return b
}()

// WriteTracks sends the stream's metadata (onMetaData through
// @setDataFrame, describing tracks plus md's other keys) and the tracks'
// sequence headers. Call it once before the first frame; WriteFrame sends
// a track's sequence header by itself when the track changes.
func (c *Client) WriteTracks(tracks []*media.Track, md media.Metadata) error {
	if err := c.checkPublishing(); err != nil {
		return err
	}
	for _, t := range tracks {
		if err := c.checkCodec(t); err != nil {
			return err
		}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var buf []byte
	if body := flv.MetadataBody(tracks, md); body != nil {
		data := make([]byte, 0, len(setDataFrame)+len(body))
		data = append(append(data, setDataFrame...), body...)
		buf = AppendMessage(buf, csidData, MsgDataAMF0, c.streamID, 0, data, OutChunkSize)
	}
	for _, t := range tracks {
		buf = c.appendSequenceHeader(buf, t, 0)
	}
	return c.writeMedia(buf)
}

// WriteFrame sends one frame, preceded by its track's sequence header
// when the track is new to the connection. Each write is bounded by the
// write timeout.
func (c *Client) WriteFrame(f *media.Frame) error {
	if err := c.checkPublishing(); err != nil {
		return err
	}
	if err := c.checkCodec(f.Track); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var head []byte
	cur := c.audio
	if f.Track.Kind() == media.KindVideo {
		cur = c.video
	}
	if f.Track != cur {
		if cur != nil && f.Track.SameConfig(cur) {
			c.setCurrent(f.Track)
		} else {
			head = c.appendSequenceHeader(nil, f.Track, f.DTS)
		}
	}
	var msg []byte
	if c.streamID == playStreamID {
		// The server gave the stream id FrameMessage is built for: the
		// chunks are shared with every other user of the frame.
		msg = FrameMessage(f)
	} else {
		body := flv.FrameBody(f)
		csid, typ := uint32(csidAudio), MsgAudio
		if f.Track.Kind() == media.KindVideo {
			csid, typ = csidVideo, MsgVideo
		}
		msg = AppendMessage(make([]byte, 0, MessageSize(csid, f.DTS, len(body), OutChunkSize)),
			csid, typ, c.streamID, f.DTS, body, OutChunkSize)
	}
	return c.writeMedia(head, msg)
}

func (c *Client) setCurrent(t *media.Track) {
	if t.Kind() == media.KindVideo {
		c.video = t
	} else {
		c.audio = t
	}
}

// appendSequenceHeader appends t's sequence header message and makes t the
// current track of its kind. c.wmu must be held.
func (c *Client) appendSequenceHeader(dst []byte, t *media.Track, ts time.Duration) []byte {
	c.setCurrent(t)
	body := flv.SequenceHeaderBody(t)
	if body == nil {
		return dst
	}
	csid, typ := uint32(csidAudio), MsgAudio
	if t.Kind() == media.KindVideo {
		csid, typ = csidVideo, MsgVideo
	}
	return AppendMessage(dst, csid, typ, c.streamID, ts, body, OutChunkSize)
}

func (c *Client) checkCodec(t *media.Track) error {
	if !flv.SupportsCodec(t.Codec) {
		return fmt.Errorf("rtmp: write %s: %s cannot be sent over RTMP", c.u.Display, t.Codec)
	}
	return nil
}

func (c *Client) checkPublishing() error {
	if c.op != "publish" {
		return fmt.Errorf("rtmp: write %s: not a publishing client", c.u.Display)
	}
	return nil
}

// writeMedia writes for WriteTracks and WriteFrame; c.wmu must be held.
// The reason the server ended the connection, when there is one, wins
// over the write error it caused.
func (c *Client) writeMedia(bufs ...[]byte) error {
	if err := c.failed(); err != nil {
		return err
	}
	if err := c.writeLocked(bufs...); err != nil {
		if ferr := c.failed(); ferr != nil {
			return ferr
		}
		return fmt.Errorf("rtmp: write %s: %w", c.u.Display, err)
	}
	return nil
}

func (c *Client) failed() error {
	c.failMu.Lock()
	defer c.failMu.Unlock()
	return c.failure
}

func (c *Client) fail(err error) {
	c.failMu.Lock()
	defer c.failMu.Unlock()
	if c.failure == nil {
		c.failure = err
	}
}

// watch reads what the server sends to a publisher (acknowledgements,
// pings, status) until the connection ends, and records why it ended.
func (c *Client) watch() {
	defer close(c.watchDone)
	for {
		msg, err := c.next(time.Time{})
		if err != nil {
			cause := c.readCause(err, 0)
			if c.closed.Load() {
				cause = fmt.Errorf("client closed: %w", net.ErrClosed)
			}
			c.fail(fmt.Errorf("rtmp: publish %s: %w", c.u.Display, cause))
			return
		}
		if msg == nil || (msg.Type != MsgCommandAMF0 && msg.Type != MsgCommandAMF3) {
			continue
		}
		cmd, err := parseCommand(msg)
		if err != nil {
			c.fail(fmt.Errorf("rtmp: publish %s: %w", c.u.Display, err))
			c.nc.Close()
			return
		}
		if cmd.name == "onStatus" || cmd.name == "_error" {
			if cmd.name == "_error" {
				c.fail(c.statusError(cmd))
			} else if err := c.failedStatus(cmd); err != nil {
				c.fail(err)
			}
		}
	}
}
