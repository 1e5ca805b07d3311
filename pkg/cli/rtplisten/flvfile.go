package rtplisten

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

// flvFile writes the stream to an FLV file. The file is created at the
// first frame, and what each batch of frames adds is written out before
// the next wait, so a file cut short by a kill still plays up to there.
type flvFile struct {
	path string
	log  *slog.Logger

	f            *os.File
	bw           *bufio.Writer
	video, audio *media.Track // whose sequence headers the file has
	skipped      codecWarnings
	tally
}

func (s *flvFile) Run(r *engine.Reader) {
	buf := make([]*media.Frame, 0, 64)
	for {
		frames, err := r.Next(buf[:0])
		for _, f := range frames {
			if werr := s.write(r, f); werr != nil {
				s.fail(werr)
				return
			}
		}
		clear(frames)
		if s.bw != nil {
			if ferr := s.bw.Flush(); ferr != nil {
				s.fail(ferr)
				return
			}
		}
		if err != nil {
			break
		}
	}
	if err := s.close(); err != nil {
		s.res.Err = s.named(err)
		s.log.Error("flv file not finished", "error", err.Error())
	}
}

func (s *flvFile) fail(err error) {
	s.res.Err = s.named(err)
	s.log.Error("flv recording failed", "error", err.Error())
	_ = s.close()
}

// named makes sure err names the file.
func (s *flvFile) named(err error) error {
	if strings.Contains(err.Error(), s.path) {
		return err
	}
	return fmt.Errorf("%s: %w", s.path, err)
}

func (s *flvFile) write(r *engine.Reader, f *media.Frame) error {
	if !flv.SupportsCodec(f.Track.Codec) {
		s.skipped.skip(s.log, "FLV", f.Track.Codec)
		return nil
	}
	if s.f == nil {
		if err := s.open(r, f); err != nil {
			return err
		}
	}
	if cur := s.current(f.Track); f.Track != *cur {
		// A new configuration: its sequence header first, unless it
		// is the same as the one the file has.
		if *cur == nil || !f.Track.SameConfig(*cur) {
			if err := s.put(flv.AppendSequenceHeaderTag(nil, f.Track, f.DTS)); err != nil {
				return err
			}
		}
		*cur = f.Track
	}
	if err := s.put(flv.FrameTag(f)); err != nil {
		return err
	}
	s.tally.add(f)
	return nil
}

// current is where the track of t's kind is kept.
func (s *flvFile) current(t *media.Track) **media.Track {
	if t.Kind() == media.KindVideo {
		return &s.video
	}
	return &s.audio
}

// open creates the file and writes the FLV header, onMetaData and the
// sequence headers of the stream's tracks (video first), stamped with
// the first frame's DTS so that timestamps never go back.
func (s *flvFile) open(r *engine.Reader, first *media.Frame) error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	s.f, s.bw = f, bufio.NewWriterSize(f, 64<<10)
	s.res.Files = []string{s.path}
	// The first track of each kind FLV carries, video first.
	for _, t := range append(slices.Clone(r.Tracks()), first.Track) {
		if cur := s.current(t); *cur == nil && flv.SupportsCodec(t.Codec) {
			*cur = t
		}
	}
	var tracks []*media.Track
	for _, t := range []*media.Track{s.video, s.audio} {
		if t != nil {
			tracks = append(tracks, t)
		}
	}
	head, _, _ := flv.AppendStart(nil, tracks, r.Metadata(), first.DTS)
	return s.put(head)
}

func (s *flvFile) put(b []byte) error {
	n, err := s.bw.Write(b)
	s.res.Bytes += int64(n)
	return err
}

// close writes what is buffered, syncs and closes the file.
func (s *flvFile) close() error {
	if s.f == nil {
		return nil
	}
	f := s.f
	s.f = nil
	err := s.bw.Flush()
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
