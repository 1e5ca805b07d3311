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
	cfg := testConfig()
	cfg.MergeWrite = time.Hour
	e := newTestEngine(t, cfg)
	p := publish(t, e, testKey)
	pr := newPushedReader(t, play(t, e, testKey))
	base := pr.wakes.Load()
	check := func(step string, wakes int64, frames int) {
		t.Helper()
		got, _ := pr.result()
		if n := pr.wakes.Load() - base; n != wakes || len(got) != frames {
			t.Fatalf("%s: %d wake-ups and %d frames read, want %d and %d", step, n, len(got), wakes, frames)
		}
	}
	p.DeferWakes(time.Hour)
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
	cfg := testConfig()
	cfg.MergeWrite = time.Hour
	e := newTestEngine(t, cfg)
	p := publish(t, e, testKey)
	pr := newPushedReader(t, play(t, e, testKey))
	base := pr.wakes.Load()
	p.DeferWakes(time.Millisecond)
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
