package proxy

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/store"
)

// fakePush counts what it is given; refusing makes it fail at once, as
// a destination that is down.
type fakePush struct {
	bytes atomic.Int64
	err   error
}

func (p *fakePush) Run(r *engine.Reader) {
	buf := make([]*media.Frame, 0, 64)
	for {
		frames, err := r.Next(buf[:0])
		if p.err != nil {
			return
		}
		for _, f := range frames {
			p.bytes.Add(int64(len(f.Payload)))
		}
		if err != nil {
			return
		}
	}
}

func (p *fakePush) Err() error       { return p.err }
func (p *fakePush) BytesSent() int64 { return p.bytes.Load() }

type destinations struct {
	mu      sync.Mutex
	down    bool
	made    []*fakePush
	created int
}

func (d *destinations) newPush(ctx context.Context, spec PushSpec) (PushSink, error) {
	url := spec.URL
	d.mu.Lock()
	defer d.mu.Unlock()
	p := &fakePush{}
	if d.down {
		p.err = errors.New("rtmp push " + url + ": connection refused")
	}
	d.made = append(d.made, p)
	d.created++
	return p, nil
}

func (d *destinations) setDown(v bool) {
	d.mu.Lock()
	d.down = v
	d.mu.Unlock()
}

func (d *destinations) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.created
}

func pushSpec(stream, url string) PushSpec {
	return PushSpec{Schema: "rtmp", Vhost: engine.DefaultVhost, App: "proxy", Stream: stream, URL: url, RetryCount: -1}
}

func TestPushNeedsItsSourceAndPersists(t *testing.T) {
	f := newFixture(t, "h264_aac.flv")
	d := &destinations{}
	m := f.manager(t, d.newPush)
	ps := pushSpec("a", "rtmp://dst/live/a")
	if _, err := m.AddPush(context.Background(), ps); !errors.Is(err, ErrNoSource) {
		t.Fatalf("AddPush without its stream: %v, want ErrNoSource", err)
	}
	if _, err := m.AddPull(context.Background(), spec("a"), false); err != nil {
		t.Fatal(err)
	}
	key, err := m.AddPush(context.Background(), ps)
	if err != nil {
		t.Fatal(err)
	}
	if want := "rtmp/__defaultVhost__/proxy/a/"; len(key) != len(want)+32 || key[:len(want)] != want {
		t.Fatalf("key = %q, want %s<md5 of dst_url>", key, want)
	}
	if again, err := m.AddPush(context.Background(), ps); err != nil || again != key {
		t.Fatalf("a second AddPush = %q, %v; want the same key, no error", again, err)
	}
	e, ok := m.PushStatus(key)
	if !ok || e.Status.State != StatePlaying || e.Status.Bytes == 0 {
		t.Fatalf("status = %+v, %v", e.Status, ok)
	}
	if stored, _ := f.store.Tasks(store.KindPusher); len(stored) != 1 || stored[0].Key != key {
		t.Fatalf("stored = %+v", stored)
	}
	m.Close()

	// Restored: it waits for its stream, which the restored pull brings.
	m2 := f.manager(t, d.newPush)
	before := d.count()
	if err := m2.Restore(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the restored push to send", func() bool {
		e, ok := m2.PushStatus(key)
		return ok && e.Status.State == StatePlaying && d.count() > before && e.Status.Bytes > 0
	})
	if found, err := m2.DeletePush(key); err != nil || !found {
		t.Fatalf("DeletePush = %v, %v", found, err)
	}
	if stored, _ := f.store.Tasks(store.KindPusher); len(stored) != 0 {
		t.Fatalf("deleted push still stored: %+v", stored)
	}
}

func TestPushRetriesAFailingDestination(t *testing.T) {
	f := newFixture(t, "h264_aac.flv")
	d := &destinations{}
	m := f.manager(t, d.newPush)
	if _, err := m.AddPull(context.Background(), spec("b"), false); err != nil {
		t.Fatal(err)
	}
	d.setDown(true)
	ps := pushSpec("b", "rtmp://dst/live/b")
	if _, err := m.AddPush(context.Background(), ps); err == nil {
		t.Fatal("AddPush to a destination that is down succeeded")
	}
	if len(m.Pushes()) != 0 {
		t.Fatal("a failed AddPush left its push")
	}
	d.setDown(false)
	key, err := m.AddPush(context.Background(), ps)
	if err != nil {
		t.Fatal(err)
	}
	// The destination drops: the push comes back on its own.
	d.setDown(true)
	before := d.count()
	if ok, err := f.engine.DetachSink(context.Background(), ps.Source(), "push:"+key); err != nil || !ok {
		t.Fatalf("DetachSink = %v, %v", ok, err)
	}
	waitFor(t, "failed retries", func() bool { return d.count() >= before+3 })
	d.setDown(false)
	waitFor(t, "the push to send again", func() bool {
		e, _ := m.PushStatus(key)
		return e.Status.State == StatePlaying && e.Status.Restarts >= 1
	})
}

// TestRestoredPushWaitsForItsStream: a pusher restored before its stream
// is published waits for it however long it takes, without spending its
// retry_count.
func TestRestoredPushWaitsForItsStream(t *testing.T) {
	f := newFixture(t, "h264_aac.flv")
	d := &destinations{}
	ps := pushSpec("late", "rtmp://dst/live/late")
	ps.RetryCount = 1
	if err := f.store.PutTask(store.KindPusher, ps.Key(), ps); err != nil {
		t.Fatal(err)
	}
	m := f.manager(t, d.newPush)
	if err := m.Restore(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "several waits", func() bool {
		e, _ := m.PushStatus(ps.Key())
		return e.Status.State == StateRetrying && e.Status.Failures == 0 && e.Status.LastError != ""
	})
	// More attempts than retry_count allows failures in a row.
	waitFor(t, "four attempts", func() bool { return d.count() >= 4 })
	if e, _ := m.PushStatus(ps.Key()); e.Status.State == StateFailed {
		t.Fatalf("the restored pusher gave up waiting for its stream: %+v", e.Status)
	}
	if _, err := m.AddPull(context.Background(), spec("late"), false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the push to start", func() bool {
		e, _ := m.PushStatus(ps.Key())
		return e.Status.State == StatePlaying && e.Status.Bytes > 0
	})
}
