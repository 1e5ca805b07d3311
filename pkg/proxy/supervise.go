package proxy

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/mediakit/mediakit/internal/backoff"
	"github.com/mediakit/mediakit/pkg/engine"
)

// errDeleted is the first-attempt outcome of a task deleted before it
// answered.
var errDeleted = errors.New("proxy deleted")

// attemptFunc runs attempt n of a task until it ends; it calls live once
// the task plays (pushes), and reports whether it did.
type attemptFunc func(ctx context.Context, n int, live func()) (played bool, err error)

// supervisor is the retry loop shared by pull and push proxies: attempts,
// status, the first outcome for the add call, backoff between attempts.
type supervisor struct {
	m     *Manager
	track *tracker
	log   *slog.Logger // with the task's attributes
	verb  string       // "play" or "push": ZLMediaKit's status words
	retry int          // retry_count; -1 forever
	first chan<- error // buffered; receives the first outcome once
}

// run loops until ctx ends (nil), the attempt reports errStreamClosed,
// or retry_count failures in a row (that failure).
func (s *supervisor) run(ctx context.Context, try attemptFunc) error {
	reported := false
	report := func(err error) {
		if !reported {
			reported = true
			s.first <- err
		}
	}
	deleted := func() error {
		s.track.stopped(StateFailed, s.verb+" shutdown: proxy deleted", "")
		report(errDeleted)
		return nil
	}
	failures, waits := 0, 0
	for n := 0; ; n++ {
		s.track.update(func(st *Status) {
			if st.State != StatePlaying {
				st.State, st.Text = StateConnecting, "connecting"
			}
		})
		played, err := try(ctx, n, func() { report(nil) })
		if ctx.Err() != nil {
			return deleted()
		}
		if errors.Is(err, errStreamClosed) {
			s.track.stopped(StateFailed, s.verb+" shutdown: stream closed", "")
			report(err)
			return err
		}
		if !played && waiting(err) {
			// Not a failure of the task: its stream is someone else's, or
			// a pusher's stream is not published yet (a restored pusher
			// whose camera takes its time). Wait without giving up.
			report(err)
			delay := s.m.backoff.Delay(waits)
			waits++
			s.track.stopped(StateRetrying, s.verb+" waiting: "+err.Error(), err.Error())
			s.log.Debug("proxy waiting", "in", delay.Round(time.Millisecond), "reason", err.Error())
			if !backoff.Sleep(ctx, delay) {
				return deleted()
			}
			continue
		}
		waits = 0
		text := s.verb + " failed: "
		if played {
			failures = 0
			text = s.verb + " shutdown: "
			s.track.update(func(st *Status) { st.Restarts++ })
		}
		if err == nil {
			err = errors.New("the stream ended")
		}
		failures++
		s.track.update(func(st *Status) { st.Failures = failures })
		msg := err.Error()
		if s.retry >= 0 && failures > s.retry {
			s.track.stopped(StateFailed, text+msg, msg)
			s.log.Warn("proxy gave up", "failures", failures, "error", msg)
			report(err)
			return err
		}
		// The add call answers after the first attempt, as ZLMediaKit
		// does; the task goes on retrying unless the caller removes it.
		report(err)
		delay := s.m.backoff.Delay(failures - 1)
		s.track.stopped(StateRetrying, text+msg, msg)
		s.log.Warn("proxy retrying", "in", delay.Round(time.Millisecond), "error", msg)
		if !backoff.Sleep(ctx, delay) {
			return deleted()
		}
	}
}

// waiting tells the errors that are not the task's failures: the stream
// is published by someone else, or the stream to push is not published.
func waiting(err error) bool {
	return errors.Is(err, engine.ErrAlreadyPublishing) || errors.Is(err, ErrNoSource)
}
