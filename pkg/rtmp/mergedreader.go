package rtmp

import (
	"context"
	"io"
	"time"
)

// mergedReader paces a publisher's reads, as SRS's merged read does: after
// a read that emptied the socket (it returned less than asked), the next
// one waits until window has passed since it, so the messages that arrive
// meanwhile come in one system call and one wake-up instead of one each.
// A publisher sends a message per frame, 50 to 70 a second; with a 50 ms
// window the server reads about 20 times a second per publisher instead.
// The delay adds at most window to the latency; players are woken once
// per merge-write window anyway.
type mergedReader struct {
	r      io.Reader
	window time.Duration
	ctx    context.Context // the connection's: Close ends a wait
	due    time.Time       // the next read is not before this; zero: at once
	timer  *time.Timer
}

func newMergedReader(ctx context.Context, r io.Reader, window time.Duration) *mergedReader {
	return &mergedReader{r: r, window: window, ctx: ctx}
}

func (m *mergedReader) Read(p []byte) (int, error) {
	if wait := time.Until(m.due); !m.due.IsZero() && wait > 0 {
		if m.timer == nil {
			m.timer = time.NewTimer(wait)
		} else {
			m.timer.Reset(wait)
		}
		select {
		case <-m.timer.C:
		case <-m.ctx.Done():
			m.timer.Stop()
		}
	}
	n, err := m.r.Read(p)
	if n < len(p) {
		m.due = time.Now().Add(m.window)
	} else {
		m.due = time.Time{} // more is waiting: read on
	}
	return n, err
}
