package es

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

// recSink is a FrameSink that records everything and checks the contract
// the engine relies on: frames only after SetTracks, only of the declared
// tracks, never empty, and the first video frame of each track a keyframe.
type recSink struct {
	declared [][]*media.Track
	frames   []*media.Frame
	started  map[*media.Track]bool
	errs     []string
}

func (s *recSink) SetTracks(tracks []*media.Track) error {
	if len(tracks) == 0 {
		s.errs = append(s.errs, "SetTracks without tracks")
	}
	s.declared = append(s.declared, slices.Clone(tracks))
	return nil
}

func (s *recSink) SetMetadata(media.Metadata) {}

func (s *recSink) WriteFrame(f *media.Frame) error {
	if err := s.checkFrame(f); err != nil {
		s.errs = append(s.errs, err.Error())
	}
	s.frames = append(s.frames, f)
	return nil
}

func (s *recSink) checkFrame(f *media.Frame) error {
	if len(s.declared) == 0 {
		return errors.New("WriteFrame before SetTracks")
	}
	if cur := s.declared[len(s.declared)-1]; f.Track == nil || !slices.Contains(cur, f.Track) {
		return fmt.Errorf("frame of undeclared track %v (declared %v)", f.Track, cur)
	}
	if len(f.Payload) == 0 {
		return errors.New("empty frame")
	}
	if s.started == nil {
		s.started = map[*media.Track]bool{}
	}
	if f.Track.Kind() == media.KindVideo && !s.started[f.Track] && !f.Key {
		return fmt.Errorf("first frame of %v at %v is not a keyframe", f.Track, f.DTS)
	}
	s.started[f.Track] = true
	if f.Track.Kind() == media.KindAudio && !f.Key {
		return errors.New("audio frame not marked Key")
	}
	return nil
}

func (s *recSink) check(t testing.TB) {
	t.Helper()
	for i, e := range s.errs {
		if i == 5 {
			t.Errorf("... %d more", len(s.errs)-5)
			break
		}
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

// codecs lists the codecs of each SetTracks call.
func (s *recSink) codecs() [][]media.Codec {
	var out [][]media.Codec
	for _, ts := range s.declared {
		var cs []media.Codec
		for _, t := range ts {
			cs = append(cs, t.Codec)
		}
		out = append(out, cs)
	}
	return out
}

// logBuffer captures an ingest's log.
func logBuffer() (*bytes.Buffer, *slog.Logger) {
	var b bytes.Buffer
	return &b, slog.New(slog.NewTextHandler(&b, nil))
}

// warnings returns the WARN lines of a log.
func warnings(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "level=WARN") {
			out = append(out, l)
		}
	}
	return out
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// annexB joins NAL units with start codes, alternating the 4- and 3-byte
// forms as real streams do.
func annexB(nalus ...[]byte) []byte {
	var b []byte
	for i, n := range nalus {
		if i == 0 {
			b = append(b, 0, 0, 0, 1)
		} else {
			b = append(b, 0, 0, 1)
		}
		b = append(b, n...)
	}
	return b
}

// describe names NAL units by type and length, for failure messages.
func describe(units [][]byte) string {
	var b strings.Builder
	for _, n := range units {
		fmt.Fprintf(&b, "[%#02x %dB]", n[0], len(n))
	}
	return b.String()
}

// sameAudio compares what matters of two audio tracks: an AudioSpecificConfig
// built from an ADTS header has no extensions, so its bytes may differ from
// an encoder's.
func sameAudio(a, b *media.Track) bool {
	return a.Codec == b.Codec && a.SampleRate == b.SampleRate && a.Channels == b.Channels &&
		(a.Codec != media.CodecAAC || bytes.Equal(a.AACConfig[:2], b.AACConfig[:2]))
}

// avccUnits splits an AVCC payload into its NAL units.
func avccUnits(payload []byte) [][]byte {
	var out [][]byte
	media.EachNALU(payload, func(n []byte) bool {
		out = append(out, n)
		return true
	})
	return out
}

// rawClip is a raw Annex-B clip as access units (NAL units each), stamped
// 25 fps.
type rawClip struct {
	codec media.Codec
	aus   [][][]byte
}

func loadRaw(t testing.TB, name string) rawClip {
	t.Helper()
	hevc := strings.HasSuffix(name, ".hevc")
	c := rawClip{codec: media.CodecH264, aus: testutil.ClipAccessUnits(t, name, hevc)}
	if hevc {
		c.codec = media.CodecH265
	}
	return c
}

// h264Units returns the SPS, PPS, SEI and IDR slice of the first access
// unit of h264.h264 (which holds them in the order SEI, SPS, PPS, IDR).
func h264Units(t testing.TB, clip rawClip) (sps, pps, sei, idr []byte) {
	t.Helper()
	for _, n := range clip.aus[0] {
		switch n[0] & 0x1f {
		case 7:
			sps = n
		case 8:
			pps = n
		case 6:
			sei = n
		case 5:
			idr = n
		}
	}
	if sps == nil || pps == nil || sei == nil || idr == nil {
		t.Fatal("h264.h264 does not start with SEI, SPS, PPS and IDR")
	}
	return sps, pps, sei, idr
}

// isParamSetOrAUD reports whether the ingest leaves a NAL unit out of the
// payload when the track carries it.
func isParamSetOrAUD(c media.Codec, n []byte) bool {
	if c == media.CodecH264 {
		typ := n[0] & 0x1f
		return typ == 7 || typ == 8 || typ == 9
	}
	typ := (n[0] >> 1) & 0x3f
	return typ >= 32 && typ <= 35
}

// flvClip is an FLV clip as the ingest's callers would see it: video
// access units in Annex-B with SPS and PPS before each keyframe, audio
// as ADTS.
type flvClip struct {
	video, audio *media.Track
	frames       []*media.Frame // what flv.Ingest produced, in file order
}

func loadFLV(t testing.TB, name string) flvClip {
	t.Helper()
	tracks, frames := clipframes.Read(t, name)
	c := flvClip{frames: frames}
	for _, tr := range tracks {
		if tr.Kind() == media.KindVideo {
			c.video = tr
		} else {
			c.audio = tr
		}
	}
	return c
}

// annexBOf is the Annex-B form of a video frame, with the track's
// parameter sets before a keyframe.
func annexBOf(f *media.Frame) []byte {
	var nalus [][]byte
	if f.Key {
		if f.Track.Codec == media.CodecH265 {
			nalus = append(nalus, f.Track.VPS)
		}
		nalus = append(nalus, f.Track.SPS, f.Track.PPS)
	}
	return annexB(append(nalus, avccUnits(f.Payload)...)...)
}

// adts builds an ADTS frame (no CRC) for a raw AAC frame of an AAC-LC
// track.
func adts(asc, payload []byte) []byte {
	objectType := asc[0] >> 3
	rateIndex := (asc[0]&0x07)<<1 | asc[1]>>7
	channels := (asc[1] >> 3) & 0x0f
	n := len(payload) + 7
	h := []byte{
		0xff, 0xf1,
		(objectType-1)<<6 | rateIndex<<2 | channels>>2,
		(channels&3)<<6 | byte(n>>11),
		byte(n >> 3),
		byte(n&7)<<5 | 0x1f,
		0xfc,
	}
	return append(h, payload...)
}

// feedFLV writes a clip's frames to an ingest: video as Annex-B, audio as
// ADTS.
func feedFLV(t testing.TB, in *Ingest, frames []*media.Frame) {
	t.Helper()
	for _, f := range frames {
		var err error
		if f.Track.Kind() == media.KindVideo {
			err = in.WriteVideo(f.Track.Codec, f.PTS, f.DTS, annexBOf(f))
		} else {
			err = in.WriteAAC(f.DTS, adts(f.Track.AACConfig, f.Payload))
		}
		if err != nil {
			t.Fatalf("frame at %v: %v", f.DTS, err)
		}
	}
}

// checkTagsInRoom checks that every frame's FLV tag is written in the
// frame's tag room and equals the tag of a copy without one.
func checkTagsInRoom(t *testing.T, frames []*media.Frame) {
	t.Helper()
	for i, f := range frames {
		want := flv.FrameTag(&media.Frame{Track: f.Track, DTS: f.DTS, PTS: f.PTS, Key: f.Key, Payload: f.Payload})
		tag := flv.FrameTag(f)
		if !bytes.Equal(tag, want) || len(f.TagRoom) == 0 || &tag[0] != &f.TagRoom[0] {
			t.Fatalf("frame %d (%v): tag in its room %v, equal to a copy's %v", i, f.Track.Codec, len(f.TagRoom) > 0 && &tag[0] == &f.TagRoom[0], bytes.Equal(tag, want))
		}
	}
}
