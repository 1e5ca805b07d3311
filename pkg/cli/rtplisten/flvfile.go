package rtplisten

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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
	video, audio *media.Track
	span         span
	skipped      codecWarnings
	res          outResult
}

func (s *flvFile) result() outResult { return s.res }

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
		if s.skipped == nil {
			s.skipped = codecWarnings{}
		}
		s.skipped.skip(s.log, "FLV", f.Track.Codec)
		return nil
	}
	if s.f == nil {
		if err := s.open(r, f); err != nil {
			return err
		}
	}
	cur := &s.audio
	if f.Track.Kind() == media.KindVideo {
		cur = &s.video
	}
	if f.Track != *cur {
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
	s.res.Frames++
	s.span.add(f)
	s.res.Duration = s.span.duration()
	return nil
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
	var tracks []*media.Track
	has := map[media.Kind]bool{}
	for _, t := range append(append([]*media.Track{}, r.Tracks()...), first.Track) {
		if flv.SupportsCodec(t.Codec) && !has[t.Kind()] {
			has[t.Kind()] = true
			tracks = append(tracks, t)
		}
	}
	head := flv.AppendHeader(nil, has[media.KindAudio], has[media.KindVideo])
	if md := flv.MetadataBody(tracks, r.Metadata()); md != nil {
		head = flv.AppendTag(head, flv.TagScript, 0, md)
	}
	for _, kind := range []media.Kind{media.KindVideo, media.KindAudio} {
		for _, t := range tracks {
			if t.Kind() != kind {
				continue
			}
			head = flv.AppendSequenceHeaderTag(head, t, first.DTS)
			if kind == media.KindVideo {
				s.video = t
			} else {
				s.audio = t
			}
		}
	}
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
