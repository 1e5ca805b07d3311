package engine

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// TestWatch: a watching reader counts as a player (listed, limited,
// keeping the no-reader event away), gets no frames, holds none, and
// reports its session when it leaves.
func TestWatch(t *testing.T) {
	cfg := testConfig()
	cfg.NoneReaderDelay = 0 // no unwatched events among those asserted
	cfg.MaxReadersPerStream = 2
	e := newTestEngine(t, cfg)
	obs := newRecordingObserver()
	e.SetObserver(obs)
	ctx := context.Background()
	if _, err := e.Watch(ctx, testKey, SessionInfo{ID: "hls-1", Protocol: "hls"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("watch of a missing stream: %v", err)
	}
	p := publish(t, e, testKey)
	obs.next(t, "ready")
	w, err := e.Watch(ctx, testKey, SessionInfo{ID: "hls-1", Protocol: "hls"})
	if err != nil {
		t.Fatal(err)
	}
	fs := &frameSource{gop: 25}
	writeN(t, p, fs, 30)
	if _, err := w.Next(nil); !errors.Is(err, ErrPassiveReader) {
		t.Fatalf("Next of a watching reader: %v", err)
	}
	if w.last != nil || w.start != nil {
		t.Fatal("a watching reader holds frames")
	}
	info, _, err := e.Stream(ctx, testKey)
	if err != nil || len(info.Readers) != 1 || info.Readers[0].Protocol != "hls" {
		t.Fatalf("readers %+v, %v", info.Readers, err)
	}
	// The limit counts it.
	play(t, e, testKey)
	if _, err := e.Watch(ctx, testKey, SessionInfo{ID: "hls-2", Protocol: "hls"}); !errors.Is(err, ErrTooManyReaders) {
		t.Fatalf("watch beyond max_readers: %v", err)
	}
	w.AddBytesOut(1234)
	w.Close()
	if rep := obs.next(t, "player-ended"); rep.info.BytesOut != 1234 {
		t.Fatalf("session report of %d bytes, want 1234", rep.info.BytesOut)
	}
	if w.StreamEnded() {
		t.Fatal("StreamEnded while live")
	}
	w2, err := e.Watch(ctx, testKey, SessionInfo{ID: "hls-3", Protocol: "hls"})
	if err != nil && !errors.Is(err, ErrTooManyReaders) {
		t.Fatal(err)
	}
	if w2 != nil {
		w2.Close()
	}
	p.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !w.StreamEnded() {
		if time.Now().After(deadline) {
			t.Fatal("StreamEnded never true after the stream ended")
		}
		runtime.Gosched()
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWatchKeepsStreamWatched: while a viewer watches, the no-reader
// timer does not run; once it leaves, the event comes.
func TestWatchKeepsStreamWatched(t *testing.T) {
	cfg := testConfig()
	cfg.NoneReaderDelay = time.Hour
	e := newTestEngine(t, cfg)
	obs := newRecordingObserver()
	e.SetObserver(obs)
	ctx := context.Background()
	p := publish(t, e, testKey)
	defer p.Close()
	obs.next(t, "ready")
	w, err := e.Watch(ctx, testKey, SessionInfo{ID: "hls-1", Protocol: "hls"})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := e.lookup(testKey, false)
	var armed bool
	if err := s.do(ctx, func() { armed = s.idleTimer != nil }); err != nil {
		t.Fatal(err)
	}
	if armed {
		t.Fatal("the no-reader timer runs while an HLS viewer watches")
	}
	cfg.NoneReaderDelay = 30 * time.Millisecond
	e.SetConfig(cfg)
	w.Close()
	obs.next(t, "player-ended")
	obs.next(t, "noreaders")
}
