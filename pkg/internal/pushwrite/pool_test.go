package pushwrite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

func TestPoolWorkerPerStream(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	p := &Pool{}
	defer p.Close()

	key := engine.NewKey("", "live", "cam")
	first := p.worker(key)
	for i := range 100 {
		if w := p.worker(key); w != first {
			t.Fatalf("player %d of %v went to another worker than the first", i, key)
		}
	}

	used := map[*poolWorker]int{}
	for i := range 400 {
		used[p.worker(engine.NewKey("", "live", fmt.Sprint("cam", i)))]++
	}
	if len(used) != len(p.workers) {
		t.Fatalf("400 streams used %d of %d workers", len(used), len(p.workers))
	}
	for _, n := range used {
		if n < 50 { // 100 each on average
			t.Errorf("a worker got %d of 400 streams", n)
		}
	}
}

func TestPoolWorkerBehindSharesBatch(t *testing.T) {
	a, b := &poolWorker{wake: make(chan struct{}, 1)}, &poolWorker{wake: make(chan struct{}, 1)}
	a.next, b.next = b, a
	queue := func(pw *poolWorker, n int) {
		for range n {
			pw.enqueue(&Writer{})
		}
	}

	queue(a, 100)
	if batch, mine := a.take(); len(mine) != 100 || len(batch) != 100 {
		t.Fatalf("keeping up: served %d of %d, want all 100", len(mine), len(batch))
	}
	if len(b.queue) != 0 {
		t.Fatalf("keeping up: handed %d writers over", len(b.queue))
	}

	queue(a, spillMin)
	if a.done(nil); !a.behind.Load() {
		t.Fatalf("%d writers waiting after a batch: not behind", spillMin)
	}
	queue(a, 100-spillMin)
	batch, mine := a.take()
	if len(mine) != 50 || len(batch) != 100 {
		t.Fatalf("behind: served %d of %d, want 50 of 100", len(mine), len(batch))
	}
	if len(b.queue) != 50 || len(b.wake) != 1 {
		t.Fatalf("behind: the next worker got %d writers (wake-up pending: %v), want 50", len(b.queue), len(b.wake) == 1)
	}
	for i, w := range b.queue {
		if w != batch[50+i] {
			t.Fatalf("handed-over writer %d is not the batch's %d", i, 50+i)
		}
	}
	if a.done(batch); a.behind.Load() {
		t.Fatal("an empty queue after a batch: behind")
	}

	a.behind.Store(true)
	queue(a, spillMin-1)
	if _, mine := a.take(); len(mine) != spillMin-1 {
		t.Fatalf("a batch under %d was split: served %d", spillMin, len(mine))
	}
	b.queue = nil
	b.behind.Store(true)
	queue(a, 100)
	if _, mine := a.take(); len(mine) != 100 || len(b.queue) != 0 {
		t.Fatalf("handed %d writers to a worker that is behind too (served %d of 100)", len(b.queue), len(mine))
	}
	a.next = nil
	queue(a, 100)
	if _, mine := a.take(); len(mine) != 100 {
		t.Fatalf("a lone worker handed over writers: served %d of 100", len(mine))
	}
}

// Players of one stream handed from a worker that is behind to the next
// still get every byte of the stream, in order.
func TestPushHandsOverWhenBehind(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	cfg := engine.DefaultConfig()
	cfg.ContinuePush = 0
	cfg.MaxReaderLag = 0
	e := engine.New(cfg, nil)
	defer e.Close()
	pool := &Pool{}
	defer pool.Close()
	ctx := context.Background()
	key := engine.NewKey("", "t", "crowd")
	info := engine.SessionInfo{ID: "t", Protocol: "test"}
	pub, err := e.Publish(ctx, key, info)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.SetTracks([]*media.Track{testTrack}); err != nil {
		t.Fatal(err)
	}

	const players = 150
	type player struct {
		w    *Writer
		got  bytes.Buffer
		read chan struct{}
	}
	ps := make([]*player, players)
	for i := range ps {
		reader, err := e.Play(ctx, key, info)
		if err != nil {
			t.Fatal(err)
		}
		peer, server := testutil.TCPPair(t)
		p := &player{w: New(server, reader, slowPayloads{}, 10*time.Second), read: make(chan struct{})}
		ps[i] = p
		go func() {
			defer close(p.read)
			_, _ = p.got.ReadFrom(peer) // until the writer's end closes server
		}()
		t.Cleanup(func() { reader.Close(); server.Close(); peer.Close(); <-p.read })
		if !p.w.Push(pool, nil, func(error) { server.Close() }) {
			t.Skip("no non-blocking socket writes on this system")
		}
	}
	if n := len(pool.workers); n < 2 {
		t.Skipf("%d worker: nobody to hand players to", n)
	}

	handed := func() (n int64) {
		for _, w := range pool.workers {
			n += w.handed.Load()
		}
		return n
	}
	var want bytes.Buffer
	after := 20 // frames after the first hand-over
	for seq := 0; after > 0; seq++ {
		if seq == 2000 {
			t.Fatalf("no player handed over after %d frames to %d players", seq, players)
		}
		if handed() > 0 {
			after--
		}
		// A frame a millisecond, a batch of the players several: the
		// worker falls behind.
		time.Sleep(time.Millisecond)
		p := bytes.Repeat([]byte{byte(seq)}, 100)
		want.Write(p)
		d := time.Duration(seq) * time.Millisecond
		if err := pub.WriteFrame(&media.Frame{Track: testTrack, DTS: d, PTS: d, Key: true, Payload: p}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d frames, %d hand-overs of a player", want.Len()/100, handed())
	pub.Close()
	for i, p := range ps {
		for _, done := range []<-chan struct{}{p.w.Done(), p.read} {
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatalf("player %d did not end with the stream", i)
			}
		}
		if !errors.Is(p.w.Err(), io.EOF) {
			t.Fatalf("player %d ended with %v, want io.EOF", i, p.w.Err())
		}
		if !bytes.Equal(p.got.Bytes(), want.Bytes()) {
			t.Fatalf("player %d got %d bytes, other than the stream's %d", i, p.got.Len(), want.Len())
		}
	}
}

// slowPayloads is payloads with an encoder that takes 30 µs a batch, so
// that a worker writing 150 players takes several milliseconds.
type slowPayloads struct{ payloads }

func (s slowPayloads) Batch(bufs net.Buffers, frames []*media.Frame) net.Buffers {
	for start := time.Now(); time.Since(start) < 30*time.Microsecond; {
	}
	return s.payloads.Batch(bufs, frames)
}
