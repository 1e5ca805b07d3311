package mpegts

import (
	"bytes"
	"testing"
	"time"

	mcmpegts "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/mediakit/mediakit/pkg/media"
)

// unit is one call to a Handler.
type unit struct {
	codec    media.Codec
	pts, dts time.Duration
	size     int
}

// recorder is a Handler that records what it gets and checks its shape.
type recorder struct {
	t     testing.TB
	units []unit
	err   error // returned by every call
}

func (r *recorder) Video(c media.Codec, pts, dts time.Duration, annexB []byte) error {
	if c != media.CodecH264 && c != media.CodecH265 {
		r.t.Errorf("video of codec %v", c)
	}
	if !bytes.HasPrefix(annexB, []byte{0, 0, 0, 1}) {
		r.t.Errorf("video access unit without a 4-byte start code: % x", annexB[:min(len(annexB), 8)])
	}
	r.units = append(r.units, unit{c, pts, dts, len(annexB)})
	return r.err
}

func (r *recorder) AAC(pts time.Duration, asc, au []byte) error {
	if len(asc) < 2 {
		r.t.Errorf("AAC with a configuration of %d bytes", len(asc))
	}
	r.units = append(r.units, unit{media.CodecAAC, pts, pts, len(au)})
	return r.err
}

func (r *recorder) Opus(pts time.Duration, packet []byte) error {
	r.units = append(r.units, unit{media.CodecOpus, pts, pts, len(packet)})
	return r.err
}

func (r *recorder) MP3(pts time.Duration, frame []byte) error {
	if media.MP3FrameDuration(frame) == 0 {
		r.t.Errorf("MP3 frame without a valid header: % x", frame[:min(len(frame), 4)])
	}
	r.units = append(r.units, unit{media.CodecMP3, pts, pts, len(frame)})
	return r.err
}

// of returns the units of codec c.
func (r *recorder) of(c media.Codec) []unit {
	var out []unit
	for _, u := range r.units {
		if u.codec == c {
			out = append(out, u)
		}
	}
	return out
}

// tsWriter muxes a test stream with mediacommon's writer.
type tsWriter struct {
	t      testing.TB
	buf    bytes.Buffer
	w      *mcmpegts.Writer
	tracks []*mcmpegts.Track
}

func newTSWriter(t testing.TB, codecs ...tscodecs.Codec) *tsWriter {
	t.Helper()
	tw := &tsWriter{t: t}
	for _, c := range codecs {
		tw.tracks = append(tw.tracks, &mcmpegts.Track{Codec: c})
	}
	tw.w = &mcmpegts.Writer{W: &tw.buf, Tracks: tw.tracks}
	if err := tw.w.Initialize(); err != nil {
		t.Fatal(err)
	}
	return tw
}

func (tw *tsWriter) check(err error) {
	tw.t.Helper()
	if err != nil {
		tw.t.Fatal(err)
	}
}

// run demuxes b into a new recorder.
func run(t testing.TB, b []byte) (*Demuxer, *recorder, error) {
	t.Helper()
	d, err := NewDemuxer(bytes.NewReader(b))
	if err != nil {
		return nil, nil, err
	}
	r := &recorder{t: t}
	err = d.Run(t.Context(), r)
	return d, r, err
}
