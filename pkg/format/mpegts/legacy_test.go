package mpegts

import (
	"bytes"
	"context"
	"errors"
	"io"
	"time"

	mcmpegts "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/mediakit/mediakit/pkg/media"
)

// legacyDemuxer is the demuxer as it was before fastdemux.go: mediacommon's
// reader (go-astits) for everything. TestDifferential and
// BenchmarkDemuxer compare the two.
type legacyDemuxer struct {
	rd      *mcmpegts.Reader
	h       Handler
	td      mcmpegts.TimeDecoder
	base    int64
	started bool
	buf     []byte
}

func newLegacyDemuxer(b []byte) (*legacyDemuxer, error) {
	rd := &mcmpegts.Reader{R: bytes.NewReader(b)}
	if err := rd.Initialize(); err != nil {
		return nil, err
	}
	rd.OnDecodeError(func(error) {})
	d := &legacyDemuxer{rd: rd}
	for _, tr := range rd.Tracks() {
		switch c := tr.Codec.(type) {
		case *tscodecs.H264:
			rd.OnDataH264(tr, func(pts, dts int64, au [][]byte) error {
				return d.video(media.CodecH264, pts, dts, au)
			})
		case *tscodecs.H265:
			rd.OnDataH265(tr, func(pts, dts int64, au [][]byte) error {
				return d.video(media.CodecH265, pts, dts, au)
			})
		case *tscodecs.MPEG4Audio:
			asc, err := c.Config.Marshal()
			if err != nil {
				continue
			}
			rate := time.Duration(c.Config.SampleRate)
			rd.OnDataMPEG4Audio(tr, func(pts int64, aus [][]byte) error {
				t := d.at(pts)
				for i, au := range aus {
					at := t
					if rate > 0 {
						at += time.Duration(i) * 1024 * time.Second / rate
					}
					if err := d.h.AAC(at, asc, au); err != nil {
						return err
					}
				}
				return nil
			})
		case *tscodecs.Opus:
			rd.OnDataOpus(tr, func(pts int64, packets [][]byte) error {
				at := d.at(pts)
				for _, p := range packets {
					if err := d.h.Opus(at, p); err != nil {
						return err
					}
					at += opusDuration(p)
				}
				return nil
			})
		}
	}
	return d, nil
}

func (d *legacyDemuxer) Run(ctx context.Context, h Handler) error {
	d.h = h
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := d.rd.Read(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func (d *legacyDemuxer) video(c media.Codec, pts, dts int64, au [][]byte) error {
	b := joinAnnexB(d.buf[:0], au)
	d.buf = b
	return d.h.Video(c, d.at(pts), d.at(dts), b)
}

func (d *legacyDemuxer) at(v int64) time.Duration {
	if !d.started {
		d.started, d.base = true, v
	}
	return Ticks(d.base + d.td.Decode(v))
}
