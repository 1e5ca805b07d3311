package source

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/mediakit/mediakit/pkg/format/es"
	"github.com/mediakit/mediakit/pkg/media"
)

// tsClockRate is the rate of MPEG-TS PTS and DTS.
const tsClockRate = 90000

// errNoPMT replaces mediacommon's "max recorded size exceeded": its
// reader keeps what it reads until it has the program map table (and the
// first ADTS header of each AAC stream), up to 1 MiB.
var errNoPMT = errors.New("no MPEG-TS program map table (or no audio in an announced AAC stream) in the first 1 MiB")

// readTS demuxes MPEG-TS from r into fd's elementary-stream ingest until
// the end of r, with mediacommon's reader (the same path as
// rtpserver's tspipe). H.264, H.265 and AAC become tracks; streams of
// other codecs are dropped with one warning. It returns nil at the end
// of r, and r's own error unwrapped so that callers can name what failed
// (an HLS segment); demux failures are returned as errors without the
// input's name, which the caller adds.
func readTS(fd *feed, r io.Reader) error {
	rd := &mpegts.Reader{R: r}
	if err := rd.Initialize(); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("no MPEG-TS program map table before the end: %w", io.ErrUnexpectedEOF)
		}
		if strings.Contains(err.Error(), "max recorded size exceeded") {
			return errNoPMT
		}
		return err
	}
	rd.OnDecodeError(func(error) {}) // damaged packets are skipped, as players do

	var td mpegts.TimeDecoder
	var base int64
	first := true
	// at unwraps the 33-bit clock and keeps the first value's position on
	// it, so that a file reads with the timestamps ffprobe shows.
	at := func(v int64) time.Duration {
		if first {
			first, base = false, v
		}
		return tsTicks(base + td.Decode(v))
	}

	var opts es.Options
	for _, tr := range rd.Tracks() {
		switch tr.Codec.(type) {
		case *tscodecs.H264, *tscodecs.H265:
			opts.ExpectVideo = true
		case *tscodecs.MPEG4Audio:
			opts.ExpectAudio = true
		}
	}
	if !opts.ExpectVideo && !opts.ExpectAudio {
		return fmt.Errorf("no H.264, H.265 or AAC stream in the MPEG-TS program: %w", es.ErrUnsupported)
	}
	in := fd.es(opts)

	for _, tr := range rd.Tracks() {
		switch c := tr.Codec.(type) {
		case *tscodecs.H264:
			rd.OnDataH264(tr, func(pts, dts int64, au [][]byte) error {
				return tsVideo(fd, in, media.CodecH264, at(pts), at(dts), au)
			})
		case *tscodecs.H265:
			rd.OnDataH265(tr, func(pts, dts int64, au [][]byte) error {
				return tsVideo(fd, in, media.CodecH265, at(pts), at(dts), au)
			})
		case *tscodecs.MPEG4Audio:
			asc, err := c.Config.Marshal()
			if err != nil {
				fd.warnOnce("ts-aac-config", "source: MPEG-TS AAC stream with an unusable configuration dropped", "error", err.Error())
				continue
			}
			rate := c.Config.SampleRate
			rd.OnDataMPEG4Audio(tr, func(pts int64, aus [][]byte) error {
				t := at(pts)
				for i, au := range aus {
					ts := t
					if rate > 0 {
						ts += time.Duration(i) * 1024 * time.Second / time.Duration(rate)
					}
					out, err := fd.stamp(media.KindAudio, ts)
					if err != nil {
						return err
					}
					if err := in.WriteAACRaw(out, asc, au); err != nil {
						if err := fd.out.failed(); err != nil {
							return err
						}
						// refused: counted and logged by the ingest, and
						// the stream goes on
					}
				}
				return nil
			})
		case *tscodecs.Opus:
			rd.OnDataOpus(tr, func(pts int64, packets [][]byte) error {
				for _, p := range packets {
					_ = in.WriteOpus(at(pts), p) // drops the track, with a warning
				}
				return nil
			})
		default:
			name := fmt.Sprintf("%T", tr.Codec)
			name = strings.TrimPrefix(name, "*codecs.")
			fd.warnOnce("ts-codec-"+name, "source: MPEG-TS stream of a codec mediakit cannot carry dropped",
				"codec", name, "pid", tr.PID)
		}
	}
	for {
		if err := fd.ctx.Err(); err != nil {
			return err
		}
		if err := rd.Read(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// tsVideo hands an H.264 or H.265 access unit to the ingest in Annex-B.
func tsVideo(fd *feed, in *es.Ingest, c media.Codec, pts, dts time.Duration, au [][]byte) error {
	out, err := fd.stamp(media.KindVideo, dts)
	if err != nil {
		return err
	}
	n := 0
	for _, u := range au {
		n += 4 + len(u)
	}
	b := make([]byte, 0, n)
	for _, u := range au {
		b = append(b, 0, 0, 0, 1)
		b = append(b, u...)
	}
	if err := in.WriteVideo(c, fd.clk.shift(pts), out, b); err != nil {
		// A refused access unit is counted and logged by the ingest; the
		// stream goes on, as a player's would. The sink failing ends it.
		return fd.out.failed()
	}
	return nil
}

// tsTicks converts 90 kHz ticks to a duration.
func tsTicks(v int64) time.Duration {
	return time.Duration(v/tsClockRate)*time.Second + time.Duration(v%tsClockRate)*time.Second/tsClockRate
}
