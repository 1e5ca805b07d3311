package sink

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

// FLVFile writes a stream to an FLV file. The file is created at the
// first frame (so a stream that never starts leaves no empty file), and
// what each batch of frames adds is written out before the next wait, so
// a file cut short by a kill still plays up to there. Codecs FLV cannot
// carry (none of mediakit's today: H.265, AV1, VP9 and Opus go as
// Enhanced FLV) are left out.
type FLVFile struct {
	path string
	log  *slog.Logger

	f            *os.File
	bw           *bufio.Writer
	video, audio *media.Track // whose sequence headers the file has
	opening      flv.Opening  // stamps the file's start; keeps timestamps from going back
	skipped      codecWarnings
	counts
	res Result
}

// NewFLVFile returns a sink writing path, truncating a file that exists.
func NewFLVFile(path string, log *slog.Logger) *FLVFile {
	return &FLVFile{path: path, log: orDiscard(log).With("file", path)}
}

// Result is what the file got; valid once Run has returned.
func (s *FLVFile) Result() Result {
	r := s.res
	r.Bytes, r.Frames, r.Duration = s.BytesWritten(), s.FramesWritten(), s.duration()
	return r
}

// Run writes the frames of r until r ends, then syncs and closes the
// file.
func (s *FLVFile) Run(r *engine.Reader) {
	buf := make([]*media.Frame, 0, 64)
	for {
		frames, err := r.Next(buf[:0])
		if s.f == nil {
			s.opening = flv.NewOpening(frames)
		}
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
			if ferr := readerFailure(err); ferr != nil {
				s.fail(ferr)
				return
			}
			break
		}
	}
	if err := s.close(); err != nil {
		s.res.Err = named(s.path, err)
	}
}

func (s *FLVFile) fail(err error) {
	s.res.Err = named(s.path, err)
	_ = s.close()
}

func (s *FLVFile) write(r *engine.Reader, f *media.Frame) error {
	if !flv.SupportsCodec(f.Track.Codec) {
		s.skipped.skip(s.log, "FLV", f.Track.Codec)
		r.DropTrack("flv-file", f.Track, "FLV cannot carry "+f.Track.Codec.String())
		return nil
	}
	if s.f == nil {
		if err := s.open(r, f); err != nil {
			return err
		}
	}
	if !s.opening.Keep(f) {
		return nil
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
	s.frame(f)
	return nil
}

// current is where the track of t's kind is kept.
func (s *FLVFile) current(t *media.Track) **media.Track {
	if t.Kind() == media.KindVideo {
		return &s.video
	}
	return &s.audio
}

// open creates the file and writes the FLV header, onMetaData and the
// sequence headers of the stream's tracks (video first), stamped with
// the opening's start (flv.Opening), so that no timestamp goes back.
func (s *FLVFile) open(r *engine.Reader, first *media.Frame) error {
	f, err := createFile(s.path)
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
	head, _, _ := flv.AppendStart(nil, tracks, r.Metadata(), s.opening.Start)
	return s.put(head)
}

func (s *FLVFile) put(b []byte) error {
	n, err := s.bw.Write(b)
	s.bytes.Add(int64(n))
	return err
}

// close writes what is buffered, syncs and closes the file.
func (s *FLVFile) close() error {
	if s.f == nil {
		return nil
	}
	f := s.f
	s.f = nil
	err := s.bw.Flush()
	return closeFile(f, err)
}

// createFile creates (or truncates) path, and its directory.
func createFile(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
}

// closeFile syncs and closes f; err, when not nil, is an earlier failure
// that wins.
func closeFile(f *os.File, err error) error {
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// named makes sure err names what failed.
func named(name string, err error) error {
	if strings.Contains(err.Error(), name) {
		return err
	}
	return fmt.Errorf("%s: %w", name, err)
}
