package rtmp

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
)

// runPublish receives media until the publisher stops, the connection
// breaks, or the engine detaches the publisher.
func (c *conn) runPublish(pub *engine.Publisher, cmd *command) error {
	// The engine closes the connection when it detaches the publisher
	// (takeover, close_stream, shutdown); that ends the read below.
	stop := pub.OnDone(func() { c.nc.Close() })
	defer stop()
	defer pub.Close()

	c.mw.reset()
	if err := c.mw.onStatus(c.streamID, "status", "NetStream.Publish.Start", "Start publishing"); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	_ = c.nc.SetDeadline(time.Time{})
	if c.srv.MergeRead > 0 {
		c.in.r = newMergedReader(c.ctx, c.in.r, c.srv.MergeRead, &c.srv.readClock)
	}
	c.rebuffer(32 << 10)
	c.log.Info("rtmp publish started")

	ingest := flv.NewIngest(pub)
	ingest.Log = c.log.With("app", pub.Key().App)
	lastCount := c.in.n
	start := time.Now()
	defer func() {
		attrs := []any{"duration", time.Since(start).Round(time.Millisecond).String(), "bytes", c.in.n}
		if ingest.Dropped > 0 {
			attrs = append(attrs, "dropped_before_config", ingest.Dropped)
		}
		if ingest.LeftOut > 0 {
			attrs = append(attrs, "left_out", ingest.LeftOut)
		}
		c.log.Info("rtmp publish ended", attrs...)
	}()
	// Idle limits are per state: until the first audio or video message
	// the publisher has FirstPacketTimeout (an ffmpeg opening twenty
	// outputs one by one leaves the first waiting), then IdleTimeout.
	idle := max(c.srv.FirstPacketTimeout, c.srv.IdleTimeout)
	mediaFlows := false
	for {
		_ = c.nc.SetReadDeadline(time.Now().Add(idle))
		msg, err := c.readMessage()
		if n := c.in.n; n != lastCount {
			pub.AddBytesIn(int(n - lastCount))
			lastCount = n
		}
		if err != nil {
			select {
			case <-pub.Done():
				return fmt.Errorf("rtmp: publisher detached: %w", publisherCause(pub))
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if !mediaFlows {
					return fmt.Errorf("rtmp: publisher sent no audio or video in the %s after publish (rtmp.firstPacketSecond)", idle)
				}
				return fmt.Errorf("rtmp: publisher sent nothing for %s (rtmp.keepAliveSecond)", idle)
			}
			return err
		}
		if msg == nil {
			continue
		}
		if !mediaFlows && (msg.Type == MsgVideo || msg.Type == MsgAudio || msg.Type == MsgAggregate) {
			mediaFlows = true
			idle = c.srv.IdleTimeout
		}
		if err := c.handlePublishMessage(ingest, msg); err != nil {
			if errors.Is(err, errUnpublish) {
				return nil
			}
			if errors.Is(err, engine.ErrPublisherClosed) {
				return fmt.Errorf("rtmp: publisher detached: %w", publisherCause(pub))
			}
			return err
		}
	}
}

func publisherCause(pub *engine.Publisher) error {
	if err := pub.Reason(); err != nil {
		return err
	}
	return engine.ErrPublisherClosed
}

var errUnpublish = errors.New("publisher stopped")

func (c *conn) handlePublishMessage(ingest *flv.Ingest, msg *Message) error {
	switch msg.Type {
	case MsgVideo:
		if len(msg.Body) == 0 {
			return nil
		}
		return ingest.Video(msg.Timestamp, msg.Body)
	case MsgAudio:
		if len(msg.Body) == 0 {
			return nil
		}
		return ingest.Audio(msg.Timestamp, msg.Body)
	case MsgDataAMF0, MsgDataAMF3:
		body := msg.Body
		if msg.Type == MsgDataAMF3 && len(body) > 0 {
			body = body[1:]
		}
		return ingest.Script(body)
	case MsgAggregate:
		return c.handleAggregate(ingest, msg)
	case MsgCommandAMF0, MsgCommandAMF3:
		cmd, err := parseCommand(msg)
		if err != nil {
			return err
		}
		switch cmd.name {
		case "FCUnpublish", "deleteStream", "closeStream":
			return errUnpublish
		case "publish", "play":
			// One session per connection: handling these here would nest
			// another session, holding another stream, inside this one.
			c.log.Debug("rtmp command ignored while publishing", "command", cmd.name)
			return nil
		}
		_, err = c.handleCommand(cmd)
		return err
	}
	return nil
}

// handleAggregate unpacks an aggregate message into its audio, video and
// data messages.
func (c *conn) handleAggregate(ingest *flv.Ingest, msg *Message) error {
	return eachAggregated(msg, func(sub *Message) error { return c.handlePublishMessage(ingest, sub) })
}
