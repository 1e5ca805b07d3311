package flv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Tag hands one FLV tag to the ingest by its type: video, audio or script
// data; other types are ignored. The ingest keeps audio and video bodies,
// so a caller whose reader reuses its buffer passes a copy (IngestAll
// does).
func (in *Ingest) Tag(tag Tag) error {
	switch tag.Type {
	case TagVideo:
		return in.Video(tag.Timestamp, tag.Body)
	case TagAudio:
		return in.Audio(tag.Timestamp, tag.Body)
	case TagScript:
		return in.Script(tag.Body)
	}
	return nil
}

// IngestAll reads every tag of the FLV stream r into in, each body copied
// (the Reader reuses its buffer), then flushes in: a whole file's tracks
// and frames, for tools and tests.
func IngestAll(r io.Reader, in *Ingest) error {
	fr := NewReader(r, 0)
	for {
		tag, err := fr.Next()
		if errors.Is(err, io.EOF) {
			return in.Flush()
		}
		if err != nil {
			return err
		}
		tag.Body = bytes.Clone(tag.Body)
		if err := in.Tag(tag); err != nil {
			return fmt.Errorf("flv: tag at %v: %w", tag.Timestamp, err)
		}
	}
}
