package rtmp

import (
	"context"
	"io"
	"time"

	"github.com/mediakit/mediakit/internal/pace"
)

// mergedReader paces a publisher's reads, as SRS's merged read does: after
// a read that emptied the socket (it returned less than asked), the next
// one waits until window has passed since it, so the messages that arrive
// meanwhile come in one system call and one wake-up instead of one each.
// The wait ends at the next tick of a clock the server's publishers
// share (internal/pace), so their reads come together in a few groups,
// a timer per group rather than per publisher.
// A publisher sends a message per frame, 50 to 70 a second; with a 50 ms
// window the server reads about 20 times a second per publisher instead.
//
// Before it waits, every whole message of the reads so far has been
// handled (the buffer above asks for more only then), so it flushes the
// batch: the publisher wakes its players once per batch
// (engine.Publisher's DeferWakes). With the window equal to the players'
// merge-write window, the read's pacing and the players' then add one
// window to the latency between them, not two. A read after one that
// filled the buffer does not wait and usually returns the rest of the
// batch at once; in case nothing follows, the batch so far is flushed at
// the engine's next tick at the latest.
type mergedReader struct {
	r      io.Reader
	window time.Duration
	ctx    context.Context // the connection's: Close ends a wait
	clock  *pace.Clock     // shared by the server's publishers
	phase  pace.Phase      // this publisher's place in the clock's period
	batch  batchFlusher
	wait   bool // the last read emptied the socket
}

// batchFlusher wakes a stream's players for the frames of a batch: the
// engine's Publisher.
type batchFlusher interface {
	Flush()
	FlushLater()
}

func newMergedReader(ctx context.Context, r io.Reader, window time.Duration, clock *pace.Clock, batch batchFlusher) *mergedReader {
	return &mergedReader{r: r, window: window, ctx: ctx, clock: clock, phase: clock.Join(), batch: batch}
}

// Close gives back the reader's phase of the clock; the publisher's
// connection is closed by its owner.
func (m *mergedReader) Close() { m.clock.Leave(m.phase) }

func (m *mergedReader) Read(p []byte) (int, error) {
	if m.wait {
		m.batch.Flush()
		select {
		case <-m.clock.Next(m.window, m.phase):
		case <-m.ctx.Done():
		}
	} else {
		m.batch.FlushLater()
	}
	n, err := m.r.Read(p)
	m.wait = n < len(p) // else more is waiting: read on
	return n, err
}
