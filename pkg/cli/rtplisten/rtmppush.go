package rtplisten

import (
	"context"
	"log/slog"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/rtmp"
)

// rtmpPush publishes the stream to an RTMP server. It connects at the
// first frame, so a camera that takes its time to start does not leave
// an idle publisher for the server to drop.
type rtmpPush struct {
	ctx context.Context // bounds connecting; cancelled when the run ends
	url string
	log *slog.Logger

	c       *rtmp.Client
	gaveUp  bool // the run ended while connecting
	skipped codecWarnings
	tally
}

func (p *rtmpPush) Run(r *engine.Reader) {
	defer p.close()
	buf := make([]*media.Frame, 0, 64)
	for {
		frames, err := r.Next(buf[:0])
		for _, f := range frames {
			if werr := p.write(r, f); werr != nil {
				p.res.Err = werr
				p.log.Error("rtmp push failed", "error", werr.Error())
				return
			}
		}
		clear(frames)
		if err != nil || p.gaveUp {
			return
		}
	}
}

func (p *rtmpPush) write(r *engine.Reader, f *media.Frame) error {
	if p.gaveUp {
		return nil
	}
	if !flv.SupportsCodec(f.Track.Codec) {
		p.skipped.skip(p.log, "RTMP", f.Track.Codec)
		return nil
	}
	if p.c == nil {
		c, err := rtmp.DialPublish(p.ctx, p.url, rtmp.ClientOptions{})
		if err != nil {
			if p.ctx.Err() != nil {
				p.gaveUp = true // interrupted before the server answered
				return nil
			}
			return err
		}
		p.c = c
		var tracks []*media.Track
		for _, t := range r.Tracks() {
			if flv.SupportsCodec(t.Codec) {
				tracks = append(tracks, t)
			}
		}
		if err := c.WriteTracks(tracks, r.Metadata()); err != nil {
			return err
		}
		p.log.Info("rtmp push started")
	}
	if err := p.c.WriteFrame(f); err != nil {
		return err
	}
	p.tally.add(f)
	return nil
}

// close ends the session; the client waits briefly for the server to
// take what was sent.
func (p *rtmpPush) close() {
	if p.c == nil {
		return
	}
	_ = p.c.Close()
	p.res.Bytes = p.c.BytesWritten()
}
