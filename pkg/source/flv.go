package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
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

// readFLV reads FLV tags from r into fd's FLV ingest until the end of r.
// It returns nil at a clean end of r and an error naming input
// otherwise. Held frames are left to the caller's fd.flush.
func readFLV(fd *feed, input string, r io.Reader, maxTagSize int) error {
	in := fd.flv()
	fr := flv.NewReader(r, maxTagSize)
	for {
		if err := fd.ctx.Err(); err != nil {
			return err
		}
		tag, err := fr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("source: read %s: %w", input, err)
		}
		if err := feedTag(fd, in, tag); err != nil {
			if fd.ctx.Err() != nil {
				return fd.ctx.Err()
			}
			return fmt.Errorf("source: %s at %v: %w", input, tag.Timestamp, err)
		}
	}
}

// feedTag hands a tag to the ingest. Audio and video bodies are copied:
// the ingest keeps them, and the reader reuses its buffer.
func feedTag(fd *feed, in *flv.Ingest, tag flv.Tag) error {
	if len(tag.Body) == 0 {
		return nil
	}
	switch tag.Type {
	case flv.TagVideo:
		ts, err := fd.stamp(media.KindVideo, tag.Timestamp)
		if err != nil {
			return err
		}
		return in.Video(ts, bytes.Clone(tag.Body))
	case flv.TagAudio:
		ts, err := fd.stamp(media.KindAudio, tag.Timestamp)
		if err != nil {
			return err
		}
		return in.Audio(ts, bytes.Clone(tag.Body))
	case flv.TagScript:
		return in.Script(tag.Body)
	}
	return nil
}
