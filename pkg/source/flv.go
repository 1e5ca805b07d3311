package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/format/flv"
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// readFLV reads FLV tags from r into sink through an Ingest until the end
// of r, pacing them to their timestamps when realtime. It returns nil at
// a clean end of r and an error naming input otherwise.
func readFLV(ctx context.Context, input string, r io.Reader, maxTagSize int, realtime bool, sink flv.FrameSink) error {
	in := flv.NewIngest(sink)
	fr := flv.NewReader(r, maxTagSize)
	var p pacer
	for {
		if err := ctx.Err(); err != nil {
			_ = in.Flush()
			return err
		}
		tag, err := fr.Next()
		if errors.Is(err, io.EOF) {
			if err := in.Flush(); err != nil {
				return fmt.Errorf("source: %s: %w", input, err)
			}
			return nil
		}
		if err != nil {
			_ = in.Flush()
			return fmt.Errorf("source: read %s: %w", input, err)
		}
		if realtime && tag.Type != flv.TagScript {
			if err := p.wait(ctx, tag.Timestamp); err != nil {
				_ = in.Flush()
				return err
			}
		}
		if err := feedTag(in, tag); err != nil {
			_ = in.Flush()
			return fmt.Errorf("source: %s at %v: %w", input, tag.Timestamp, err)
		}
	}
}

// feedTag hands a tag to the ingest. Audio and video bodies are copied:
// the ingest keeps them, and the reader reuses its buffer.
func feedTag(in *flv.Ingest, tag flv.Tag) error {
	if len(tag.Body) == 0 {
		return nil
	}
	switch tag.Type {
	case flv.TagVideo:
		return in.Video(tag.Timestamp, bytes.Clone(tag.Body))
	case flv.TagAudio:
		return in.Audio(tag.Timestamp, bytes.Clone(tag.Body))
	case flv.TagScript:
		return in.Script(tag.Body)
	}
	return nil
}

// Timestamp jumps beyond these restart the pacing clock instead of being
// waited for (or raced through).
const (
	paceBackwardJump = time.Second
	paceForwardJump  = 5 * time.Second
)

// pacer releases timestamps no earlier than the wall clock says they are
// due, counting from the first one.
type pacer struct {
	started bool
	start   time.Time     // wall clock of base
	base    time.Duration // timestamp released at start
	last    time.Duration
}

func (p *pacer) wait(ctx context.Context, ts time.Duration) error {
	now := time.Now()
	if !p.started || ts < p.last-paceBackwardJump || ts > p.last+paceForwardJump {
		// the first tag, or the clock of the file restarted: go on from
		// here without waiting
		p.started, p.start, p.base, p.last = true, now, ts, ts
		return nil
	}
	p.last = max(p.last, ts)
	d := p.start.Add(ts - p.base).Sub(now)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
