package sink

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/hls"
	"github.com/mediakit/mediakit/pkg/media"
)

// tsChunk is how much media the TS muxer gathers before it is written to
// the file: at most that much (or a GOP, cuts are on keyframes) is lost
// when the process is killed.
const tsChunk = time.Second

// TSFile writes a stream to an MPEG-TS file. It reuses the live HLS
// segmenter: its segments start with PAT and PMT (and, with video, a
// keyframe), so written one after the other they are one continuous
// transport stream, and each is written as soon as it is cut. H.264,
// H.265, AAC, MP3 and Opus are carried; other codecs (G.711, AV1, VP9)
// are left out (hls.CanCarry) and reported as dropped by output
// "ts-file". A codec change mid-stream starts a new program (new
// tables), as players expect.
type TSFile struct {
	path string
	log  *slog.Logger

	f       *os.File
	err     error // first write failure
	skipped codecWarnings
	counts
	res Result
}

// NewTSFile returns a sink writing path, truncating a file that exists.
func NewTSFile(path string, log *slog.Logger) *TSFile {
	return &TSFile{path: path, log: orDiscard(log).With("file", path)}
}

// Result is what the file got; valid once Run has returned.
func (s *TSFile) Result() Result {
	r := s.res
	r.Bytes, r.Frames, r.Duration = s.BytesWritten(), s.FramesWritten(), s.duration()
	return r
}

// Run writes the frames of r until r ends, then syncs and closes the
// file.
func (s *TSFile) Run(r *engine.Reader) {
	seg, err := hls.NewStreamSegmenter(r.Tracks(), tsChunk, s.onSegment, func(t *media.Track) {
		s.skipped.skip(s.log, "MPEG-TS", t.Codec)
		r.DropTrack("ts-file", t, hls.DropReason(t.Codec))
	})
	if err != nil {
		s.res.Err = named(s.path, err)
		return
	}
	buf := make([]*media.Frame, 0, 64)
	got := false // a frame came
	for {
		frames, rerr := r.Next(buf[:0])
		for _, f := range frames {
			got = true
			if werr := seg.WriteFrame(f, r.Tracks()); werr != nil && s.err == nil {
				s.err = werr
			}
			if s.err != nil {
				break
			}
			if hls.CanCarry(f.Track.Codec) {
				s.frame(f)
			}
		}
		clear(frames)
		if ferr := readerFailure(rerr); ferr != nil && s.err == nil {
			s.err = ferr
		}
		if rerr != nil || s.err != nil {
			break
		}
	}
	if s.err == nil && !seg.Flush() && got {
		// Frames came, none of a codec MPEG-TS carries (G.711 alone).
		s.err = fmt.Errorf("MPEG-TS carries none of the stream's codecs (tracks: %v)", r.Tracks())
	}
	err = s.err
	if s.f != nil {
		err = closeFile(s.f, err)
		s.f = nil
	}
	if err != nil {
		s.res.Err = named(s.path, err)
	}
}

// onSegment appends a finished segment to the file, which it creates at
// the first one.
func (s *TSFile) onSegment(seg *hls.Segment) {
	if s.err != nil {
		return
	}
	if s.f == nil {
		f, err := createFile(s.path)
		if err != nil {
			s.err = err
			return
		}
		s.f = f
		s.res.Files = []string{s.path}
	}
	n, err := s.f.Write(seg.Data)
	s.bytes.Add(int64(n))
	if err != nil {
		s.err = err
	}
}
