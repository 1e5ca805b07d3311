// Package mpegts demuxes MPEG transport streams for mediakit's ingests:
// it wraps mediacommon's reader, bounds what is read looking for the
// program map table, unwraps the 33-bit clock, and hands H.264 and H.265
// access units (in Annex-B), raw AAC access units and Opus packets to a
// Handler, each with its own timestamp. Streams of other codecs are
// reported by Demuxer.Streams and dropped.
//
// HTTP-TS pulls, MPEG-TS files and HLS segments (pkg/source) and MPEG-TS
// over RTP (pkg/rtpserver) read through it.
package mpegts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	mcmpegts "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/mediakit/mediakit/pkg/media"
)

// ClockRate is the rate of MPEG-TS PTS and DTS.
const ClockRate = 90000

// MaxProbe bounds what NewDemuxer reads looking for the program map table
// and the first frame of each AAC, AC-3 and E-AC-3 stream (which tell
// their configuration): everything read until then is kept, to be read
// again. It is mediacommon's own bound, enforced here so that the error
// does not depend on its wording.
const MaxProbe = 1 << 20

// Errors.
var (
	// ErrNoPMT: the first MaxProbe bytes hold no program map table, or not
	// the first frame of every stream whose configuration is read from it.
	ErrNoPMT = errors.New("mpegts: no program map table (or no frame of an announced AAC, AC-3 or E-AC-3 stream) in the first 1 MiB")
	// ErrUnsupported is the Err of a Stream of a codec the demuxer does
	// not hand to a Handler.
	ErrUnsupported = errors.New("mpegts: codec not supported")
)

// maxKeptBuffer is the largest Annex-B buffer kept from one access unit
// to the next.
const maxKeptBuffer = 1 << 20

// Demuxer reads one MPEG-TS program. Make one with NewDemuxer, look at
// its Streams, then Run it. It is not safe for concurrent use.
type Demuxer struct {
	rd      *mcmpegts.Reader
	streams []Stream
	h       Handler

	td      mcmpegts.TimeDecoder
	base    int64 // the first timestamp read
	started bool

	buf []byte // Annex-B of the current access unit, reused
}

// NewDemuxer reads r until it knows the program's streams: its program
// map table and, for AAC, AC-3 and E-AC-3 streams, their first frame.
// It returns ErrNoPMT when that takes more than MaxProbe bytes, an error
// wrapping io.ErrUnexpectedEOF when r ends first, and r's own errors as
// they are. What it read is read again by Run.
func NewDemuxer(r io.Reader) (*Demuxer, error) {
	pr := &probeReader{r: r}
	rd := &mcmpegts.Reader{R: pr}
	if err := rd.Initialize(); err != nil {
		switch {
		case pr.hit, strings.Contains(err.Error(), "max recorded size exceeded"):
			return nil, ErrNoPMT
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("mpegts: no program map table before the end of the input: %w", io.ErrUnexpectedEOF)
		}
		return nil, err
	}
	pr.done = true
	rd.OnDecodeError(func(error) {}) // damaged packets are skipped, as players do

	d := &Demuxer{rd: rd}
	for _, tr := range rd.Tracks() {
		d.streams = append(d.streams, d.register(tr))
	}
	return d, nil
}

// Streams returns the elementary streams of the program, in the order of
// its program map table.
func (d *Demuxer) Streams() []Stream { return slices.Clone(d.streams) }

// Run reads the rest of the input, handing the access units of the
// streams without an Err to h, until the end of the input (it returns
// nil), ctx is done (ctx.Err()), reading fails (the reader's error, as it
// is) or h returns an error (that error). Run is called once.
func (d *Demuxer) Run(ctx context.Context, h Handler) error {
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

// register sets up the dispatch of one track and describes it.
func (d *Demuxer) register(tr *mcmpegts.Track) Stream {
	s := Stream{PID: tr.PID, Name: codecName(tr.Codec)}
	switch c := tr.Codec.(type) {
	case *tscodecs.H264:
		s.Codec = media.CodecH264
		d.rd.OnDataH264(tr, func(pts, dts int64, au [][]byte) error {
			return d.video(media.CodecH264, pts, dts, au)
		})
	case *tscodecs.H265:
		s.Codec = media.CodecH265
		d.rd.OnDataH265(tr, func(pts, dts int64, au [][]byte) error {
			return d.video(media.CodecH265, pts, dts, au)
		})
	case *tscodecs.MPEG4Audio:
		asc, err := c.Config.Marshal()
		if err != nil {
			s.Err = fmt.Errorf("mpegts: AAC configuration: %w", err)
			return s
		}
		s.Codec = media.CodecAAC
		rate := time.Duration(c.Config.SampleRate)
		d.rd.OnDataMPEG4Audio(tr, func(pts int64, aus [][]byte) error {
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
		s.Codec = media.CodecOpus
		d.rd.OnDataOpus(tr, func(pts int64, packets [][]byte) error {
			at := d.at(pts)
			for _, p := range packets {
				if err := d.h.Opus(at, p); err != nil {
					return err
				}
				at += opusDuration(p)
			}
			return nil
		})
	default:
		s.Err = ErrUnsupported
	}
	return s
}

// video hands an H.264 or H.265 access unit to the handler in Annex-B.
func (d *Demuxer) video(c media.Codec, pts, dts int64, au [][]byte) error {
	n := 0
	for _, u := range au {
		n += 4 + len(u)
	}
	b := d.buf[:0]
	if cap(b) < n {
		b = make([]byte, 0, n)
	}
	for _, u := range au {
		b = append(b, 0, 0, 0, 1)
		b = append(b, u...)
	}
	if cap(b) <= maxKeptBuffer {
		d.buf = b
	} else {
		d.buf = nil
	}
	p, t := d.at(pts), d.at(dts)
	return d.h.Video(c, p, t, b)
}

// at unwraps the 33-bit clock, one timeline for every stream, and keeps
// the first value's position on it, so that a file reads with the
// timestamps ffprobe shows.
func (d *Demuxer) at(v int64) time.Duration {
	if !d.started {
		d.started, d.base = true, v
	}
	return Ticks(d.base + d.td.Decode(v))
}

// Ticks converts 90 kHz clock ticks to a duration, without overflowing
// for any unwrapped timestamp.
func Ticks(v int64) time.Duration {
	return time.Duration(v/ClockRate)*time.Second + time.Duration(v%ClockRate)*time.Second/ClockRate
}

// opusDuration is the duration of an Opus packet, from its TOC byte (RFC
// 6716, 3.1); 0 when the packet is too short to tell.
func opusDuration(p []byte) time.Duration {
	if len(p) == 0 {
		return 0
	}
	cfg := p[0] >> 3
	var frame time.Duration
	switch {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		frame = [...]time.Duration{10, 20, 40, 60}[cfg%4] * time.Millisecond
	case cfg < 16: // hybrid: 10, 20 ms
		frame = [...]time.Duration{10, 20}[cfg%2] * time.Millisecond
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = [...]time.Duration{2500, 5000, 10000, 20000}[cfg%4] * time.Microsecond
	}
	switch p[0] & 3 {
	case 0:
		return frame
	case 1, 2:
		return 2 * frame
	}
	if len(p) < 2 {
		return 0
	}
	return time.Duration(p[1]&0x3f) * frame
}

// probeReader reads at most MaxProbe bytes until done is set; hit says
// that it refused to read more.
type probeReader struct {
	r    io.Reader
	n    int
	done bool
	hit  bool
}

func (p *probeReader) Read(b []byte) (int, error) {
	if p.done {
		return p.r.Read(b)
	}
	if p.n >= MaxProbe {
		p.hit = true
		return 0, ErrNoPMT
	}
	if len(b) > MaxProbe-p.n {
		b = b[:MaxProbe-p.n]
	}
	n, err := p.r.Read(b)
	p.n += n
	return n, err
}
