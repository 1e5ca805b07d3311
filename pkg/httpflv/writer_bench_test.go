package httpflv

import (
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
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/internal/livehttp"
	"github.com/mediakit/mediakit/pkg/media"
)

type framing = livehttp.Framing

const (
	framingRaw       = livehttp.FramingRaw
	framingChunked   = livehttp.FramingChunked
	framingWebSocket = livehttp.FramingWebSocket
)

// newFLVWriter returns the shared writer with this package's FLV encoder.
func newFLVWriter(conn net.Conn, r *engine.Reader, fr framing, writeTimeout time.Duration) *livehttp.Writer {
	return livehttp.NewWriter(conn, r, newEncoder(r), fr, writeTimeout)
}

// hookConn is a loopback TCP connection that runs hook whenever the writer
// sets a write deadline, which it does once per batch, just before writing
// it. Embedding *net.TCPConn keeps the writev path of net.Buffers.
type hookConn struct {
	*net.TCPConn
	hook func()
}

func (c *hookConn) SetWriteDeadline(t time.Time) error {
	if c.hook != nil {
		c.hook()
	}
	return c.TCPConn.SetWriteDeadline(t)
}

// writerRig is an engine stream with one reader written by the FLV writer to
// a loopback TCP connection that a goroutine drains.
type writerRig struct {
	e        *engine.Engine
	pub      *engine.Publisher
	baseline *engine.Publisher // same tracks, no reader
	fw       *livehttp.Writer
	conn     *hookConn
	peer     net.Conn
	drained  chan struct{}

	video, audio *media.Track
	vPayload     []byte
	aPayload     []byte
	n            int // frames published on pub
	nBase        int // frames published on baseline
}

func newWriterRig(tb testing.TB, fr framing) *writerRig {
	tb.Helper()
	cfg := engine.DefaultConfig()
	cfg.ContinuePush = 0 // the stream ends as soon as the publisher closes
	cfg.MaxReaderLag = 0
	e := engine.New(cfg, nil)
	r := &writerRig{e: e, drained: make(chan struct{})}
	tb.Cleanup(func() {
		e.Close()
		if r.conn != nil {
			r.conn.Close()
		}
		if r.peer != nil {
			r.peer.Close()
			<-r.drained
		}
	})
	r.video, r.audio = clipTracks(tb)
	// AVCC: one 1 KB non-IDR slice; AAC: 200 bytes. Payloads are shared by
	// every frame: they are never modified.
	r.vPayload = media.AppendAVCC(nil, append([]byte{0x41}, make([]byte, 1023)...))
	r.aPayload = make([]byte, 200)

	ctx := context.Background()
	info := engine.SessionInfo{ID: "bench", Protocol: "test"}
	var err error
	if r.pub, err = e.Publish(ctx, engine.NewKey("", "bench", "a"), info); err != nil {
		tb.Fatal(err)
	}
	if r.baseline, err = e.Publish(ctx, engine.NewKey("", "bench", "base"), info); err != nil {
		tb.Fatal(err)
	}
	for _, p := range []*engine.Publisher{r.pub, r.baseline} {
		if err := p.SetTracks([]*media.Track{r.video, r.audio}); err != nil {
			tb.Fatal(err)
		}
	}
	reader, err := e.Play(ctx, engine.NewKey("", "bench", "a"), info)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(reader.Close)

	var server *net.TCPConn
	r.peer, server = testutil.TCPPair(tb)
	go func() {
		defer close(r.drained)
		buf := make([]byte, 256<<10)
		for {
			if _, err := r.peer.Read(buf); err != nil {
				return
			}
		}
	}()
	r.conn = &hookConn{TCPConn: server}
	r.fw = newFLVWriter(r.conn, reader, fr, time.Minute)
	return r
}

// frame returns frame i of a stream of one video frame (a keyframe every
// 25) for two audio frames.
func (r *writerRig) frame(i int) *media.Frame {
	ts := time.Duration(i) * 15 * time.Millisecond
	if i%3 == 0 {
		return &media.Frame{Track: r.video, DTS: ts, PTS: ts, Key: i%75 == 0, Payload: r.vPayload}
	}
	return &media.Frame{Track: r.audio, DTS: ts, PTS: ts, Key: true, Payload: r.aPayload}
}

// publish writes k frames to p and builds their shared FLV tags, which
// every FLV reader of the frame would use.
func (r *writerRig) publish(tb testing.TB, p *engine.Publisher, count *int, k int) {
	for range k {
		f := r.frame(*count)
		*count++
		if err := p.WriteFrame(f); err != nil {
			tb.Fatal(err)
		}
		flv.FrameTag(f)
	}
}

// run makes the writer write batches batches of k frames each, after a
// first one: whenever the writer is about to write a batch, the next batch
// is published, so the writer's next reader.Next finds exactly k frames.
// It returns the heap allocations per batch of the measured batches (their
// publishing included) and of publishing a batch alone. start and stop, if
// set, run at the ends of the measured part.
func (r *writerRig) run(tb testing.TB, batches, k int, start, stop func()) (total, publishing float64) {
	tb.Helper()
	if k > r.fw.FrameCap() {
		tb.Fatalf("batch of %d frames exceeds the writer's %d", k, r.fw.FrameCap())
	}
	// What publishing a batch costs by itself: the frames, their list
	// nodes and wake-ups, their tags.
	r.publish(tb, r.baseline, &r.nBase, k) // warm up
	publishing = testing.AllocsPerRun(100, func() { r.publish(tb, r.baseline, &r.nBase, k) })

	// The first batch carries the FLV header, metadata and sequence
	// headers, and sizes the writer's buffers: it is not measured.
	r.publish(tb, r.pub, &r.n, k)
	var before, after runtime.MemStats
	calls := 0
	r.conn.hook = func() {
		calls++
		switch {
		case calls == 1: // about to write the first batch
			runtime.ReadMemStats(&before)
			if start != nil {
				start()
			}
			r.publish(tb, r.pub, &r.n, k)
		case calls <= batches:
			r.publish(tb, r.pub, &r.n, k)
		case calls == batches+1: // about to write the last batch
			if stop != nil {
				stop()
			}
			runtime.ReadMemStats(&after)
			r.pub.Close() // the stream ends after this batch
		}
	}
	err := r.fw.Run()
	if !errors.Is(err, io.EOF) {
		tb.Fatalf("writer ended with %v, want io.EOF", err)
	}
	// the first batch and the measured ones (the session, not the
	// writer, ends the body)
	if calls != batches+1 {
		tb.Fatalf("%d deadline calls, want %d", calls, batches+1)
	}
	return float64(after.Mallocs-before.Mallocs) / float64(batches), publishing
}

// BenchmarkFLVWriter measures one FLV writer writing batches of frames to a
// loopback TCP connection with writev. allocs/op counts everything per
// batch, including publishing the batch's frames (the frames, the engine's
// list nodes and wake-ups, the shared FLV tags); writer-allocs/op is what
// the writer itself allocates, which must be 0.
func BenchmarkFLVWriter(b *testing.B) {
	for _, fr := range []framing{framingChunked, framingWebSocket} {
		for _, k := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/frames=%d", framingName(fr), k), func(b *testing.B) {
				r := newWriterRig(b, fr)
				b.ReportAllocs()
				b.SetBytes(int64(k * (len(r.vPayload) + 2*len(r.aPayload)) / 3))
				b.StopTimer()
				b.ResetTimer()
				total, publishing := r.run(b, b.N, k, b.StartTimer, b.StopTimer)
				b.ReportMetric(total-publishing, "writer-allocs/op")
				b.ReportMetric(publishing, "publish-allocs/op")
			})
		}
	}
}

func framingName(fr framing) string {
	switch fr {
	case framingChunked:
		return "chunked"
	case framingWebSocket:
		return "ws"
	}
	return "raw"
}

// TestFLVWriterSteadyStateAllocs: after the first batch the writer
// allocates nothing per batch.
func TestFLVWriterSteadyStateAllocs(t *testing.T) {
	for _, fr := range []framing{framingChunked, framingWebSocket, framingRaw} {
		for _, k := range []int{1, 16, 64} {
			t.Run(fmt.Sprintf("%s/frames=%d", framingName(fr), k), func(t *testing.T) {
				r := newWriterRig(t, fr)
				batches := max(50, 2000/k)
				total, publishing := r.run(t, batches, k, nil, nil)
				writer := total - publishing
				t.Logf("%d batches of %d frames: %.3f allocs per batch, %.3f of them publishing", batches, k, total, publishing)
				// A stray allocation of the runtime may land in the
				// window; one per batch or more is the writer's.
				if writer > 0.5 {
					t.Errorf("writer allocates %.2f times per batch of %d frames, want 0", writer, k)
				}
			})
		}
	}
}
