package hls

import (
	"errors"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// StreamSegmenter segments a published stream whose tracks change on the
// way, for live HLS and HLS recording alike. It starts its Segmenter at
// the first frame of a track HLS carries (a camera may declare G.711
// before its late first keyframe), replaces it when a codec changes or a
// track HLS carries is added, continuing the numbering after a
// discontinuity, and tells onDropped once per codec of each track it
// leaves out (see CanCarry).
type StreamSegmenter struct {
	target    time.Duration
	onSegment func(*Segment)
	onDropped func(*media.Track)
	told      map[media.Codec]bool
	seg       *Segmenter // nil until a track HLS carries is met
}

// NewStreamSegmenter returns a StreamSegmenter for a stream declared with
// tracks. Unlike NewSegmenter it accepts tracks none of which HLS
// carries: it then waits for one. onDropped may be nil.
func NewStreamSegmenter(tracks []*media.Track, target time.Duration, onSegment func(*Segment), onDropped func(*media.Track)) (*StreamSegmenter, error) {
	s := &StreamSegmenter{target: target, onSegment: onSegment, onDropped: onDropped}
	err := s.start(tracks, 0, false)
	if errors.Is(err, ErrNoTracks) {
		for _, t := range tracks {
			if t != nil {
				s.drop(t)
			}
		}
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// WriteFrame segments f. tracks are the stream's tracks now (those
// declared with f.Track among them, as engine.Reader.Tracks returns): a
// new Segmenter is built of them, with f.Track for its kind.
func (s *StreamSegmenter) WriteFrame(f *media.Frame, tracks []*media.Track) error {
	if s.seg == nil {
		if !CanCarry(f.Track.Codec) {
			s.drop(f.Track)
			return nil
		}
		if err := s.start(withTrack(tracks, f.Track), 0, false); err != nil {
			return err
		}
		return s.seg.WriteFrame(f)
	}
	err := s.seg.WriteFrame(f)
	if !errors.Is(err, ErrTrackChanged) {
		return err
	}
	s.seg.Flush()
	if err := s.start(withTrack(tracks, f.Track), s.seg.NextSeq(), true); err != nil {
		return err
	}
	return s.seg.WriteFrame(f)
}

// Carrying reports whether a track HLS carries was met: until then no
// segment can start.
func (s *StreamSegmenter) Carrying() bool { return s.seg != nil }

// Flush emits the current segment, if any. It reports false when no
// segment could ever start: no frame of a track HLS carries came.
func (s *StreamSegmenter) Flush() bool {
	if s.seg == nil {
		return false
	}
	s.seg.Flush()
	return true
}

func (s *StreamSegmenter) start(tracks []*media.Track, nextSeq uint64, discontinuity bool) error {
	seg, err := NewSegmenter(tracks, s.target, s.onSegment)
	if err != nil {
		return err
	}
	if nextSeq > 0 || discontinuity {
		seg.SetNextSeq(nextSeq, discontinuity)
	}
	seg.OnDroppedTrack(s.drop)
	s.seg = seg
	return nil
}

// drop tells onDropped of t, unless a track of its codec was told of.
func (s *StreamSegmenter) drop(t *media.Track) {
	if CanCarry(t.Codec) || s.told[t.Codec] {
		return
	}
	if s.told == nil {
		s.told = map[media.Codec]bool{}
	}
	s.told[t.Codec] = true
	if s.onDropped != nil {
		s.onDropped(t)
	}
}

// withTrack replaces the track of t's kind in tracks by t.
func withTrack(tracks []*media.Track, t *media.Track) []*media.Track {
	out := []*media.Track{t}
	for _, o := range tracks {
		if o != nil && o.Kind() != t.Kind() {
			out = append(out, o)
		}
	}
	return out
}
