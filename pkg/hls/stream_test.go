package hls

import (
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// TestStreamSegmenter: a stream declared with G.711 alone waits for its
// video, says once that it drops the G.711, and a codec change continues
// the numbering after a discontinuity.
func TestStreamSegmenter(t *testing.T) {
	video, g711, frames := withG711(t, media.CodecG711A)
	var segs []*Segment
	var told []*media.Track
	s, err := NewStreamSegmenter([]*media.Track{g711}, time.Second,
		func(seg *Segment) { segs = append(segs, seg) },
		func(tr *media.Track) { told = append(told, tr) })
	if err != nil {
		t.Fatal(err)
	}
	if len(told) != 1 || told[0] != g711 {
		t.Fatalf("told of %v at the start, want the G.711 track", told)
	}
	tracks := []*media.Track{g711, video}
	half := len(frames) / 2
	for _, f := range frames[:half] {
		if err := s.WriteFrame(f, tracks); err != nil {
			t.Fatal(err)
		}
	}
	// A G.711 track of the other law, met in frames only, is told of
	// once, however many frames it has.
	ulaw, err := media.NewG711Track(media.CodecG711U, 8000, 1)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.WriteFrame(&media.Frame{Track: ulaw, DTS: frames[half].DTS, Payload: make([]byte, 160)}, tracks); err != nil {
			t.Fatal(err)
		}
	}
	if len(told) != 2 || told[1] != ulaw {
		t.Fatalf("told of %v, want the A-law and then the mu-law track once each", told)
	}
	before := len(segs)
	if !s.Flush() || len(segs) <= before {
		t.Fatal("Flush emitted nothing")
	}
	for i, seg := range segs {
		if seg.Seq != uint64(i) || seg.Discontinuity {
			t.Errorf("segment %d: seq %d, discontinuity %v", i, seg.Seq, seg.Discontinuity)
		}
	}

	// An AAC track added to the video-only stream rebuilds the muxer: the
	// next segment continues the numbering, marked discontinuous.
	clipTracks, clip := clipFrames(t, "h264_aac.flv")
	aac := clipTracks[1]
	n := len(segs)
	for _, f := range clip {
		if f.Track == aac || (f.Track == clipTracks[0] && f.DTS > frames[len(frames)-1].DTS) {
			g := &media.Frame{Track: aac, DTS: f.DTS, PTS: f.PTS, Key: f.Key, Payload: f.Payload}
			if f.Track != aac {
				g.Track = video
			}
			if err := s.WriteFrame(g, []*media.Track{video, aac}); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.Flush()
	if len(segs) <= n || segs[n].Seq != uint64(n) || !segs[n].Discontinuity {
		t.Fatalf("after the track change: %d segments, want more from seq %d, the first discontinuous", len(segs), n)
	}
}

func TestStreamSegmenterNothingCarried(t *testing.T) {
	g711, err := media.NewG711Track(media.CodecG711U, 8000, 1)
	if err != nil {
		t.Fatal(err)
	}
	var told int
	s, err := NewStreamSegmenter([]*media.Track{g711}, time.Second, func(*Segment) { t.Error("a segment") }, func(*media.Track) { told++ })
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		ts := time.Duration(i) * 20 * time.Millisecond
		if err := s.WriteFrame(&media.Frame{Track: g711, DTS: ts, PTS: ts, Payload: make([]byte, 160)}, []*media.Track{g711}); err != nil {
			t.Fatal(err)
		}
	}
	if s.Flush() || told != 1 {
		t.Errorf("Flush() = true or told %d times, want false and once", told)
	}
	if _, err := NewStreamSegmenter(nil, 0, func(*Segment) {}, nil); err == nil {
		t.Error("a zero target accepted")
	}
}
