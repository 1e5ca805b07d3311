package rtmp

import (
	"fmt"
	"io"
	"time"

	"github.com/mediakit/mediakit/pkg/format/flv"
)

// maxPending bounds the media and data messages a playing client holds
// before ReadMessage takes them: the parts of one aggregate message, or
// what a server sends before NetStream.Play.Start.
const maxPending = 4096

// ReadMessage returns the next audio, video or data message of a playing
// client. Aggregate messages come as their parts; control messages,
// acknowledgements and pings are handled here. Body is the caller's to
// keep. It returns io.EOF when the server ends the stream
// (NetStream.Play.Stop, NetStream.Play.UnpublishNotify,
// NetStream.Play.Complete), a *StatusError when it reports a failure, and
// an error naming the URL otherwise. After an error every call returns
// the same error.
func (c *Client) ReadMessage() (*Message, error) {
	if c.op != "play" {
		return nil, fmt.Errorf("rtmp: read %s: not a playing client", c.u.Display)
	}
	for {
		if len(c.pending) > 0 {
			msg := c.pending[0]
			c.pending[0] = nil
			c.pending = c.pending[1:]
			if len(c.pending) == 0 {
				c.pending = nil
			}
			return msg, nil
		}
		if c.eof {
			return nil, io.EOF
		}
		if c.readErr != nil {
			return nil, c.readErr
		}
		msg, err := c.next(time.Now().Add(c.opts.ReadTimeout))
		if err != nil {
			c.readErr = fmt.Errorf("rtmp: read %s: %w", c.u.Display, c.readCause(err, c.opts.ReadTimeout))
			continue
		}
		if msg == nil {
			continue
		}
		switch msg.Type {
		case MsgCommandAMF0, MsgCommandAMF3:
			cmd, err := parseCommand(msg)
			if err != nil {
				c.readErr = fmt.Errorf("rtmp: read %s: %w", c.u.Display, err)
				continue
			}
			if cmd.name == "onStatus" || cmd.name == "_error" {
				if cmd.name == "_error" {
					c.readErr = c.statusError(cmd)
				} else if err := c.failedStatus(cmd); err != nil {
					c.readErr = err
				} else if isStopCode(statusCode(cmd)) {
					c.eof = true
				}
			}
		default:
			if err := c.queue(msg); err != nil {
				c.readErr = fmt.Errorf("rtmp: read %s: %w", c.u.Display, err)
			}
		}
	}
}

// queue keeps msg for ReadMessage if it is media or data, splitting
// aggregate messages.
func (c *Client) queue(msg *Message) error {
	switch msg.Type {
	case MsgAudio, MsgVideo:
	case MsgDataAMF0, MsgDataAMF3:
		if !dataWithinLimits(msg) {
			return nil // not metadata anyone can use; drop it
		}
	case MsgAggregate:
		return c.splitAggregate(msg)
	default:
		return nil
	}
	if len(c.pending) >= maxPending {
		return fmt.Errorf("%w: more than %d messages queued", ErrLimit, maxPending)
	}
	c.pending = append(c.pending, msg)
	return nil
}

// dataWithinLimits reports whether a data message is within the limits
// decodeAMF applies to commands, so that whoever decodes it later (the
// FLV ingest) never walks an unbounded one.
func dataWithinLimits(msg *Message) bool {
	body := msg.Body
	if msg.Type == MsgDataAMF3 {
		if len(body) < 1 {
			return false
		}
		body = body[1:]
	}
	return len(body) <= maxAMFSize && !flv.AMFTooDeep(body, flv.MaxAMFDepth)
}

// splitAggregate queues the parts of an aggregate message.
func (c *Client) splitAggregate(msg *Message) error {
	return eachAggregated(msg, c.queue)
}
