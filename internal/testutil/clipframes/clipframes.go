// Package clipframes reads test clips into frames. It is apart from
// testutil because it imports pkg/format/flv and pkg/media, whose own tests
// use testutil.
package clipframes

import (
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

// FrameCollector is an flv.FrameSink that keeps what it is given.
type FrameCollector struct {
	Tracks   []*media.Track
	Metadata media.Metadata
	Frames   []*media.Frame
}

// SetTracks implements flv.FrameSink.
func (c *FrameCollector) SetTracks(tracks []*media.Track) error {
	c.Tracks = slices.Clone(tracks)
	return nil
}

// SetMetadata implements flv.FrameSink.
func (c *FrameCollector) SetMetadata(md media.Metadata) { c.Metadata = md }

// WriteFrame implements flv.FrameSink.
func (c *FrameCollector) WriteFrame(f *media.Frame) error {
	c.Frames = append(c.Frames, f)
	return nil
}

// Read reads an FLV clip of testdata/clips into its tracks and its
// frames in file order, through flv.Reader and flv.Ingest.
func Read(t testing.TB, name string) ([]*media.Track, []*media.Frame) {
	t.Helper()
	tracks, frames, err := ReadFile(testutil.Clip(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return tracks, frames
}

// ReadFile reads any FLV file (a benchmark's clip, say) the same way.
func ReadFile(path string) ([]*media.Track, []*media.Frame, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sink := &FrameCollector{}
	in := flv.NewIngest(sink)
	if err := flv.IngestAll(f, in); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(sink.Tracks) == 0 || len(sink.Frames) == 0 {
		return nil, nil, fmt.Errorf("%s: no tracks or frames", path)
	}
	return sink.Tracks, sink.Frames, nil
}
