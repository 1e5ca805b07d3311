package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// countingSink counts frames until its reader ends, then marks itself
// finished, as a recorder closes its file.
type countingSink struct {
	frames   atomic.Int64
	finished atomic.Bool
	err      atomic.Value
}

func (c *countingSink) Run(r *Reader) {
	buf := make([]*media.Frame, 0, 64)
	for {
		frames, err := r.Next(buf[:0])
		c.frames.Add(int64(len(frames)))
		if err != nil {
			c.err.Store(err)
			time.Sleep(10 * time.Millisecond) // "closing the file"
			c.finished.Store(true)
			return
		}
	}
}

func TestSinkLifecycle(t *testing.T) {
	cfg := testConfig()
	cfg.NoneReaderDelay = 100 * time.Millisecond
	e := newTestEngine(t, cfg)
	obs := newRecordingObserver()
	e.SetObserver(obs)
	if err := e.AttachSink(context.Background(), testKey, "mp4", func() Sink { return &countingSink{} }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("sink on a missing stream: %v", err)
	}
	p := publish(t, e, testKey)
	obs.next(t, "ready")
	fs := &frameSource{gop: 25}
	writeN(t, p, fs, 30) // keyframes at 0 and 25
	sink := &countingSink{}
	if err := e.AttachSink(context.Background(), testKey, "mp4", func() Sink { return sink }); err != nil {
		t.Fatal(err)
	}
	if err := e.AttachSink(context.Background(), testKey, "mp4", func() Sink { return &countingSink{} }); !errors.Is(err, ErrSinkExists) {
		t.Fatalf("second sink: %v", err)
	}
	// A sink is not a reader: the no-reader event still comes.
	obs.next(t, "noreaders")
	if has, _ := e.HasSink(context.Background(), testKey, "mp4"); !has {
		t.Fatal("HasSink false")
	}
	writeN(t, p, fs, 20)
	found, err := e.DetachSink(context.Background(), testKey, "mp4")
	if !found || err != nil {
		t.Fatalf("detach: %v %v", found, err)
	}
	if !sink.finished.Load() {
		t.Fatal("DetachSink returned before the sink finished")
	}
	// From the latest keyframe (25): 5 frame pairs, then 20 more.
	if got := sink.frames.Load(); got != 50 {
		t.Fatalf("sink got %d frames, want 50", got)
	}
	if has, _ := e.HasSink(context.Background(), testKey, "mp4"); has {
		t.Fatal("HasSink after detach")
	}
	// A sink ends with the stream, and Close waits for it.
	sink2 := &countingSink{}
	if err := e.AttachSink(context.Background(), testKey, "hls", func() Sink { return sink2 }); err != nil {
		t.Fatal(err)
	}
	p.Close()
	e.Close()
	if !sink2.finished.Load() {
		t.Fatal("engine closed before its sink finished")
	}
}

// TestSinkStorm starts and stops two sinks from many goroutines at once
// on a live stream (failure-modes.md 1); -race checks the discipline.
func TestSinkStorm(t *testing.T) {
	e := newTestEngine(t, testConfig())
	p := publish(t, e, testKey)
	stop := make(chan struct{})
	var pubWG sync.WaitGroup
	pubWG.Add(1)
	go func() {
		defer pubWG.Done()
		fs := &frameSource{gop: 5}
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, f := range fs.next() {
				_ = p.WriteFrame(f)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	var started, stopped atomic.Int64
	for g := 0; g < 20; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				for _, name := range []string{"hls", "mp4"} {
					if err := e.AttachSink(context.Background(), testKey, name, func() Sink { return &countingSink{} }); err == nil {
						started.Add(1)
					} else if !errors.Is(err, ErrSinkExists) {
						t.Errorf("attach: %v", err)
					}
					if found, err := e.DetachSink(context.Background(), testKey, name); err != nil {
						t.Errorf("detach: %v", err)
					} else if found {
						stopped.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	pubWG.Wait()
	if started.Load() == 0 || started.Load() != stopped.Load() {
		t.Fatalf("started %d, stopped %d", started.Load(), stopped.Load())
	}
	p.Close()
}

// TestSinkPolicyGetsEveryFrame: a sink the policy starts sees the stream
// from its first frame, even when frames are written at once.
func TestSinkPolicyGetsEveryFrame(t *testing.T) {
	e := newTestEngine(t, testConfig())
	sink := &countingSink{}
	e.SetSinkPolicy(func(info StreamInfo) map[string]func() Sink {
		if info.Key != testKey {
			return nil
		}
		return map[string]func() Sink{"rec": func() Sink { return sink }}
	})
	p := publish(t, e, testKey)
	writeN(t, p, &frameSource{gop: 25}, 100)
	if _, err := e.DetachSink(context.Background(), testKey, "rec"); err != nil {
		t.Fatal(err)
	}
	if got := sink.frames.Load(); got != 200 {
		t.Fatalf("policy sink got %d frames, want 200", got)
	}
	p.Close()
}

type viewerSink struct{ drainSink }

func (viewerSink) CountsAsViewer() bool { return true }

// A viewer sink (an RTP sender) keeps its stream from being reported as
// unwatched; a recorder does not. The test reads the owner's idle timer
// rather than waiting for it.
func TestViewerSinkKeepsStreamWatched(t *testing.T) {
	obs := &idleObserver{ch: make(chan Key, 10)}
	cfg := testConfig()
	cfg.NoneReaderDelay = time.Hour
	e := newTestEngine(t, cfg)
	e.SetObserver(obs)
	p := publish(t, e, testKey)
	defer p.Close()
	idleArmed := func() bool {
		s, _ := e.lookup(testKey, false)
		var armed bool
		if err := s.do(context.Background(), func() { armed = s.idleTimer != nil }); err != nil {
			t.Fatal(err)
		}
		return armed
	}
	if !idleArmed() {
		t.Fatal("a ready stream without readers has no idle timer")
	}
	if err := e.AttachSink(context.Background(), testKey, "rec", func() Sink { return drainSink{} }); err != nil {
		t.Fatal(err)
	}
	if !idleArmed() {
		t.Error("a recorder counted as a viewer")
	}
	if err := e.AttachSink(context.Background(), testKey, "send", func() Sink { return viewerSink{} }); err != nil {
		t.Fatal(err)
	}
	if idleArmed() {
		t.Error("the idle timer runs while a viewer sink watches")
	}
	if _, err := e.DetachSink(context.Background(), testKey, "send"); err != nil {
		t.Fatal(err)
	}
	if !idleArmed() {
		t.Error("no idle timer after the viewer sink left")
	}
	// And the timer, when it fires, reports the stream.
	short := cfg
	short.NoneReaderDelay = time.Millisecond
	e.SetConfig(short)
	if _, err := e.DetachSink(context.Background(), testKey, "rec"); err != nil {
		t.Fatal(err)
	}
	s, _ := e.lookup(testKey, false)
	_ = s.do(context.Background(), func() { s.disarmIdle(); s.armIdle() })
	select {
	case <-obs.ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no unwatched report")
	}
}

type idleObserver struct {
	nopObserver
	ch chan Key
}

func (o *idleObserver) StreamNoReaders(info StreamInfo) { o.ch <- info.Key }

// TestFinishDeliversEverythingWhileReading: a sink's reader stopped with
// finish, while it is collecting, still delivers every frame appended
// before the stop, however the stop interleaves with the reads (it once
// looked like a plain close between two checks and lost the rest).
func TestFinishDeliversEverythingWhileReading(t *testing.T) {
	e := newTestEngine(t, testConfig())
	p := publish(t, e, testKey)
	defer p.Close()
	fs := &frameSource{gop: 25}
	writeN(t, p, fs, 25)
	s, err := e.lookup(testKey, false)
	if err != nil || s == nil {
		t.Fatal(err)
	}
	for i := range 300 {
		var r *Reader
		if err := s.do(context.Background(), func() { r = newReader(s, SessionInfo{ID: "sink"}); r.sink = true }); err != nil {
			t.Fatal(err)
		}
		writeN(t, p, fs, 10)
		start := r.start
		if start == nil {
			t.Fatal("a sink's reader without the GOP cache")
		}
		stopped := make(chan struct{})
		go func() {
			r.finish()
			close(stopped)
		}()
		var got int
		buf := make([]*media.Frame, 0, 1+i%4) // small batches: many collects around the stop
		for {
			frames, err := r.Next(buf[:0])
			got += len(frames)
			if err != nil {
				break
			}
		}
		<-stopped
		want := 0
		for n := start; n != nil; n = n.next.Load() {
			if n.seq <= r.stopAt.Load().seq {
				want++
			}
		}
		if got != want {
			t.Fatalf("round %d: the finished reader delivered %d of the %d frames before its stop", i, got, want)
		}
	}
}
