package flv

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
)

// recSink is a FrameSink that records everything and checks the FrameSink
// contract: frames only after SetTracks, and only of the declared tracks.
type recSink struct {
	calls    []string // "tracks", "metadata", "frame" in call order
	declared [][]*media.Track
	metadata []media.Metadata
	frames   []*media.Frame
	errs     []string
}

func (s *recSink) SetTracks(tracks []*media.Track) error {
	s.calls = append(s.calls, "tracks")
	if len(tracks) == 0 {
		s.errs = append(s.errs, "SetTracks without tracks")
	}
	s.declared = append(s.declared, slices.Clone(tracks))
	return nil
}

func (s *recSink) SetMetadata(md media.Metadata) {
	s.calls = append(s.calls, "metadata")
	s.metadata = append(s.metadata, md)
}

func (s *recSink) WriteFrame(f *media.Frame) error {
	s.calls = append(s.calls, "frame")
	if err := checkFrame(s.current(), f); err != nil {
		s.errs = append(s.errs, err.Error())
	}
	s.frames = append(s.frames, f)
	return nil
}

func (s *recSink) current() []*media.Track {
	if len(s.declared) == 0 {
		return nil
	}
	return s.declared[len(s.declared)-1]
}

// checkFrame checks what the engine requires of a frame.
func checkFrame(declared []*media.Track, f *media.Frame) error {
	if declared == nil {
		return errors.New("WriteFrame before SetTracks")
	}
	if f.Track == nil || !slices.Contains(declared, f.Track) {
		return fmt.Errorf("frame of undeclared track %v (declared %v)", f.Track, declared)
	}
	if len(f.Payload) == 0 {
		return errors.New("empty frame")
	}
	return nil
}

func (s *recSink) check(t testing.TB) {
	t.Helper()
	for _, e := range s.errs {
		t.Error(e)
	}
}

func (s *recSink) framesOf(k media.Kind) []*media.Frame {
	var out []*media.Frame
	for _, f := range s.frames {
		if f.Track.Kind() == k {
			out = append(out, f)
		}
	}
	return out
}

// ingestFile reads an FLV file tag by tag into an ingest feeding a recSink.
func ingestFile(t testing.TB, path string) (*recSink, *Ingest) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sink := &recSink{}
	in := NewIngest(sink)
	r := NewReader(f, 0)
	for {
		tag, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		// Reader reuses its buffer; Ingest keeps what it is given.
		tag.Body = slices.Clone(tag.Body)
		if err := in.Tag(tag); err != nil {
			t.Fatalf("%s: tag at %v: %v", path, tag.Timestamp, err)
		}
	}
	if err := in.Flush(); err != nil {
		t.Fatal(err)
	}
	sink.check(t)
	return sink, in
}

// readTags returns the tags of an FLV file with their bodies copied.
func readTags(t testing.TB, path string) []Tag {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := NewReader(f, 0)
	var tags []Tag
	for {
		tag, err := r.Next()
		if err == io.EOF {
			return tags
		}
		if err != nil {
			t.Fatal(err)
		}
		tag.Body = slices.Clone(tag.Body)
		tags = append(tags, tag)
	}
}

// clipTracks returns the H.264 and AAC tracks of an FLV clip.
func clipTracks(t testing.TB, clip string) (video, audio *media.Track) {
	t.Helper()
	for _, tag := range readTags(t, testutil.Clip(t, clip)) {
		switch tag.Type {
		case TagVideo:
			p, err := ParseVideo(tag.Body)
			if err == nil && p.Type == VideoSequenceHeader && video == nil {
				video, _, err = videoTrack(p)
				if err != nil {
					t.Fatal(err)
				}
			}
		case TagAudio:
			p, err := ParseAudio(tag.Body)
			if err == nil && p.SequenceHeader && audio == nil {
				audio, err = media.NewAACTrack(p.Data)
				if err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if video == nil && audio == nil {
		t.Fatalf("%s: no sequence headers", clip)
	}
	return video, audio
}

// hevcTrack builds the H.265 track of h265.hevc from its first parameter
// sets (split with h264.AnnexB, which H.265 shares).
func hevcTrack(t testing.TB) *media.Track {
	t.Helper()
	data, err := os.ReadFile(testutil.Clip(t, "h265.hevc"))
	if err != nil {
		t.Fatal(err)
	}
	var au h264.AnnexB
	if err := au.Unmarshal(data[:2048]); err != nil {
		t.Fatal(err)
	}
	var vps, sps, pps []byte
	for _, n := range au {
		switch h265.NALUType((n[0] >> 1) & 0x3f) {
		case h265.NALUType_VPS_NUT:
			vps = n
		case h265.NALUType_SPS_NUT:
			sps = n
		case h265.NALUType_PPS_NUT:
			pps = n
		}
	}
	tr, err := media.NewH265Track(vps, sps, pps)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }
