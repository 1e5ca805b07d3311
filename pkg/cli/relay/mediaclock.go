package relay

import (
	"errors"
	"sync"
	"time"

	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

var errDurationReached = errors.New("duration reached")

// mediaClock counts the media relayed over every pull and stops the pull
// (errDurationReached from WriteFrame) once limit is reached. Media time,
// not wall time: a file read as fast as it goes still yields --duration
// of media, and a looped file counts each pass.
//
// The pulling goroutine writes; the status line reads.
type mediaClock struct {
	limit time.Duration // 0: none

	mu          sync.Mutex
	done        time.Duration // media of finished pulls
	first, last time.Duration // DTS span of the current pull
	started     bool          // the current pull has a frame
	n           int64
}

// sink wraps the publisher of one pull.
func (c *mediaClock) sink(pub flv.FrameSink) flv.FrameSink { return &clockedSink{FrameSink: pub, c: c} }

// endPull adds the current pull's media to the total.
func (c *mediaClock) endPull() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		c.done += c.last - c.first
		c.started = false
	}
}

// elapsed is the media relayed so far.
func (c *mediaClock) elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return c.done + c.last - c.first
	}
	return c.done
}

func (c *mediaClock) frames() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// admit counts f, or refuses it when it would pass the limit.
func (c *mediaClock) admit(f *media.Frame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started {
		c.first, c.last, c.started = f.DTS, f.DTS, true
	}
	if c.limit > 0 && c.done+f.DTS-c.first >= c.limit {
		return errDurationReached
	}
	c.last = max(c.last, f.DTS)
	c.n++
	return nil
}

type clockedSink struct {
	flv.FrameSink
	c *mediaClock
}

func (s *clockedSink) WriteFrame(f *media.Frame) error {
	if err := s.c.admit(f); err != nil {
		return err
	}
	return s.FrameSink.WriteFrame(f)
}
