package source

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/mediakit/mediakit/pkg/format/flv"
)

// errNothingToLoop ends a looped file whose pass gave no media, which
// would otherwise spin.
var errNothingToLoop = errors.New("no media to loop")

// fileSource reads a local FLV, MPEG-TS or MP4 file, once or looped.
type fileSource struct {
	name   string // as given
	path   string
	format format
	opts   Options
	bytes  atomic.Int64
	size   atomic.Int64
	damageNote
}

func (s *fileSource) String() string   { return s.name }
func (s *fileSource) BytesRead() int64 { return s.bytes.Load() }
func (s *fileSource) Size() int64      { return s.size.Load() }

func (s *fileSource) Run(ctx context.Context, sink flv.FrameSink) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fd := newFeed(ctx, sink, s.opts, s.opts.Realtime)
	defer s.note(fd)
	for {
		err := s.pass(fd)
		if err == nil && s.opts.Loop && fd.clk.count == 0 {
			err = fmt.Errorf("source: %s: %w", s.name, errNothingToLoop)
		}
		if err != nil || !s.opts.Loop {
			if ferr := fd.flush(); err == nil && ferr != nil {
				err = fmt.Errorf("source: %s: %w", s.name, ferr)
			}
			return runResult(ctx, err)
		}
		fd.clk.restart(fd.clk.minIn)
	}
}

// pass reads the file once.
func (s *fileSource) pass(fd *feed) error {
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	s.size.Store(fi.Size())
	switch s.format {
	case formatTS:
		// Buffered: the demuxer reads one 188-byte packet at a time.
		if err := readTS(fd, countingReader{r: bufio.NewReaderSize(f, 64<<10), n: &s.bytes}); err != nil {
			if fd.ctx.Err() != nil {
				return fd.ctx.Err()
			}
			if fd.out.failed() != nil {
				return err
			}
			return fmt.Errorf("source: read %s: %w", s.name, err)
		}
		return nil
	case formatMP4:
		return readMP4(fd, s.name, &countingReaderAt{f: f, n: &s.bytes}, fi.Size())
	}
	return readFLV(fd, s.name, countingReader{r: f, n: &s.bytes}, s.opts.MaxTagSize)
}
