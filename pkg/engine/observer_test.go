package engine

import (
	"context"
	"sync"
	"testing"
	"time"
)

type recordedEvent struct {
	kind string
	key  Key
	info StreamInfo
}

type recordingObserver struct {
	mu     sync.Mutex
	events []recordedEvent
	ch     chan recordedEvent
}

func newRecordingObserver() *recordingObserver {
	return &recordingObserver{ch: make(chan recordedEvent, 100)}
}

func (o *recordingObserver) add(e recordedEvent) {
	o.mu.Lock()
	o.events = append(o.events, e)
	o.mu.Unlock()
	o.ch <- e
}

func (o *recordingObserver) StreamReady(i StreamInfo) { o.add(recordedEvent{"ready", i.Key, i}) }
func (o *recordingObserver) StreamEnded(i StreamInfo) { o.add(recordedEvent{"ended", i.Key, i}) }
func (o *recordingObserver) StreamNoReaders(i StreamInfo) {
	o.add(recordedEvent{"noreaders", i.Key, i})
}
func (o *recordingObserver) StreamNotFound(k Key, _ SessionInfo, _ func()) {
	o.add(recordedEvent{"notfound", k, StreamInfo{}})
}
func (o *recordingObserver) SessionEnded(r SessionReport) {
	kind := "publisher-ended"
	if r.Player {
		kind = "player-ended"
	}
	o.add(recordedEvent{kind, r.Key, StreamInfo{BytesOut: r.Bytes}})
}

func (o *recordingObserver) next(t *testing.T, want string) recordedEvent {
	t.Helper()
	select {
	case e := <-o.ch:
		if e.kind != want {
			t.Fatalf("event %q, want %q", e.kind, want)
		}
		return e
	case <-time.After(3 * time.Second):
		t.Fatalf("no %q event", want)
	}
	return recordedEvent{}
}

func TestObserverEvents(t *testing.T) {
	cfg := testConfig()
	cfg.NoneReaderDelay = 100 * time.Millisecond
	cfg.MaxStreamWait = 2 * time.Second
	e := newTestEngine(t, cfg)
	obs := newRecordingObserver()
	e.SetObserver(obs)

	// A player waiting for the stream: not found, then ready.
	got := make(chan *Reader, 1)
	go func() {
		r, _ := e.Play(context.Background(), testKey, SessionInfo{ID: "early"})
		got <- r
	}()
	obs.next(t, "notfound")
	p := publish(t, e, testKey)
	ready := obs.next(t, "ready")
	if ready.info.Publisher == nil || ready.info.Publisher.ID != "pub" || len(ready.info.Tracks) != 2 {
		t.Fatalf("ready snapshot: %+v", ready.info)
	}
	r := <-got
	// The stream has a reader: no "noreaders" until it leaves.
	select {
	case ev := <-obs.ch:
		t.Fatalf("unexpected %q with a reader attached", ev.kind)
	case <-time.After(250 * time.Millisecond):
	}
	r.AddBytesOut(1234)
	r.Close()
	if ev := obs.next(t, "player-ended"); ev.info.BytesOut != 1234 {
		t.Fatalf("flow report of %d bytes, want 1234", ev.info.BytesOut)
	}
	obs.next(t, "noreaders")

	// A returning publisher is not a new stream.
	p.Close()
	obs.next(t, "publisher-ended")
	p2 := publish(t, e, testKey)
	p2.Close()
	obs.next(t, "publisher-ended")
	ended := obs.next(t, "ended")
	if ended.info.Publisher == nil || ended.info.Publisher.ID != "pub" {
		t.Fatalf("ended snapshot lacks the publisher: %+v", ended.info)
	}
	select {
	case ev := <-obs.ch:
		t.Fatalf("unexpected %q after the end", ev.kind)
	case <-time.After(100 * time.Millisecond):
	}
}

type rejectingObserver struct{ nopObserver }

func (rejectingObserver) StreamNotFound(_ Key, _ SessionInfo, reject func()) { go reject() }

func TestStreamNotFoundReject(t *testing.T) {
	cfg := testConfig()
	cfg.MaxStreamWait = 10 * time.Second
	e := newTestEngine(t, cfg)
	e.SetObserver(rejectingObserver{})
	start := time.Now()
	_, err := e.Play(context.Background(), testKey, SessionInfo{})
	if err != ErrNotFound {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("reject did not end the wait")
	}
}
