package relay

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"

	"github.com/mediakit/mediakit/internal/backoff"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/source"
)

// publisher is what the puller needs of the engine.
type publisher interface {
	Publish(ctx context.Context, key engine.Key, info engine.SessionInfo) (*engine.Publisher, error)
}

// puller pulls the source into the engine, again after a failure (with
// backoff) or, with loop, after its end. Each pull is a new publisher:
// the engine keeps the stream (and its sinks) through the grace period
// between two and maps the new pull's timestamps onto the stream's
// timeline.
type puller struct {
	src     source.Source
	e       publisher
	key     engine.Key
	retries int // -1: without end
	policy  backoff.Policy
	loop    bool
	clock   *mediaClock
	log     *slog.Logger

	// For the status line and the summary.
	pulls     atomic.Int64 // pulls started
	failures  atomic.Int64 // consecutive failed pulls
	retrying  atomic.Bool  // waiting before the next pull
	restarted atomic.Int64 // pulls after the first (retries and loops)

	lastErr error // of the last failed pull; run's goroutine only
}

// lastFailure is the failure of the last pull, if it failed; read it
// after run returned.
func (p *puller) lastFailure() error {
	if p.lastErr == nil {
		return nil
	}
	return &failure{name: p.src.String(), err: p.lastErr, attempts: int(p.failures.Load())}
}

// run pulls until the source ends, fails for good, the duration is
// reached or ctx ends. stopped is "end", "duration", "interrupted" or
// "failed"; err, for "failed", names the source and the cause, with the
// number of attempts.
func (p *puller) run(ctx context.Context) (stopped string, err error) {
	for {
		if p.pulls.Add(1) > 1 {
			p.restarted.Add(1)
		}
		pub, perr := p.e.Publish(ctx, p.key, engine.SessionInfo{ID: "relay", Protocol: "relay", Remote: p.src.String()})
		if perr != nil {
			if ctx.Err() != nil {
				return "interrupted", nil
			}
			return "failed", perr
		}
		before := p.clock.frames()
		runErr := p.src.Run(ctx, p.clock.sink(pub))
		pub.Close() // the stream waits in its grace period
		p.clock.endPull()
		delivered := p.clock.frames() > before

		switch {
		case errors.Is(runErr, errDurationReached):
			return "duration", nil
		case ctx.Err() != nil:
			return "interrupted", nil
		case runErr == nil && p.loop && delivered:
			p.lastErr = nil
			p.failures.Store(0)
			p.log.Debug("relay: source ended, starting it again", "source", p.src.String())
			continue
		case runErr == nil:
			p.lastErr = nil
			return "end", nil
		}
		p.lastErr = runErr
		// A pull that delivered media worked: count failures anew.
		if delivered {
			p.failures.Store(0)
		}
		n := p.failures.Add(1)
		if p.retries >= 0 && n > int64(p.retries) {
			return "failed", &failure{name: p.src.String(), err: runErr, attempts: int(n)}
		}
		delay := p.policy.Delay(int(n - 1))
		p.log.Info("relay: source failed, pulling again", "source", p.src.String(), "attempt", n,
			"in", delay.String(), "error", runErr.Error())
		p.retrying.Store(true)
		slept := backoff.Sleep(ctx, delay)
		p.retrying.Store(false)
		if !slept {
			return "interrupted", nil
		}
	}
}
