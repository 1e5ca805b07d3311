package rtmp

import (
	"context"
	"io"
	"testing"
	"time"
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

// TestMergedReader: after a short read the next waits for the window;
// after a full one it does not; a cancelled connection does not wait.
func TestMergedReader(t *testing.T) {
	const window = 30 * time.Millisecond
	short := &stampedReader{n: 10}
	m := newMergedReader(context.Background(), short, window)
	buf := make([]byte, 100)
	for {
		if _, err := m.Read(buf); err != nil {
			break
		}
	}
	for i := 1; i < len(short.calls); i++ {
		// A lower bound only: the wait is a timer, so it cannot be
		// shorter however slow the machine; never an upper bound.
		if gap := short.calls[i].Sub(short.calls[i-1]); gap < window {
			t.Errorf("read %d came %v after a short read, want at least %v", i, gap, window)
		}
	}

	full := &stampedReader{n: 100}
	m = newMergedReader(context.Background(), full, time.Hour)
	for {
		if _, err := m.Read(buf); err != nil {
			break
		}
	}
	if len(full.calls) != 7 {
		t.Errorf("%d reads of full buffers, want 7 without waiting", len(full.calls))
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gone := &stampedReader{n: 10}
	m = newMergedReader(ctx, gone, time.Hour)
	for {
		if _, err := m.Read(buf); err != nil {
			break
		}
	}
	if len(gone.calls) != 7 {
		t.Errorf("%d reads on a closed connection, want 7 without waiting an hour", len(gone.calls))
	}
}
