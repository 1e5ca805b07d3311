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
	own, given, serve := a.take()
	if serve != 100 || len(own) != 100 || len(given) != 0 {
		t.Fatalf("keeping up: served %d of %d (and %d given), want all 100", serve, len(own), len(given))
	}
	if len(b.given) != 0 {
		t.Fatalf("keeping up: handed %d writers over", len(b.given))
	}

	queue(a, spillMin)
	if a.done(nil, nil); !a.behind.Load() {
		t.Fatalf("%d writers waiting after a batch: not behind", spillMin)
	}
	queue(a, 100-spillMin)
	own, _, serve = a.take()
	if serve != 50 || len(own) != 100 {
		t.Fatalf("behind: served %d of %d, want 50 of 100", serve, len(own))
	}
	if len(b.given) != 50 || len(b.wake) != 1 {
		t.Fatalf("behind: the next worker got %d writers (wake-up pending: %v), want 50", len(b.given), len(b.wake) == 1)
	}
	for i, w := range b.given {
		if w != own[50+i] {
			t.Fatalf("handed-over writer %d is not the batch's %d", i, 50+i)
		}
	}
	if a.done(own, nil); a.behind.Load() {
		t.Fatal("an empty queue after a batch: behind")
	}

	// The next worker serves what it was given, whole, even when it is
	// behind itself, and its own players do not count those.
	b.behind.Store(true)
	queue(b, 100)
	bOwn, bGiven, bServe := b.take()
	if len(bGiven) != 50 || bServe != 50 || len(a.given) != 50 {
		t.Fatalf("behind with 50 given: served %d given and %d of its own %d, handed %d on; want 50, 50 of 100, 50",
			len(bGiven), bServe, len(bOwn), len(a.given))
	}
	for _, w := range a.given {
		for _, g := range bGiven {
			if w == g {
				t.Fatal("a player handed over was handed on")
			}
		}
	}
	if b.done(bOwn, bGiven); b.behind.Load() {
		t.Fatal("behind with nothing of its own waiting")
	}
	a.given = nil

	a.behind.Store(true)
	queue(a, spillMin-1)
	if _, _, serve := a.take(); serve != spillMin-1 {
		t.Fatalf("a batch under %d was split: served %d", spillMin, serve)
	}
	b.behind.Store(true)
	queue(a, 100)
	if _, _, serve := a.take(); serve != 100 || len(b.given) != 0 {
		t.Fatalf("handed %d writers to a worker that is behind too (served %d of 100)", len(b.given), serve)
	}
	a.next = nil
	queue(a, 100)
	if _, _, serve := a.take(); serve != 100 {
		t.Fatalf("a lone worker handed over writers: served %d of 100", serve)
	}
}

// Players of one stream handed from a worker that is behind to the next
// still get every byte of the stream, in order.
func TestPushHandsOverWhenBehind(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	e := testEngine(t)
	pool := &Pool{}
	defer pool.Close()
	key := engine.NewKey("", "t", "crowd")
	pub := testPublish(t, e, key)

	const players = 150
	type player struct {
		w    *Writer
		got  bytes.Buffer
		read chan struct{}
	}
	ps := make([]*player, players)
	for i := range ps {
		reader, err := e.Play(context.Background(), key, engine.SessionInfo{ID: "p", Protocol: "test"})
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
