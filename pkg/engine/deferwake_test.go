package engine

import (
	"errors"
	"io"
	"testing"
	"time"
)

// A publisher that defers its wake-ups wakes the readers at Flush, once
// per batch, and a batch paced at the merge-write window is woken at once
// even right after the last wake-up: the tick signal would wait for (an
// hour away here) never comes in the test.
func TestDeferredWakes(t *testing.T) {
	p, pr, base := deferringPublisher(t, time.Hour)
	check := func(step string, wakes int64, frames int) {
		t.Helper()
		got, _ := pr.result()
		if n := pr.wakes.Load() - base; n != wakes || len(got) != frames {
			t.Fatalf("%s: %d wake-ups and %d frames read, want %d and %d", step, n, len(got), wakes, frames)
		}
	}
	fs := &frameSource{gop: 25}
	writeN(t, p, fs, 3)
	check("before the first flush", 0, 0)
	p.Flush()
	check("first flush", 1, 6)
	writeN(t, p, fs, 2)
	p.Flush()
	check("a batch right after", 2, 10)
	p.Flush()
	check("a flush with nothing written", 2, 10)

	writeN(t, p, fs, 1)
	p.Close() // flushes
	frames, err := pr.wait(t, "the end of the stream")
	if !errors.Is(err, io.EOF) || len(frames) != 12 {
		t.Fatalf("after Close: %d frames and %v, want 12 and io.EOF", len(frames), err)
	}
}

// Batches that come more often than the merge-write window are not
// deferred: their frames wake the readers at most once per window, as
// single frames do.
func TestDeferredWakesOfFrequentBatches(t *testing.T) {
	p, pr, base := deferringPublisher(t, time.Millisecond)
	fs := &frameSource{gop: 25}
	for range 3 {
		writeN(t, p, fs, 1)
		p.Flush()
	}
	got, _ := pr.result()
	if n := pr.wakes.Load() - base; n != 1 || len(got) != 1 {
		t.Fatalf("three batches in a window: %d wake-ups and %d frames read, want 1 and 1 (the first frame; the rest at the window's tick)", n, len(got))
	}
}

// deferringPublisher publishes testKey on an engine whose merge-write
// window is an hour, with one pushed reader, and defers the publisher's
// wake-ups for batches every apart. base is the reader's wake-ups so far.
func deferringPublisher(t *testing.T, every time.Duration) (p *Publisher, pr *pushedReader, base int64) {
	t.Helper()
	cfg := testConfig()
	cfg.MergeWrite = time.Hour
	e := newTestEngine(t, cfg)
	p = publish(t, e, testKey)
	pr = newPushedReader(t, play(t, e, testKey))
	p.DeferWakes(every)
	return p, pr, pr.wakes.Load()
}

// FlushLater leaves the frames to the window's tick rather than waking
// the readers at once, and a tick that finds every frame woken already
// (a Flush came first) wakes nobody.
func TestFlushLater(t *testing.T) {
	p, pr, base := deferringPublisher(t, time.Hour)
	fs := &frameSource{gop: 25}
	writeN(t, p, fs, 1)
	p.FlushLater()
	if n := pr.wakes.Load() - base; n != 0 || !p.s.wakeArmed.Load() {
		t.Fatalf("FlushLater: %d wake-ups, tick armed %v; want none and the tick armed", n, p.s.wakeArmed.Load())
	}
	p.Flush()
	p.s.wakeAtTick() // the tick, after the Flush
	if n := pr.wakes.Load() - base; n != 1 {
		t.Fatalf("a Flush and then the tick: %d wake-ups, want 1", n)
	}
	writeN(t, p, fs, 1)
	p.s.wakeAtTick() // a tick with a frame nobody was woken for
	if got, _ := pr.result(); pr.wakes.Load()-base != 2 || len(got) != 4 {
		t.Fatalf("a tick after a new frame: %d wake-ups and %d frames, want 2 and 4", pr.wakes.Load()-base, len(got))
	}
}
