package engine

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestKeyframeRequests: a reader's request reaches the publisher that
// registered for them, at most every 500 ms, and nothing after the
// publisher closed.
func TestKeyframeRequests(t *testing.T) {
	e := newTestEngine(t, testConfig())
	p := publish(t, e, testKey)
	fs := &frameSource{gop: 25}
	writeN(t, p, fs, 5)
	r := play(t, e, testKey)
	defer r.Close()
	now := time.Now()
	r.s.keyframes.now = func() time.Time { return now }
	if r.RequestKeyframe() {
		t.Fatal("a request passed on with no publisher registered")
	}
	var asked atomic.Int32
	p.OnKeyframeRequest(func() { asked.Add(1) })
	if !r.RequestKeyframe() || asked.Load() != 1 {
		t.Fatalf("first request: asked %d times", asked.Load())
	}
	if r.RequestKeyframe() || asked.Load() != 1 {
		t.Fatalf("a second request within 500 ms passed on: asked %d times", asked.Load())
	}
	now = now.Add(keyframeMinInterval)
	if !r.RequestKeyframe() || asked.Load() != 2 {
		t.Fatalf("a request after 500 ms: asked %d times", asked.Load())
	}
	p.Close()
	now = now.Add(keyframeMinInterval)
	if r.RequestKeyframe() || asked.Load() != 2 {
		t.Fatalf("a request after the publisher closed passed on: asked %d times", asked.Load())
	}
}
