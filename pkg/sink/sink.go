// Package sink holds engine sinks that send a stream out of the process:
// an FLV, MPEG-TS or MP4 file, or a push to an RTMP server. `mediakit
// relay` and `mediakit rtp-listen --out` write through them, and the
// server's push proxies reuse Push.
//
// Each sink consumes one engine.Reader in its own goroutine (engine.Sink)
// and reports what it wrote through Result once Run has returned. Frames
// of a codec the container cannot carry are left out, with one warning
// per codec.
package sink

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/record"
)

// Result sums up what a sink wrote: its files (none for a push), bytes,
// frames and the media time they span, and Err, the failure that stopped
// it early, naming the file or URL (nil when it ran until its Reader
// ended or it was closed). It is the recorders' type, so that
// record.NewMP4File is a Sink as it is.
type Result = record.Result

// Sink is an engine sink that reports what it wrote.
type Sink interface {
	engine.Sink
	// Result is valid once Run has returned.
	Result() Result
}

// Progress is implemented by sinks whose counts can be read while they
// run (for a status line, or a proxy's bytesSpeed). Safe for concurrent
// use.
type Progress interface {
	BytesWritten() int64
	FramesWritten() int64
}

// counts is what a sink wrote so far. The sink's goroutine is its only
// writer; the atomics let others read it while it runs.
type counts struct {
	bytes  atomic.Int64
	frames atomic.Int64
	// Media time span of the frames written; sink goroutine only.
	first, last time.Duration
}

// BytesWritten is the number of bytes written so far.
func (c *counts) BytesWritten() int64 { return c.bytes.Load() }

// FramesWritten is the number of frames written so far.
func (c *counts) FramesWritten() int64 { return c.frames.Load() }

// frame counts f as written.
func (c *counts) frame(f *media.Frame) {
	if c.frames.Load() == 0 {
		c.first, c.last = f.DTS, f.DTS
	}
	c.first, c.last = min(c.first, f.DTS), max(c.last, f.DTS)
	c.frames.Add(1)
}

// duration is the media time the written frames span.
func (c *counts) duration() time.Duration { return c.last - c.first }

// codecWarnings logs once per codec that a container cannot carry.
type codecWarnings map[media.Codec]bool

func (w *codecWarnings) skip(log *slog.Logger, container string, c media.Codec) {
	if *w == nil {
		*w = codecWarnings{}
	}
	if !(*w)[c] {
		(*w)[c] = true
		log.Warn(container+" cannot carry this codec: its frames are left out", "codec", c.String())
	}
}

// readerFailure is the failure in err, the end of a sink's Reader: one
// that fell too far behind lost frames (the engine ended it to bound
// memory), while the end of the stream or a detach is a clean end.
func readerFailure(err error) error {
	if errors.Is(err, engine.ErrReaderTooSlow) {
		return fmt.Errorf("fell behind the stream: %w", err)
	}
	return nil
}

func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
