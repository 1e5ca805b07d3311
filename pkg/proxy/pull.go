package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mediakit/mediakit/internal/backoff"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/source"
)

// Source is a stream to pull (pkg/source's Source).
type Source interface {
	Run(ctx context.Context, sink flv.FrameSink) error
	BytesRead() int64
	String() string
}

// OpenSource opens the source of a URL with the proxy's timeout.
type OpenSource func(url string, timeout time.Duration) (Source, error)

// DefaultOpenSource opens URLs with pkg/source.
func DefaultOpenSource(url string, timeout time.Duration) (Source, error) {
	return source.Open(url, source.Options{ReadTimeout: timeout, StartTimeout: timeout})
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
	failures := 0
	reported := false
	report := func(err error) {
		if !reported {
			reported = true
			p.first <- err
		}
	}
	for attempt := 0; ; attempt++ {
		url := p.spec.url(attempt)
		p.track.update(func(st *Status) {
			st.URL = redact(url)
			if st.State != StatePlaying {
				st.State, st.Text = StateConnecting, "connecting"
			}
		})
		played, err := p.attempt(ctx, url, func() { report(nil) })
		if ctx.Err() != nil {
			p.track.stopped(StateFailed, "play shutdown: proxy deleted", "")
			report(fmt.Errorf("proxy deleted"))
			return
		}
		if errors.Is(err, errStreamClosed) {
			p.track.stopped(StateFailed, "play shutdown: stream closed", "")
			p.log.Info("pull proxy removed: its stream was closed", "stream", p.key.String())
			report(err)
			p.m.goRemove(p)
			return
		}
		text := "play failed: "
		if played {
			failures = 0
			text = "play shutdown: "
			p.track.update(func(st *Status) { st.Restarts++ })
		}
		if err == nil {
			err = errors.New("source ended")
		}
		failures++
		p.track.update(func(st *Status) { st.Failures = failures })
		msg := err.Error()
		if p.spec.RetryCount >= 0 && failures > p.spec.RetryCount {
			p.track.stopped(StateFailed, text+msg, msg)
			p.log.Warn("pull proxy gave up", "stream", p.key.String(), "url", redact(url), "failures", failures, "error", msg)
			report(err)
			if p.spec.OnDemand {
				p.m.goRemove(p)
			}
			return
		}
		if !played && !reported && failures == 1 {
			// addStreamProxy answers after the first attempt, as
			// ZLMediaKit does; the proxy goes on retrying unless the
			// caller removes it.
			report(err)
		}
		delay := p.m.backoff.Delay(failures - 1)
		p.track.stopped(StateRetrying, text+msg, msg)
		p.log.Warn("pull proxy retrying", "stream", p.key.String(), "url", redact(url), "in", delay.Round(time.Millisecond), "error", msg)
		if !backoff.Sleep(ctx, delay) {
			p.track.stopped(StateFailed, "play shutdown: proxy deleted", "")
			return
		}
	}
}

// attempt pulls url once; played tells whether the stream went live.
func (p *pull) attempt(ctx context.Context, url string, live func()) (played bool, err error) {
	src, err := p.m.open(url, p.spec.Timeout)
	if err != nil {
		return false, err
	}
	runCtx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	info := engine.SessionInfo{
		ID:        "pull-" + p.key.String(),
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
		dropAud: p.spec.DropAudio,
		addMute: p.spec.AddMuteAudio,
		abort:   abort,
	}
	err = src.Run(runCtx, sink)
	sink.close()
	if cause := context.Cause(runCtx); ctx.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause // the stream was taken away
	}
	return played, err
}
