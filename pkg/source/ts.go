package source

import (
	"fmt"
	"io"
	"time"

	"github.com/mediakit/mediakit/pkg/format/es"
	"github.com/mediakit/mediakit/pkg/format/mpegts"
	"github.com/mediakit/mediakit/pkg/media"
)

// readTS demuxes MPEG-TS from r into fd's elementary-stream ingest until
// the end of r, with the shared MPEG-TS demuxer (as rtpserver does).
// H.264, H.265 and AAC become tracks; streams of other codecs are dropped
// with one warning. It returns nil at the end of r, and r's own error
// unwrapped so that callers can name what failed (an HLS segment); demux
// failures are returned as errors without the input's name, which the
// caller adds.
func readTS(fd *feed, r io.Reader) error {
	d, err := mpegts.NewDemuxer(r)
	if err != nil {
		return err
	}
	var opts es.Options
	for _, s := range d.Streams() {
		switch {
		case s.Err != nil:
			fd.warnOnce("ts-codec-"+s.Name, "source: MPEG-TS stream of a codec mediakit cannot carry dropped",
				"codec", s.Name, "pid", s.PID, "error", s.Err.Error())
		case s.Codec.Kind() == media.KindVideo:
			opts.ExpectVideo = true
		case s.Codec == media.CodecAAC, s.Codec == media.CodecMP3, s.Codec == media.CodecOpus:
			opts.ExpectAudio = true
		}
	}
	if !opts.ExpectVideo && !opts.ExpectAudio {
		return fmt.Errorf("no H.264, H.265 or AAC stream in the MPEG-TS program: %w", es.ErrUnsupported)
	}
	err = d.Run(fd.ctx, tsHandler{fd: fd, in: fd.es(opts)})
	fd.tsLosses.Add(d.Losses())
	return err
}

// tsHandler hands what the demuxer reads to the ingest, on the feed's
// timeline. An access unit the ingest refuses is counted and logged by
// the ingest and the stream goes on, as a player's would; the sink
// failing (fd.out.failed) ends it.
type tsHandler struct {
	fd *feed
	in *es.Ingest
}

func (h tsHandler) Video(c media.Codec, pts, dts time.Duration, annexB []byte) error {
	out, err := h.fd.stamp(media.KindVideo, dts)
	if err != nil {
		return err
	}
	if err := h.in.WriteVideo(c, h.fd.clk.shift(pts), out, annexB); err != nil {
		return h.fd.out.failed()
	}
	return nil
}

func (h tsHandler) AAC(pts time.Duration, asc, au []byte) error {
	out, err := h.fd.stamp(media.KindAudio, pts)
	if err != nil {
		return err
	}
	if err := h.in.WriteAACRaw(out, asc, au); err != nil {
		return h.fd.out.failed()
	}
	return nil
}

// Opus implements mpegts.Handler: one Opus packet.
func (h tsHandler) Opus(pts time.Duration, packet []byte) error {
	out, err := h.fd.stamp(media.KindAudio, pts)
	if err != nil {
		return err
	}
	if err := h.in.WriteOpus(out, packet); err != nil {
		return h.fd.out.failed()
	}
	return nil
}

// MP3 implements mpegts.MP3Handler: one MP3 frame.
func (h tsHandler) MP3(pts time.Duration, frame []byte) error {
	out, err := h.fd.stamp(media.KindAudio, pts)
	if err != nil {
		return err
	}
	if err := h.in.WriteMP3(out, frame); err != nil {
		return h.fd.out.failed()
	}
	return nil
}

// tsTicks converts 90 kHz ticks to a duration, as the demuxer does.
func tsTicks(v int64) time.Duration { return mpegts.Ticks(v) }
