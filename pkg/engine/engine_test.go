package engine

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var (
	testVideo = &media.Track{Codec: media.CodecH264, Width: 320, Height: 240}
	testAudio = &media.Track{Codec: media.CodecAAC, SampleRate: 44100, Channels: 2}
)

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.ContinuePush = 200 * time.Millisecond
	cfg.MaxStreamWait = 300 * time.Millisecond
	return cfg
}

func newTestEngine(t *testing.T, cfg Config) *Engine {
	t.Helper()
	e := New(cfg, nil)
	t.Cleanup(e.Close)
	return e
}

var testKey = NewKey("", "live", "test")

func publish(t *testing.T, e *Engine, key Key) *Publisher {
	t.Helper()
	p, err := e.Publish(context.Background(), key, SessionInfo{ID: "pub", Protocol: "test"})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if err := p.SetTracks([]*media.Track{testVideo, testAudio}); err != nil {
		t.Fatalf("set tracks: %v", err)
	}
	return p
}

// frameSource makes a 25 fps video stream with a keyframe every gop
// frames and one audio frame per video frame.
type frameSource struct {
	n   int
	gop int
}

func (fs *frameSource) next() []*media.Frame {
	ts := time.Duration(fs.n) * 40 * time.Millisecond
	v := &media.Frame{Track: testVideo, DTS: ts, PTS: ts, Key: fs.n%fs.gop == 0, Payload: make([]byte, 1000)}
	v.Payload[0] = byte(fs.n)
	a := &media.Frame{Track: testAudio, DTS: ts + time.Millisecond, PTS: ts + time.Millisecond, Payload: make([]byte, 100)}
	fs.n++
	return []*media.Frame{v, a}
}

func writeN(t *testing.T, p *Publisher, fs *frameSource, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		for _, f := range fs.next() {
			if err := p.WriteFrame(f); err != nil {
				t.Fatalf("write frame: %v", err)
			}
		}
	}
}

func play(t *testing.T, e *Engine, key Key) *Reader {
	t.Helper()
	r, err := e.Play(context.Background(), key, SessionInfo{ID: "reader", Protocol: "test"})
	if err != nil {
		t.Fatalf("play: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// readAll reads until EOF or error, returning the frames.
func readAll(r *Reader) ([]*media.Frame, error) {
	var out []*media.Frame
	buf := make([]*media.Frame, 0, 64)
	for {
		frames, err := r.Next(buf[:0])
		out = append(out, frames...)
		if err != nil {
			return out, err
		}
	}
}

func TestFanOutDeliversEveryFrameInOrder(t *testing.T) {
	e := newTestEngine(t, testConfig())
	p := publish(t, e, testKey)
	fs := &frameSource{gop: 25}
	writeN(t, p, fs, 10) // before any reader: GOP cache from frame 0

	const readers = 50
	results := make([][]*media.Frame, readers)
	var wg sync.WaitGroup
	for i := 0; i < readers; i++ {
		r := play(t, e, testKey)
		wg.Add(1)
		go func() {
			defer wg.Done()
			frames, err := readAll(r)
			if !errors.Is(err, io.EOF) {
				t.Errorf("reader %d: got %v, want io.EOF", i, err)
			}
			r.Close()
			results[i] = frames
		}()
	}
	writeN(t, p, fs, 290)
	p.Close() // readers get EOF after the grace period
	wg.Wait()

	for i, frames := range results {
		if len(frames) != 600 {
			t.Fatalf("reader %d got %d frames, want 600", i, len(frames))
		}
		if !frames[0].Key || frames[0].Track != testVideo {
			t.Fatalf("reader %d: first frame is not a video keyframe", i)
		}
		for j := 0; j < len(frames); j += 2 {
			if got := frames[j].Payload[0]; got != byte(j/2) {
				t.Fatalf("reader %d frame %d: payload %d, want %d", i, j, got, byte(j/2))
			}
		}
	}
	if got := e.Stats().Readers.Load(); got != 0 {
		t.Errorf("readers gauge = %d after all ended, want 0", got)
	}
}

func TestNewReaderStartsAtLatestKeyframe(t *testing.T) {
	e := newTestEngine(t, testConfig())
	p := publish(t, e, testKey)
	fs := &frameSource{gop: 25}
	writeN(t, p, fs, 60) // keyframes at 0, 25, 50
	r := play(t, e, testKey)
	frames, err := r.Next(make([]*media.Frame, 0, 100))
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 20 {
		t.Fatalf("got %d frames from the GOP cache, want 20 (frames 50..59, video+audio)", len(frames))
	}
	if !frames[0].Key || frames[0].Payload[0] != 50 {
		t.Fatalf("first frame: key=%v n=%d, want keyframe 50", frames[0].Key, frames[0].Payload[0])
	}
	if frames[0].DTS != 50*40*time.Millisecond {
		t.Fatalf("first DTS %v, want 2s", frames[0].DTS)
	}
}

func TestSlowReaderSkipsWithoutStallingOthers(t *testing.T) {
	cfg := testConfig()
	cfg.MaxReaderLag = 100 * time.Millisecond
	e := newTestEngine(t, cfg)
	p := publish(t, e, testKey)
	fs := &frameSource{gop: 25}

	slow := play(t, e, testKey)
	fast := play(t, e, testKey)
	fastDone := make(chan int)
	go func() {
		n := 0
		buf := make([]*media.Frame, 0, 64)
		for n < 400 {
			frames, err := fast.Next(buf[:0])
			if err != nil {
				t.Errorf("fast reader: %v", err)
				break
			}
			n += len(frames)
		}
		fastDone <- n
	}()
	// The slow reader reads nothing while 200 frame pairs arrive. The
	// sleep ages the first 100 past MaxReaderLag: a precondition, not a
	// wait for an outcome; a slow machine only ages them more.
	writeN(t, p, fs, 100)
	time.Sleep(150 * time.Millisecond)
	writeN(t, p, fs, 100)
	select {
	case n := <-fastDone:
		if n != 400 {
			t.Fatalf("fast reader got %d frames, want 400", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("fast reader stalled behind the slow one")
	}
	frames, err := slow.Next(make([]*media.Frame, 0, 1000))
	if err != nil {
		t.Fatal(err)
	}
	if slow.Skipped() == 0 {
		t.Fatal("slow reader skipped nothing")
	}
	if !frames[0].Key || frames[0].Payload[0] != 175 {
		t.Fatalf("slow reader resumed at n=%d key=%v, want keyframe 175", frames[0].Payload[0], frames[0].Key)
	}
	if got := e.Stats().FramesSkipped.Load(); got != slow.Skipped() {
		t.Fatalf("skipped counter %d, reader skipped %d", got, slow.Skipped())
	}
}

func TestSlowReaderWithoutKeyframeIsCut(t *testing.T) {
	cfg := testConfig()
	cfg.MaxReaderLag = 50 * time.Millisecond
	cfg.MaxReaderLagBytes = 50_000
	e := newTestEngine(t, cfg)
	p := publish(t, e, testKey)
	fs := &frameSource{gop: 100000} // one keyframe, then never again
	slow := play(t, e, testKey)
	writeN(t, p, fs, 100) // 110 kB
	// Ages the frames past MaxReaderLag: a precondition, which a slow
	// machine only makes truer, not a wait for an outcome.
	time.Sleep(100 * time.Millisecond)
	_, err := slow.Next(make([]*media.Frame, 0, 10))
	if !errors.Is(err, ErrReaderTooSlow) {
		t.Fatalf("got %v, want ErrReaderTooSlow", err)
	}
	if e.Stats().ReadersDropped.Load() != 1 {
		t.Fatal("dropped counter not incremented")
	}
}

func TestSecondPublisherRefused(t *testing.T) {
	e := newTestEngine(t, testConfig())
	p := publish(t, e, testKey)
	_, err := e.Publish(context.Background(), testKey, SessionInfo{ID: "second"})
	if !errors.Is(err, ErrAlreadyPublishing) {
		t.Fatalf("second publisher: got %v, want ErrAlreadyPublishing", err)
	}
	if e.Stats().PublishersRefused.Load() != 1 {
		t.Fatal("refused counter not incremented")
	}
	// The first keeps publishing.
	writeN(t, p, &frameSource{gop: 25}, 5)
	select {
	case <-p.Done():
		t.Fatal("first publisher was detached")
	default:
	}
}

func TestTakeoverReplacesPublisher(t *testing.T) {
	cfg := testConfig()
	cfg.Takeover = true
	e := newTestEngine(t, cfg)
	first := publish(t, e, testKey)
	fs := &frameSource{gop: 25}
	writeN(t, first, fs, 30)
	r := play(t, e, testKey)

	second := publish(t, e, testKey)
	select {
	case <-first.Done():
	case <-time.After(time.Second):
		t.Fatal("replaced publisher not told")
	}
	if err := first.WriteFrame(fs.next()[0]); !errors.Is(err, ErrPublisherClosed) {
		t.Fatalf("replaced publisher write: got %v", err)
	}
	first.Close() // must not disturb the new publisher
	writeN(t, second, &frameSource{gop: 25}, 10)
	frames, err := r.Next(make([]*media.Frame, 0, 200))
	if err != nil {
		t.Fatal(err)
	}
	assertMonotonic(t, frames)
	if e.Stats().PublishersReplaced.Load() != 1 {
		t.Fatal("replaced counter not incremented")
	}
}

func assertMonotonic(t *testing.T, frames []*media.Frame) {
	t.Helper()
	var last [3]time.Duration
	for i, f := range frames {
		k := f.Track.Kind()
		if f.DTS < last[k] {
			t.Fatalf("frame %d (%s): DTS %v after %v", i, k, f.DTS, last[k])
		}
		last[k] = f.DTS
	}
}

func TestPublisherReturnsWithinGrace(t *testing.T) {
	cfg := testConfig()
	cfg.ContinuePush = 2 * time.Second
	e := newTestEngine(t, cfg)
	p := publish(t, e, testKey)
	fs := &frameSource{gop: 25}
	writeN(t, p, fs, 50)
	r := play(t, e, testKey)
	p.Close()

	// The returning publisher's clock starts at zero again.
	p2 := publish(t, e, testKey)
	writeN(t, p2, &frameSource{gop: 25}, 50)
	p2.Close()

	frames, err := readAll(r)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("got %v, want EOF after the second grace period", err)
	}
	if len(frames) != 100+50*2-50 { // GOP cache from keyframe 25 (50 frames), then 100
		t.Fatalf("got %d frames, want 150", len(frames))
	}
	assertMonotonic(t, frames)
	disc := 0
	for _, f := range frames {
		if f.Discontinuity {
			disc++
		}
	}
	if disc != 1 {
		t.Fatalf("%d frames marked discontinuous, want 1", disc)
	}
	if e.Stats().PublisherReturns.Load() != 1 {
		t.Fatal("returns counter not incremented")
	}
}

func TestPublisherGoneEndsEveryReader(t *testing.T) {
	e := newTestEngine(t, testConfig())
	p := publish(t, e, testKey)
	writeN(t, p, &frameSource{gop: 25}, 10)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		r := play(t, e, testKey)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := readAll(r)
			if !errors.Is(err, io.EOF) {
				t.Errorf("reader: %v, want EOF", err)
			}
			r.Close()
		}()
	}
	start := time.Now()
	p.Close()
	wg.Wait()
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("readers ended after %v, before the grace period", d)
	}
	// The key is free again for a new publisher.
	p2 := publish(t, e, testKey)
	p2.Close()
}

func TestReaderWaitsForPublisher(t *testing.T) {
	cfg := testConfig()
	cfg.MaxStreamWait = 2 * time.Second
	e := newTestEngine(t, cfg)
	got := make(chan error, 1)
	go func() {
		r, err := e.Play(context.Background(), testKey, SessionInfo{})
		if err == nil {
			_, err = r.Next(make([]*media.Frame, 0, 8))
			r.Close()
		}
		got <- err
	}()
	// Published once the reader waits, so the wait is what is tested.
	testutil.Eventually(t, 10*time.Second, "the reader to wait", func() bool { return e.Stats().WaitingReaders.Load() == 1 })
	p := publish(t, e, testKey)
	writeN(t, p, &frameSource{gop: 25}, 1)
	if err := <-got; err != nil {
		t.Fatalf("waiting reader: %v", err)
	}
	p.Close()
}

func TestReaderWaitTimesOut(t *testing.T) {
	e := newTestEngine(t, testConfig())
	start := time.Now()
	_, err := e.Play(context.Background(), testKey, SessionInfo{})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("gave up after %v, before MaxStreamWait", d)
	}
	if n, _ := e.Ping(context.Background()); n != 0 {
		t.Fatalf("%d streams left after a vain wait", n)
	}
}

func TestCloseStreamEndsPublisherAndReaders(t *testing.T) {
	e := newTestEngine(t, testConfig())
	p := publish(t, e, testKey)
	writeN(t, p, &frameSource{gop: 25}, 5)
	r := play(t, e, testKey)
	found, err := e.CloseStream(context.Background(), testKey, "closed by API")
	if err != nil || !found {
		t.Fatalf("close: found=%v err=%v", found, err)
	}
	<-p.Done()
	if _, err := readAll(r); !errors.Is(err, io.EOF) {
		t.Fatalf("reader: %v, want EOF", err)
	}
	if found, _ := e.CloseStream(context.Background(), testKey, "again"); found {
		t.Fatal("closed stream still found")
	}
}

func TestInvalidKeys(t *testing.T) {
	e := newTestEngine(t, testConfig())
	for _, k := range []Key{NewKey("", "", "s"), NewKey("", "a", ""), NewKey("", "a", "../x"), NewKey("", "a/b", "s"), NewKey("", "a", "b//c"), NewKey("", "a", "s?x")} {
		if _, err := e.Publish(context.Background(), k, SessionInfo{}); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%v: got %v, want ErrInvalidKey", k, err)
		}
	}
}

// TestChurn publishes, plays and closes streams from many goroutines at
// once; -race checks the owner discipline and goleak the cleanup.
func TestChurn(t *testing.T) {
	cfg := testConfig()
	cfg.ContinuePush = 20 * time.Millisecond
	cfg.MaxStreamWait = 50 * time.Millisecond
	e := newTestEngine(t, cfg)
	keys := []Key{NewKey("", "live", "a"), NewKey("", "live", "b"), NewKey("", "live", "c")}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 30; i++ {
				p, err := e.Publish(context.Background(), keys[(g+i)%3], SessionInfo{})
				if err != nil {
					continue
				}
				if p.SetTracks([]*media.Track{testVideo, testAudio}) == nil {
					fs := &frameSource{gop: 5}
					for j := 0; j < 20; j++ {
						for _, f := range fs.next() {
							_ = p.WriteFrame(f)
						}
					}
				}
				p.Close()
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 30; i++ {
				r, err := e.Play(context.Background(), keys[(g+i)%3], SessionInfo{})
				if err != nil {
					continue
				}
				_, _ = r.Next(make([]*media.Frame, 0, 16))
				if i%3 == 0 {
					_, _ = e.CloseStream(context.Background(), keys[i%3], "churn")
				}
				r.Close()
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		n, err := e.Ping(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 && e.Stats().Streams.Load() == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := e.Stats(); s.Streams.Load() != 0 || s.Readers.Load() != 0 || s.WaitingReaders.Load() != 0 {
		t.Fatalf("after churn: streams=%d readers=%d waiting=%d", s.Streams.Load(), s.Readers.Load(), s.WaitingReaders.Load())
	}
	// Every stream's owner gave back its place in the wake clock.
	for deadline := time.Now().Add(2 * time.Second); e.wakeClock.Joined() != 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if n := e.wakeClock.Joined(); n != 0 {
		t.Fatalf("after churn: %d streams still hold a phase of the wake clock", n)
	}
}
