package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/rtsp"
	"github.com/mediakit/mediakit/pkg/source"
)

// Source is a stream to pull (pkg/source's Source).
type Source interface {
	Run(ctx context.Context, sink flv.FrameSink) error
	BytesRead() int64
	String() string
}

// OpenOptions are what a proxy opens its source with.
type OpenOptions struct {
	// Timeout bounds connecting and ends a source that sends no media for
	// this long (timeout_sec); 0 selects the source's default.
	Timeout time.Duration
	// RTPType is ZLMediaKit's rtp_type: how an rtsp:// source receives
	// RTP, 0 TCP, 1 UDP, 2 multicast. Other sources ignore it.
	RTPType int
}

// OpenSource opens the source of a URL with the proxy's options.
type OpenSource func(url string, opts OpenOptions) (Source, error)

// DefaultOpenSource opens URLs with pkg/source.
func DefaultOpenSource(url string, opts OpenOptions) (Source, error) {
	so := source.Options{ReadTimeout: opts.Timeout, StartTimeout: opts.Timeout}
	if scheme, _, ok := strings.Cut(url, "://"); ok && (strings.EqualFold(scheme, "rtsp") || strings.EqualFold(scheme, "rtsps")) {
		tr, err := rtsp.TransportFromRTPType(opts.RTPType)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", redact(url), err)
		}
		so.RTSPTransport = string(tr)
	}
	return source.Open(url, so)
}

// openOptions are the options the spec's source is opened with.
func (s PullSpec) openOptions() OpenOptions {
	return OpenOptions{Timeout: s.Timeout, RTPType: s.RTPType}
}

// pull is one pull proxy: its supervisor goroutine runs attempts until
// the proxy is deleted, its retries run out, or its stream is closed
// from outside.
type pull struct {
	spec   PullSpec
	key    engine.Key
	m      *Manager
	log    *slog.Logger
	track  *tracker
	cancel context.CancelFunc
	done   chan struct{}
	first  chan error // the first attempt's outcome, for addStreamProxy; buffered
}

func (p *pull) run(ctx context.Context) {
	defer close(p.done)
	sv := &supervisor{m: p.m, track: p.track, verb: "play", retry: p.spec.RetryCount, first: p.first,
		log: p.log.With("proxy", "pull", "stream", p.key.String())}
	err := sv.run(ctx, func(ctx context.Context, n int, live func()) (bool, error) {
		url := p.spec.url(n)
		p.track.update(func(st *Status) { st.URL = redact(url) })
		return p.attempt(ctx, url, live)
	})
	switch {
	case errors.Is(err, errStreamClosed):
		p.log.Info("pull proxy removed: its stream was closed", "stream", p.key.String())
		p.m.goRemove(p)
	case err != nil && p.spec.OnDemand:
		p.m.goRemove(p)
	}
}

// attempt pulls url once; played tells whether the stream went live.
func (p *pull) attempt(ctx context.Context, url string, live func()) (played bool, err error) {
	// A stream someone else publishes is waited out here, without
	// opening the source again and again.
	if info, isLive, err := p.m.engine.Stream(ctx, p.key); err == nil && isLive && info.Publisher != nil && info.Publisher.ID != p.sessionID() {
		return false, fmt.Errorf("%s: %w", p.key, engine.ErrAlreadyPublishing)
	}
	src, err := p.m.open(url, p.spec.openOptions())
	if err != nil {
		return false, err
	}
	runCtx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	info := engine.SessionInfo{
		ID:        p.sessionID(),
		Protocol:  "pull",
		Remote:    src.String(),
		OriginURL: redact(url),
	}
	sink := &publishSink{
		open: func() (Publisher, error) {
			pub, err := p.m.engine.PublishTrusted(runCtx, p.key, info, engine.PublishOptions{Values: p.spec.Options})
			if err != nil {
				return nil, fmt.Errorf("publish %s: %w", p.key, err)
			}
			return pub, nil
		},
		onLive: func() {
			played = true
			p.track.playing("playing", src.BytesRead)
			p.log.Info("pull proxy playing", "stream", p.key.String(), "url", redact(url))
			live()
		},
		dropAud:   p.spec.DropAudio,
		addMute:   p.spec.AddMuteAudio,
		abort:     abort,
		bytesRead: src.BytesRead,
	}
	err = src.Run(runCtx, sink)
	sink.close()
	if cause := context.Cause(runCtx); ctx.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause // the stream was taken away
	}
	return played, err
}

// sessionID names the proxy's publisher session.
func (p *pull) sessionID() string { return "pull-" + p.key.String() }
