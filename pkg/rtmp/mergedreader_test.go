package rtmp

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/pace"
	"github.com/mediakit/mediakit/pkg/engine"
)

// stampedReader records when each Read was called and returns n bytes.
type stampedReader struct {
	n     int
	calls []time.Time
}

func (s *stampedReader) Read(p []byte) (int, error) {
	s.calls = append(s.calls, time.Now())
	if len(s.calls) > 6 {
		return 0, io.EOF
	}
	return min(s.n, len(p)), nil
}

// countingFlusher counts a merged reader's flushes.
type countingFlusher struct{ now, later int }

func (f *countingFlusher) Flush()      { f.now++ }
func (f *countingFlusher) FlushLater() { f.later++ }

// TestMergedReader: after a short read the next waits for the next tick
// of the window's clock, and flushes the publisher's batch before it;
// after a full one it reads on, asking only for a flush by the next tick;
// a cancelled connection does not wait.
func TestMergedReader(t *testing.T) {
	const window = 30 * time.Millisecond
	short := &stampedReader{n: 10}
	var clock pace.Clock
	flush := &countingFlusher{}
	m := newMergedReader(context.Background(), short, window, &clock, flush)
	buf := make([]byte, 100)
	for {
		if _, err := m.Read(buf); err != nil {
			break
		}
	}
	for i := 1; i < len(short.calls); i++ {
		// A lower bound only: the wait is a timer, so it cannot end
		// sooner however slow the machine; never an upper bound.
		if tick := short.calls[i-1].Truncate(window).Add(window); short.calls[i].Before(tick) {
			t.Errorf("read %d came at %v after a short read at %v, before the next tick %v", i,
				short.calls[i], short.calls[i-1], tick)
		}
	}
	if want := len(short.calls) - 1; flush.now != want || flush.later != 1 {
		t.Errorf("%d flushes and %d later after %d short reads, want one before each wait (%d) and one before the first read",
			flush.now, flush.later, len(short.calls), want)
	}

	full := &stampedReader{n: 100}
	flush = &countingFlusher{}
	m = newMergedReader(context.Background(), full, time.Hour, &clock, flush)
	for {
		if _, err := m.Read(buf); err != nil {
			break
		}
	}
	if len(full.calls) != 7 {
		t.Errorf("%d reads of full buffers, want 7 without waiting", len(full.calls))
	}
	if flush.now != 0 || flush.later != 7 {
		t.Errorf("%d flushes and %d later between reads of full buffers, want none and one before each read: the batch goes on, but nothing may follow",
			flush.now, flush.later)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gone := &stampedReader{n: 10}
	m = newMergedReader(ctx, gone, time.Hour, &clock, &countingFlusher{})
	for {
		if _, err := m.Read(buf); err != nil {
			break
		}
	}
	if len(gone.calls) != 7 {
		t.Errorf("%d reads on a closed connection, want 7 without waiting an hour", len(gone.calls))
	}
}

// TestPublisherGivesBackItsReadPhase: a publisher with merged reads holds
// a place in the server's read clock while it publishes and gives it back
// when it goes, so that phases are filled by the publishers there are.
func TestPublisherGivesBackItsReadPhase(t *testing.T) {
	ts := startServer(t, engine.DefaultConfig(), func(s *Server) { s.MergeRead = 20 * time.Millisecond })
	joined := func(want int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for ts.srv.readClock.Joined() != want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := ts.srv.readClock.Joined(); n != want {
			t.Fatalf("%d publishers hold a read phase, want %d", n, want)
		}
	}
	a := startGoodPublisher(t, ts.url(t, "live", "a"))
	b := startGoodPublisher(t, ts.url(t, "live", "b"))
	joined(2)
	a.stop()
	joined(1)
	b.stop()
	joined(0)
}
