// Package mpegts demuxes MPEG transport streams for mediakit's ingests:
// it finds the program's streams with mediacommon's reader (bounding what
// is read looking for the program map table), then reads the packets and
// PES packets with its own core (fastdemux.go, several times faster than
// go-astits under mediacommon, and equal to it in what it hands out),
// unwraps the 33-bit clock, and hands H.264 and H.265
// access units (in Annex-B), raw AAC access units, Opus packets and (to
// an MP3Handler) MP3 frames to a Handler, each with its own timestamp. Streams of other codecs are
// reported by Demuxer.Streams and dropped.
//
// HTTP-TS pulls, MPEG-TS files and HLS segments (pkg/source) and MPEG-TS
// over RTP (pkg/rtpserver) read through it.
package mpegts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg1audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	mcmpegts "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/substructs"

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

// MaxPES bounds one PES packet: a larger one is dropped.
const MaxPES = 8 << 20

// maxKeptBuffer is the largest Annex-B buffer kept from one access unit
// to the next.
const maxKeptBuffer = 1 << 20

// Demuxer reads one MPEG-TS program. Make one with NewDemuxer, look at
// its Streams, then Run it. It is not safe for concurrent use.
type Demuxer struct {
	r       io.Reader // the input, from its start
	streams []Stream
	emit    map[uint16]emitFunc
	h       Handler
	core    *fastCore

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

	// Run reads again what the probe read, then the rest.
	d := &Demuxer{r: io.MultiReader(bytes.NewReader(pr.read), pr.r), emit: map[uint16]emitFunc{}}
	var types map[uint16]byte // read only if mediacommon left a stream unsupported
	for _, tr := range rd.Tracks() {
		if _, ok := tr.Codec.(*tscodecs.Unsupported); ok && types == nil {
			types = pmtStreamTypes(pr.read)
		}
		d.streams = append(d.streams, d.register(tr, types[tr.PID]))
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
//
// Damaged packets are skipped, as players do; a PES packet larger than
// MaxPES is dropped; a PES whose length does not match its payload is
// read as ffmpeg reads it. Losses counts what was dropped or mended.
func (d *Demuxer) Run(ctx context.Context, h Handler) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.h = h
	d.core = newFastCore(&ctxReader{ctx: ctx, r: d.r}, d.emit)
	d.core.after = ctx.Err
	return d.core.run()
}

// Losses counts what Run dropped or mended so far.
func (d *Demuxer) Losses() Losses {
	if d.core == nil {
		return Losses{}
	}
	return d.core.losses
}

// ctxReader ends reading when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// register sets up the dispatch of one track and describes it;
// streamType is the PMT's, read for streams mediacommon does not support.
func (d *Demuxer) register(tr *mcmpegts.Track, streamType byte) Stream {
	s := Stream{PID: tr.PID, Name: codecName(tr.Codec)}
	if _, ok := tr.Codec.(*tscodecs.Unsupported); ok && streamType == streamTypeMPEG2Audio {
		s.Codec, s.Name = media.CodecMP3, "mpeg1audio"
		d.emit[tr.PID] = d.mp3PES
		return s
	}
	switch c := tr.Codec.(type) {
	case *tscodecs.H264:
		s.Codec = media.CodecH264
		d.emit[tr.PID] = func(pts, dts int64, data []byte) error {
			return d.videoPES(media.CodecH264, pts, dts, data)
		}
	case *tscodecs.H265:
		s.Codec = media.CodecH265
		d.emit[tr.PID] = func(pts, dts int64, data []byte) error {
			return d.videoPES(media.CodecH265, pts, dts, data)
		}
	case *tscodecs.MPEG4Audio:
		asc, err := c.Config.Marshal()
		if err != nil {
			s.Err = fmt.Errorf("mpegts: AAC configuration: %w", err)
			return s
		}
		s.Codec = media.CodecAAC
		rate := time.Duration(c.Config.SampleRate)
		d.emit[tr.PID] = func(pts, dts int64, data []byte) error {
			if pts != dts {
				return nil
			}
			var pkts mpeg4audio.ADTSPackets
			if pkts.Unmarshal(data) != nil {
				return nil
			}
			t := d.at(pts)
			for i, pkt := range pkts {
				at := t
				if rate > 0 {
					at += time.Duration(i) * 1024 * time.Second / rate
				}
				if err := d.h.AAC(at, asc, pkt.AU); err != nil {
					return err
				}
			}
			return nil
		}
	case *tscodecs.MPEG1Audio:
		s.Codec = media.CodecMP3
		d.emit[tr.PID] = d.mp3PES
	case *tscodecs.Opus:
		s.Codec = media.CodecOpus
		d.emit[tr.PID] = func(pts, dts int64, data []byte) error {
			if pts != dts {
				return nil
			}
			var packets [][]byte
			for pos := 0; ; {
				var au substructs.OpusAccessUnit
				n, err := au.Unmarshal(data[pos:])
				if err != nil {
					return nil
				}
				pos += n
				packets = append(packets, au.Packet)
				if pos == len(data) {
					break
				}
			}
			at := d.at(pts)
			for _, p := range packets {
				if err := d.h.Opus(at, p); err != nil {
					return err
				}
				at += opusDuration(p)
			}
			return nil
		}
	default:
		s.Err = ErrUnsupported
	}
	return s
}

// mp3PES splits an MPEG audio PES packet into its frames and hands each
// to an MP3Handler, the first at the packet's PTS and each next one a
// frame's duration later. Bytes that do not start a valid Layer III frame (a
// damaged or cut packet) are skipped up to the next sync word; a cut last
// frame is dropped.
func (d *Demuxer) mp3PES(pts, dts int64, data []byte) error {
	mh, ok := d.h.(MP3Handler)
	if !ok || pts != dts {
		return nil
	}
	at := d.at(pts)
	for len(data) >= 4 {
		var h mpeg1audio.FrameHeader
		n := 0
		if data[0] == 0xff && h.Unmarshal(data) == nil && h.Layer == 3 {
			n = media.MP3FrameLen(&h)
		}
		if n < 4 {
			// Not a frame: on to the next 0xFF.
			i := bytes.IndexByte(data[1:], 0xff)
			if i < 0 {
				return nil
			}
			data = data[1+i:]
			continue
		}
		if n > len(data) {
			return nil
		}
		if err := mh.MP3(at, data[:n]); err != nil {
			return err
		}
		at += media.MP3FrameDuration(data[:n])
		data = data[n:]
	}
	return nil
}

// videoPES splits the data of a video PES packet into NAL units and
// hands them to the handler without their access unit delimiter.
func (d *Demuxer) videoPES(c media.Codec, pts, dts int64, data []byte) error {
	var au h264.AnnexB
	if au.Unmarshal(data) != nil {
		return nil
	}
	aud := byte(h264.NALUTypeAccessUnitDelimiter)
	if c == media.CodecH265 {
		aud = byte(h265.NALUType_AUD_NUT << 1)
	}
	if au[0][0] == aud {
		if au = au[1:]; len(au) == 0 {
			return nil
		}
	}
	return d.video(c, pts, dts, au)
}

// video hands an H.264 or H.265 access unit to the handler in Annex-B.
func (d *Demuxer) video(c media.Codec, pts, dts int64, au [][]byte) error {
	b := joinAnnexB(d.buf[:0], au)
	if cap(b) <= maxKeptBuffer {
		d.buf = b
	} else {
		d.buf = nil
	}
	p, t := d.at(pts), d.at(dts)
	return d.h.Video(c, p, t, b)
}

// joinAnnexB writes au's NAL units into b, each after a 4-byte start
// code, growing b at most once.
func joinAnnexB(b []byte, au [][]byte) []byte {
	n := 0
	for _, u := range au {
		n += 4 + len(u)
	}
	if cap(b) < n {
		b = make([]byte, 0, n)
	}
	for _, u := range au {
		b = append(b, 0, 0, 0, 1)
		b = append(b, u...)
	}
	return b
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
	read []byte // what was read until done
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
	p.read = append(p.read, b[:n]...)
	return n, err
}
