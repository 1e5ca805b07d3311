package rtpserver

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/mediakit/mediakit/pkg/format/es"
	"github.com/mediakit/mediakit/pkg/media"
)

// maxTSProbe bounds what is read looking for the program map table: the
// TS reader keeps every byte until it finds one.
const maxTSProbe = 4 << 20

// tsPipe demuxes MPEG-TS carried in RTP payloads with mediacommon's
// reader, which pulls from an io.Reader: payloads go through a pipe to a
// goroutine that owns the ingest while it runs.
type tsPipe struct {
	in    *es.Ingest
	log   *slog.Logger
	codec func(string)
	pw    *io.PipeWriter
	done  chan struct{}
	gap   atomic.Bool // packets were lost: video waits for a keyframe
	once  sync.Once
}

func newTSPipe(in *es.Ingest, log *slog.Logger, codec func(string)) *tsPipe {
	pr, pw := io.Pipe()
	t := &tsPipe{in: in, log: log, codec: codec, pw: pw, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		err := t.run(&probeLimit{r: pr})
		// Unblock a writer stuck on the pipe after the reader gave up.
		pr.CloseWithError(errTSEnded)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
			log.Warn("rtp mpeg-ts demux ended", "error", err.Error())
		}
	}()
	return t
}

var errTSEnded = errors.New("mpeg-ts reader ended")

// probeLimit refuses to read more than maxTSProbe before the program map
// table is found.
type probeLimit struct {
	r     io.Reader
	n     int
	ready atomic.Bool
}

func (p *probeLimit) Read(b []byte) (int, error) {
	if !p.ready.Load() && p.n >= maxTSProbe {
		return 0, errors.New("no MPEG-TS program map table in the first 4 MiB")
	}
	n, err := p.r.Read(b)
	p.n += n
	return n, err
}

func (t *tsPipe) run(r *probeLimit) error {
	rd := &mpegts.Reader{R: r}
	if err := rd.Initialize(); err != nil {
		return err
	}
	r.ready.Store(true)
	rd.OnDecodeError(func(err error) {})
	dur := func(v int64) time.Duration { return ticks(v, 90000) }
	for _, tr := range rd.Tracks() {
		switch c := tr.Codec.(type) {
		case *tscodecs.H264:
			t.codec("h264")
			rd.OnDataH264(tr, func(pts, dts int64, au [][]byte) error {
				return t.video(media.CodecH264, dur(pts), dur(dts), au)
			})
		case *tscodecs.H265:
			t.codec("h265")
			rd.OnDataH265(tr, func(pts, dts int64, au [][]byte) error {
				return t.video(media.CodecH265, dur(pts), dur(dts), au)
			})
		case *tscodecs.MPEG4Audio:
			t.codec("aac")
			asc, err := c.Config.Marshal()
			if err != nil {
				continue
			}
			rate := c.Config.SampleRate
			rd.OnDataMPEG4Audio(tr, func(pts int64, aus [][]byte) error {
				for i, au := range aus {
					at := dur(pts)
					if rate > 0 {
						at += time.Duration(i) * 1024 * time.Second / time.Duration(rate)
					}
					if err := t.in.WriteAACRaw(at, asc, au); err != nil {
						t.log.Debug("mpeg-ts aac refused", "error", err.Error())
					}
				}
				return nil
			})
		case *tscodecs.Opus:
			t.codec("opus")
			rd.OnDataOpus(tr, func(pts int64, packets [][]byte) error {
				for _, p := range packets {
					_ = t.in.WriteOpus(dur(pts), p)
				}
				return nil
			})
		default:
			t.log.Warn("rtp mpeg-ts track of an unsupported codec dropped")
		}
	}
	for {
		if err := rd.Read(); err != nil {
			return err
		}
	}
}

func (t *tsPipe) video(c media.Codec, pts, dts time.Duration, au [][]byte) error {
	if t.gap.Swap(false) {
		t.in.ResyncVideo()
	}
	var b []byte
	for _, n := range au {
		b = append(b, 0, 0, 0, 1)
		b = append(b, n...)
	}
	if err := t.in.WriteVideo(c, pts, dts, b); err != nil {
		t.log.Debug("mpeg-ts video refused", "error", err.Error())
	}
	return nil
}

func (t *tsPipe) write(payload []byte) {
	select {
	case <-t.done:
		return // the reader gave up; packets are still counted upstream
	default:
	}
	_, _ = t.pw.Write(payload)
}

func (t *tsPipe) resync() { t.gap.Store(true) }

func (t *tsPipe) close() {
	t.once.Do(func() {
		t.pw.Close()
		<-t.done
	})
}
