package rtpserver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/format/es"
	"github.com/mediakit/mediakit/pkg/format/mpegts"
	"github.com/mediakit/mediakit/pkg/media"
)

// tsPipe demuxes MPEG-TS carried in RTP payloads with the shared MPEG-TS
// demuxer, which pulls from an io.Reader: payloads go through a pipe to a
// goroutine that owns the ingest while it runs. The demuxer bounds what
// is read looking for the program map table (mpegts.MaxProbe) and
// unwraps the 33-bit clock.
type tsPipe struct {
	in    *es.Ingest
	log   *slog.Logger
	codec func(string)
	pw    *io.PipeWriter
	done  chan struct{}
	gap   atomic.Bool // packets were lost: video waits for a keyframe
	once  sync.Once
	// audio is the codec of the audio stream carried, the first in the
	// program map (the ingest has one audio track); set by run before
	// the demuxer calls back, on the same goroutine.
	audio media.Codec
}

func newTSPipe(in *es.Ingest, log *slog.Logger, codec func(string)) *tsPipe {
	pr, pw := io.Pipe()
	t := &tsPipe{in: in, log: log, codec: codec, pw: pw, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		err := t.run(pr)
		// Unblock a writer stuck on the pipe after the reader gave up.
		pr.CloseWithError(errTSEnded)
		if err != nil && !errors.Is(err, io.ErrClosedPipe) {
			log.Warn("rtp mpeg-ts demux ended", "error", err.Error())
		}
	}()
	return t
}

var errTSEnded = errors.New("mpeg-ts reader ended")

// run demuxes r until it ends (nil) or fails.
func (t *tsPipe) run(r io.Reader) error {
	d, err := mpegts.NewDemuxer(r)
	if err != nil {
		return err
	}
	haveAudio := false
	for _, s := range d.Streams() {
		if s.Err != nil {
			t.log.Warn("rtp mpeg-ts stream of an unsupported codec dropped", "codec", s.Name, "pid", s.PID,
				"error", s.Err.Error())
			continue
		}
		if s.Codec.Kind() == media.KindAudio {
			if haveAudio {
				t.log.Warn("rtp mpeg-ts audio stream dropped: another audio stream is carried", "codec", s.Name,
					"pid", s.PID, "carried", t.audio.String())
				continue
			}
			haveAudio, t.audio = true, s.Codec
		}
		t.codec(s.Name)
	}
	return d.Run(context.Background(), t)
}

// Video implements mpegts.Handler. A refused access unit is counted by
// the ingest; the stream goes on.
func (t *tsPipe) Video(c media.Codec, pts, dts time.Duration, annexB []byte) error {
	if t.gap.Swap(false) {
		t.in.ResyncVideo()
	}
	if err := t.in.WriteVideo(c, pts, dts, annexB); err != nil {
		t.log.Debug("mpeg-ts video refused", "error", err.Error())
	}
	return nil
}

// AAC implements mpegts.Handler.
func (t *tsPipe) AAC(pts time.Duration, asc, au []byte) error {
	if t.audio != media.CodecAAC {
		return nil
	}
	if err := t.in.WriteAACRaw(pts, asc, au); err != nil {
		t.log.Debug("mpeg-ts aac refused", "error", err.Error())
	}
	return nil
}

// Opus implements mpegts.Handler.
func (t *tsPipe) Opus(pts time.Duration, packet []byte) error {
	if t.audio != media.CodecOpus {
		return nil
	}
	if err := t.in.WriteOpus(pts, packet); err != nil {
		t.log.Debug("mpeg-ts opus refused", "error", err.Error())
	}
	return nil
}

// MP3 implements mpegts.MP3Handler.
func (t *tsPipe) MP3(pts time.Duration, frame []byte) error {
	if t.audio != media.CodecMP3 {
		return nil
	}
	if err := t.in.WriteMP3(pts, frame); err != nil {
		t.log.Debug("mpeg-ts mp3 refused", "error", err.Error())
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
