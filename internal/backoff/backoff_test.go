package backoff

import (
	"context"
	"testing"
	"time"
)

func TestDelayDoublesWithinJitterAndCaps(t *testing.T) {
	p := Policy{Min: 100 * time.Millisecond, Max: time.Second, Jitter: 0.2}
	for attempt, base := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		base *= time.Millisecond
		lo, hi := base-base/10, base+base/10
		for range 50 {
			if d := p.Delay(attempt); d < lo || d > hi {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", attempt, d, lo, hi)
			}
		}
	}
	if d := p.Delay(1 << 20); d > time.Second+time.Second/10 {
		t.Fatalf("Delay of a huge attempt = %v, want capped", d)
	}
}

func TestDelaySpreads(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[Default.Delay(3)] = true
	}
	if len(seen) < 5 {
		t.Fatalf("20 delays gave %d distinct values; jitter missing", len(seen))
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep with a cancelled context reported the full delay")
	}
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("Sleep(1ms) did not report the full delay")
	}
}
