package source

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/mediakit/mediakit/pkg/format/flv"
)

// fileSource reads a local FLV file.
type fileSource struct {
	name  string // as given
	path  string
	opts  Options
	bytes atomic.Int64
	size  atomic.Int64
}

func (s *fileSource) String() string   { return s.name }
func (s *fileSource) BytesRead() int64 { return s.bytes.Load() }
func (s *fileSource) Size() int64      { return s.size.Load() }

func (s *fileSource) Run(ctx context.Context, sink flv.FrameSink) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil {
		s.size.Store(fi.Size())
	}
	err = readFLV(ctx, s.name, countingReader{r: f, n: &s.bytes}, s.opts.MaxTagSize, s.opts.Realtime, sink)
	return runResult(ctx, err)
}
