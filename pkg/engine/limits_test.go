package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

func TestMaxStreams(t *testing.T) {
	cfg := testConfig()
	cfg.MaxStreams = 3
	e := newTestEngine(t, cfg)
	// Many publishers of different streams at once: exactly MaxStreams
	// win, whatever the interleaving of their owners.
	var mu sync.Mutex
	var won []*Publisher
	refused := 0
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := e.Publish(context.Background(), NewKey("", "live", fmt.Sprint("s", i)), SessionInfo{ID: fmt.Sprint(i)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, p)
			case errors.Is(err, ErrTooManyStreams):
				refused++
			default:
				t.Errorf("publish %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if len(won) != 3 || refused != 17 {
		t.Fatalf("%d published, %d refused; want 3 and 17", len(won), refused)
	}
	if got := e.Stats().StreamsRefused.Load(); got != 17 {
		t.Errorf("StreamsRefused = %d", got)
	}
	// A publisher returning to a stream in its grace period is not a new
	// stream; a stream that ended frees its slot.
	won[0].Close()
	if _, err := e.Publish(context.Background(), won[0].Key(), SessionInfo{ID: "again"}); err != nil {
		t.Errorf("the same stream again: %v", err)
	}
	if _, err := e.Publish(context.Background(), NewKey("", "live", "new"), SessionInfo{ID: "new"}); !errors.Is(err, ErrTooManyStreams) {
		t.Errorf("a fourth stream: %v, want ErrTooManyStreams", err)
	}
	if _, err := e.CloseStream(context.Background(), won[1].Key(), "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Publish(context.Background(), NewKey("", "live", "new"), SessionInfo{ID: "new"}); err != nil {
		t.Errorf("after a stream ended: %v", err)
	}
}

func TestMaxReadersPerStream(t *testing.T) {
	cfg := testConfig()
	cfg.MaxReadersPerStream = 2
	e := newTestEngine(t, cfg)
	p := publish(t, e, testKey)
	defer p.Close()
	r1 := play(t, e, testKey)
	r2 := play(t, e, testKey)
	if _, err := e.Play(context.Background(), testKey, SessionInfo{ID: "third"}); !errors.Is(err, ErrTooManyReaders) {
		t.Fatalf("third player: %v, want ErrTooManyReaders", err)
	}
	// Other streams have their own count; sinks do not count.
	other := NewKey("", "live", "other")
	po := publish(t, e, other)
	defer po.Close()
	ro := play(t, e, other)
	defer ro.Close()
	if err := e.AttachSink(context.Background(), testKey, "rec", func() Sink { return drainSink{} }); err != nil {
		t.Fatal(err)
	}
	r1.Close()
	// The owner learns of the close asynchronously: wait for the slot.
	var r3 *Reader
	var err error
	for i := 0; i < 200; i++ {
		if r3, err = e.Play(context.Background(), testKey, SessionInfo{ID: "after"}); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("a player after one left: %v", err)
	}
	r3.Close()
	r2.Close()
	if got := e.Stats().ReadersRefused.Load(); got < 1 {
		t.Errorf("ReadersRefused = %d", got)
	}
}

type drainSink struct{}

func (drainSink) Run(r *Reader) {
	for {
		if _, err := r.Next(nil); err != nil {
			return
		}
	}
}
