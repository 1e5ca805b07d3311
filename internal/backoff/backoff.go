// Package backoff computes retry delays: exponential, capped, with
// jitter, so that tasks that failed together (every proxy of an origin
// that restarted) do not retry in lockstep.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is a retry schedule. Zero fields select the defaults.
type Policy struct {
	// Min is the first delay (default 1s); each failure doubles it up to
	// Max (default 30s).
	Min, Max time.Duration
	// Jitter is the fraction of the delay drawn at random, in [0, 1]
	// (default 0.2): a delay d becomes d*(1-Jitter/2) + rand(d*Jitter).
	Jitter float64
}

// Default is the schedule of proxies, pushers and FFmpeg sources.
var Default = Policy{Min: time.Second, Max: 30 * time.Second, Jitter: 0.2}

func (p Policy) withDefaults() Policy {
	if p.Min <= 0 {
		p.Min = time.Second
	}
	if p.Max < p.Min {
		p.Max = max(30*time.Second, p.Min)
	}
	if p.Jitter <= 0 || p.Jitter > 1 {
		p.Jitter = 0.2
	}
	return p
}

// Delay is the wait before retry number attempt (0 for the first
// retry).
func (p Policy) Delay(attempt int) time.Duration {
	p = p.withDefaults()
	d := p.Min
	for i := 0; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	spread := time.Duration(float64(d) * p.Jitter)
	if spread <= 0 {
		return d
	}
	return d - spread/2 + rand.N(spread)
}

// Sleep waits d or until ctx ends; it reports whether the full delay
// passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
