package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/rtmp"
)

// rtmpSource plays an rtmp:// URL.
type rtmpSource struct {
	url     string
	display string
	opts    Options
	mu      sync.Mutex
	done    int64        // bytes of finished runs
	cur     *rtmp.Client // of the run in progress
}

func (s *rtmpSource) String() string { return s.display }
func (s *rtmpSource) Size() int64    { return -1 }

func (s *rtmpSource) BytesRead() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.done
	if s.cur != nil {
		n += s.cur.BytesRead()
	}
	return n
}

func (s *rtmpSource) Run(ctx context.Context, sink flv.FrameSink) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := rtmp.DialPlay(ctx, s.url, rtmp.ClientOptions{
		ReadTimeout:  s.opts.ReadTimeout,
		WriteTimeout: s.opts.WriteTimeout,
		StartTimeout: s.opts.StartTimeout,
	})
	if err != nil {
		return runResult(ctx, err)
	}
	s.mu.Lock()
	s.cur = c
	s.mu.Unlock()
	defer func() {
		c.Close()
		s.mu.Lock()
		s.done += c.BytesRead()
		s.cur = nil
		s.mu.Unlock()
	}()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	// The client's read deadline is pushed back by anything the server
	// sends, pings included: a server that sends no media ends here.
	wd := startWatchdog(s.opts.ReadTimeout, func() { c.Close() })
	fd := newFeed(ctx, sink, s.opts, false)
	fd.wd = wd
	in := fd.flv()
	for {
		msg, err := c.ReadMessage()
		if errors.Is(err, io.EOF) {
			wd.disarm()
			if err := in.Flush(); err != nil {
				return fmt.Errorf("source: %s: %w", s.display, err)
			}
			return nil
		}
		if err == nil {
			err = feedMessage(fd, in, msg)
			if err != nil {
				err = fmt.Errorf("source: %s at %v: %w", s.display, msg.Timestamp, err)
			}
		}
		if err != nil {
			stalled := wd.disarm()
			_ = in.Flush()
			if stalled && ctx.Err() == nil {
				return wd.err(s.display)
			}
			return runResult(ctx, err)
		}
	}
}

// feedMessage hands a played message to the ingest; the client gives
// each message a body of its own, which the ingest may keep.
func feedMessage(fd *feed, in *flv.Ingest, msg *rtmp.Message) error {
	if len(msg.Body) == 0 {
		return nil
	}
	switch msg.Type {
	case rtmp.MsgVideo:
		ts, err := fd.stamp(media.KindVideo, msg.Timestamp)
		if err != nil {
			return err
		}
		return in.VideoInRoom(ts, msg.Body, msg.Room)
	case rtmp.MsgAudio:
		ts, err := fd.stamp(media.KindAudio, msg.Timestamp)
		if err != nil {
			return err
		}
		return in.AudioInRoom(ts, msg.Body, msg.Room)
	case rtmp.MsgDataAMF0:
		return in.Script(msg.Body)
	case rtmp.MsgDataAMF3:
		return in.Script(msg.Body[1:])
	}
	return nil
}
