package source

import (
	"context"
	"errors"
	"fmt"

	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/rtsp"
)

// rtspSource plays an rtsp:// or rtsps:// URL through mediakit's RTSP
// client (gortsplib): the first H.264/H.265 video and AAC/Opus/G.711
// audio, over Options.RTSPTransport.
type rtspSource struct {
	client  *rtsp.Client
	display string
	opts    Options
}

func openRTSP(rawURL string, opts Options) (Source, error) {
	tr, err := rtsp.ParseTransport(opts.RTSPTransport)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	c, err := rtsp.NewClient(rawURL, rtsp.ClientOptions{
		Transport:    tr,
		ReadTimeout:  opts.ReadTimeout,
		StartTimeout: opts.StartTimeout,
		WriteTimeout: opts.WriteTimeout,
		Log:          opts.Log,
	})
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	return &rtspSource{client: c, display: c.String(), opts: opts}, nil
}

func (s *rtspSource) String() string   { return s.display }
func (s *rtspSource) Size() int64      { return -1 }
func (s *rtspSource) BytesRead() int64 { return s.client.BytesRead() }

func (s *rtspSource) Run(ctx context.Context, sink flv.FrameSink) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The handshake is bounded by the client's own timeouts (connecting
	// by ReadTimeout, each response by StartTimeout: a server may hold a
	// DESCRIBE until the stream is published). Once PLAY is answered,
	// RTCP and keep-alives keep the session busy, so only media counts:
	// the watchdog starts then. PlayNotify calls back and writes frames
	// from this goroutine.
	ks := &kickSink{sink: sink}
	err := s.client.PlayNotify(rctx, ks, func() {
		ks.wd = startWatchdog(s.opts.ReadTimeout, func() { cancel(errStalled) })
	})
	stalled := ks.wd != nil && ks.wd.disarm()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if stalled || errors.Is(err, rtsp.ErrNoPackets) {
		// (the client's own silence check may fire first: same cause)
		return fmt.Errorf("source: %s: %w for %v", s.display, ErrNoMedia, s.opts.ReadTimeout)
	}
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	return nil
}

// kickSink counts every frame as media for the watchdog.
type kickSink struct {
	sink flv.FrameSink
	wd   *watchdog
}

func (k *kickSink) SetTracks(tracks []*media.Track) error { return k.sink.SetTracks(tracks) }
func (k *kickSink) SetMetadata(md media.Metadata)         { k.sink.SetMetadata(md) }

func (k *kickSink) WriteFrame(f *media.Frame) error {
	if k.wd != nil {
		k.wd.kick()
	}
	return k.sink.WriteFrame(f)
}
