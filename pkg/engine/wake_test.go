package engine

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
)

// pushedReader polls its reader whenever the stream calls its wake
// function, as a pool of writers does: no goroutine waits in Next.
type pushedReader struct {
	r      *Reader
	mu     sync.Mutex
	frames []*media.Frame
	err    error
	wakes  atomic.Int64
	buf    []*media.Frame
	done   chan struct{}
}

func newPushedReader(t *testing.T, r *Reader) *pushedReader {
	t.Helper()
	p := &pushedReader{r: r, buf: make([]*media.Frame, 0, 8), done: make(chan struct{})}
	if err := r.SetWake(t.Context(), p.wake); err != nil {
		t.Fatal(err)
	}
	p.wake() // what came before SetWake
	return p
}

// wake drains the reader on the waking goroutine, serialised by mu: a
// real pool queues the reader instead of reading in place.
func (p *pushedReader) wake() {
	p.wakes.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return
	}
	for {
		var err error
		p.buf, err = p.r.Poll(p.buf[:0])
		p.frames = append(p.frames, p.buf...)
		clear(p.buf)
		if err != nil {
			p.err = err
			close(p.done)
			return
		}
		if len(p.buf) == 0 {
			return
		}
	}
}

// wait waits until Poll reported an error and returns the frames read
// and that error.
func (p *pushedReader) wait(t *testing.T, what string) ([]*media.Frame, error) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	return p.result()
}

func (p *pushedReader) result() ([]*media.Frame, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frames, p.err
}

// Readers served through SetWake and Poll get every frame, in order,
// and the end of the stream, like readers waiting in Next.
func TestPushedReadersGetEveryFrame(t *testing.T) {
	for _, merge := range []time.Duration{0, 20 * time.Millisecond} {
		t.Run(merge.String(), func(t *testing.T) {
			cfg := testConfig()
			cfg.MergeWrite = merge
			e := newTestEngine(t, cfg)
			p := publish(t, e, testKey)
			fs := &frameSource{gop: 25}
			writeN(t, p, fs, 10) // the GOP cache, from frame 0

			var readers []*pushedReader
			for range 20 {
				readers = append(readers, newPushedReader(t, play(t, e, testKey)))
			}
			for range 290 {
				writeN(t, p, fs, 1)
				if merge > 0 && fs.n%50 == 0 {
					time.Sleep(merge) // let some merged wake-ups fire mid-stream
				}
			}
			p.Close()
			for i, pr := range readers {
				frames, err := pr.wait(t, fmt.Sprintf("reader %d's end of stream", i))
				if !errors.Is(err, io.EOF) {
					t.Fatalf("reader %d: %v, want io.EOF", i, err)
				}
				if len(frames) != 600 {
					t.Fatalf("reader %d: %d frames, want 600", i, len(frames))
				}
				for j := 0; j < len(frames); j += 2 {
					if got := frames[j].Payload[0]; got != byte(j/2) {
						t.Fatalf("reader %d frame %d: payload %d, want %d", i, j, got, byte(j/2))
					}
				}
			}
		})
	}
}

// Closing a pushed reader calls its wake function, after which Poll
// reports the close; the stream stops calling it.
func TestPushedReaderClose(t *testing.T) {
	e := newTestEngine(t, testConfig())
	p := publish(t, e, testKey)
	fs := &frameSource{gop: 25}
	writeN(t, p, fs, 1)
	pr := newPushedReader(t, play(t, e, testKey))
	pr.r.Close()
	if _, err := pr.wait(t, "the close to wake the reader"); !errors.Is(err, ErrReaderClosed) {
		t.Fatalf("Poll after close: %v, want ErrReaderClosed", err)
	}
	s, err := e.lookup(testKey, false)
	if err != nil || s == nil {
		t.Fatalf("stream: %v", err)
	}
	testutil.Eventually(t, 5*time.Second, "the closed reader to leave the pushed readers", func() bool {
		list := s.pushed.Load()
		return list != nil && len(*list) == 0
	})
	before := pr.wakes.Load()
	writeN(t, p, fs, 5)
	if n := pr.wakes.Load(); n != before {
		t.Errorf("%d wake-ups after the reader closed", n-before)
	}
}

// SetWake on a reader closed before it asks to be woken calls the
// function at once, so the caller polls and learns of the close.
func TestSetWakeOnClosedReader(t *testing.T) {
	e := newTestEngine(t, testConfig())
	publish(t, e, testKey)
	r := play(t, e, testKey)
	r.Close()
	pr := newPushedReader(t, r)
	if _, err := pr.wait(t, "a wake-up for a closed reader"); !errors.Is(err, ErrReaderClosed) {
		t.Fatalf("%v, want ErrReaderClosed", err)
	}
}
