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
	// With merged reads a window's bytes come in one read, so the read
	// buffer is sized to the bitrate (see publishBuffer).
	var buf *publishBuffer
	if c.srv.MergeRead > 0 {
		pub.DeferWakes(c.srv.MergeRead)
		merged := newMergedReader(c.ctx, c.in.r, c.srv.MergeRead, &c.srv.readClock, pub)
		defer merged.Close()
		c.in.r = merged
		buf = &publishBuffer{window: c.srv.MergeRead, since: time.Now()}
		c.rebuffer(publishBufferSmall)
	} else {
		c.rebuffer(publishBufferLarge)
	}
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
		now := time.Now()
		_ = c.nc.SetReadDeadline(now.Add(idle))
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
		if buf != nil && buf.outgrown(c.in.n, now) {
			c.rebuffer(publishBufferLarge)
			buf = nil
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

// A publisher's read buffer is live memory per stream, doubled by the
// GC's headroom: 32 KB for each of 1000 cameras is 32 MB. A 256 kbit/s
// camera sends 3.2 KB per 100 ms merge window, which an 8 KB buffer takes
// in one read (a keyframe's burst in a few); a publisher whose bitrate
// fills more than half of it per window gets the large one, for good.
const (
	publishBufferSmall = 8 << 10
	publishBufferLarge = 32 << 10
	publishRateEvery   = 2 * time.Second
)

// publishBuffer measures a publisher's bytes per merge window.
type publishBuffer struct {
	window time.Duration
	since  time.Time
	bytes  uint64 // read when since was taken
}

// outgrown reports, at most once per publishRateEvery, whether the bytes
// read since the last check come to more than half the small buffer per
// window. now is the read loop's clock reading, so that a chunk costs no
// second one.
func (b *publishBuffer) outgrown(read uint64, now time.Time) bool {
	elapsed := now.Sub(b.since)
	if elapsed < publishRateEvery {
		return false
	}
	perWindow := float64(read-b.bytes) * float64(b.window) / float64(elapsed)
	b.since, b.bytes = now, read
	return perWindow > publishBufferSmall/2
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
		return ingest.VideoInRoom(msg.Timestamp, msg.Body, msg.Room)
	case MsgAudio:
		if len(msg.Body) == 0 {
			return nil
		}
		return ingest.AudioInRoom(msg.Timestamp, msg.Body, msg.Room)
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
