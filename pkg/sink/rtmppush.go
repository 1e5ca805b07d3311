package sink

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/rtmp"
)

// DefaultTimeout is the default connect and write timeout of a push.
const DefaultTimeout = 10 * time.Second

// detachLinger is how long a push whose Reader was closed (the sink
// detached, not the stream ended) may go on sending what it holds before
// it is cut: a stuck server must not hold up a DetachSink for a whole
// write timeout.
const detachLinger = time.Second

// RTMPPushOptions tune an RTMPPush. Zero values select the defaults.
type RTMPPushOptions struct {
	// ConnectTimeout bounds connecting: TCP, the handshake, each reply
	// during setup and the wait for NetStream.Publish.Start. Default
	// DefaultTimeout.
	ConnectTimeout time.Duration
	// WriteTimeout bounds each write; a server that takes nothing for
	// that long ends the push with an error. Default DefaultTimeout.
	WriteTimeout time.Duration
	// Log gets "rtmp push started" (info) and skipped codecs (warn).
	// Failures are not logged: they are in Result().Err for the caller
	// to report. Nil discards.
	Log *slog.Logger
}

// RTMPPush publishes a stream to an RTMP server. It connects at the first
// frame, so a source that takes its time to start does not leave an idle
// publisher for the server to drop. One RTMPPush is one connection: a
// caller that retries makes a new one.
//
// It ends:
//   - when its Reader ends (the stream ended: what was sent is delivered
//     and the session closed politely; the sink was detached: the same,
//     but cut after detachLinger if the server does not take it);
//   - at once on Close, or when ctx ends while it is still connecting
//     (ctx bounds connecting only, so that a caller can give up on a
//     server that does not answer and still let a working push finish).
//
// Result().Err is the failure that ended it, naming the URL; nil when it
// ended for one of the reasons above. BytesWritten counts the bytes sent
// on the connection while it runs (bytesSpeed, totalBytes).
type RTMPPush struct {
	ctx     context.Context
	url     string
	display string
	opts    RTMPPushOptions
	log     *slog.Logger

	// Set by the Run goroutine, read by Close and BytesWritten.
	client   atomic.Pointer[rtmp.Client]
	stopping atomic.Bool // Close was called: errors are not failures
	stop     chan struct{}
	stopOnce sync.Once

	// Run goroutine only.
	skipped codecWarnings
	frames  atomic.Int64
	first   time.Duration
	last    time.Duration
	res     Result
}

// NewRTMPPush returns a push to rawURL (rtmp://host[:port]/app/stream);
// an URL that does not parse is an error naming it.
func NewRTMPPush(ctx context.Context, rawURL string, opts RTMPPushOptions) (*RTMPPush, error) {
	u, err := rtmp.ParseClientURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("rtmp push: %w", err)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultTimeout
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultTimeout
	}
	return &RTMPPush{
		ctx: ctx, url: rawURL, display: u.Display, opts: opts,
		log:  orDiscard(opts.Log).With("url", u.Display),
		stop: make(chan struct{}),
	}, nil
}

// URL is the destination, password redacted.
func (p *RTMPPush) URL() string { return p.display }

// BytesWritten is the number of bytes sent so far. Safe for concurrent
// use.
func (p *RTMPPush) BytesWritten() int64 {
	if c := p.client.Load(); c != nil {
		return c.BytesWritten()
	}
	return 0
}

// FramesWritten is the number of frames sent so far. Safe for
// concurrent use.
func (p *RTMPPush) FramesWritten() int64 { return p.frames.Load() }

// Result is what the push sent; valid once Run has returned.
func (p *RTMPPush) Result() Result {
	r := p.res
	r.Bytes, r.Frames, r.Duration = p.BytesWritten(), p.FramesWritten(), p.last-p.first
	return r
}

// Close ends the push at once, from any goroutine: a connection attempt
// is abandoned, a blocked write fails, and Run returns without an error.
// The RTMP client still says goodbye to the server when it can.
func (p *RTMPPush) Close() {
	p.stopOnce.Do(func() {
		p.stopping.Store(true)
		close(p.stop)
		if c := p.client.Load(); c != nil {
			_ = c.Close()
		}
	})
}

// Run pushes the frames of r until r ends, the push fails or is closed.
func (p *RTMPPush) Run(r *engine.Reader) {
	runDone := make(chan struct{})
	defer close(runDone)
	stopWatch := r.OnDone(func() {
		t := time.NewTimer(detachLinger)
		defer t.Stop()
		select {
		case <-t.C:
			p.Close()
		case <-runDone:
		}
	})
	defer stopWatch()
	defer p.closeClient()

	buf := make([]*media.Frame, 0, 64)
	for {
		frames, err := r.Next(buf[:0])
		for _, f := range frames {
			done, werr := p.write(r, f)
			if werr != nil {
				if !p.stopping.Load() {
					p.res.Err = werr
				}
				clear(frames)
				return
			}
			if done {
				clear(frames)
				return
			}
		}
		clear(frames)
		if err != nil {
			if ferr := readerFailure(err); ferr != nil && !p.stopping.Load() {
				p.res.Err = fmt.Errorf("rtmp push %s: %w", p.display, ferr)
			}
			return
		}
	}
}

// write sends f, connecting first if need be. done reports that the push
// gave up connecting because ctx ended or Close was called.
func (p *RTMPPush) write(r *engine.Reader, f *media.Frame) (done bool, err error) {
	if !flv.SupportsCodec(f.Track.Codec) {
		p.skipped.skip(p.log, "RTMP", f.Track.Codec)
		r.DropTrack("rtmp-push", f.Track, "FLV cannot carry "+f.Track.Codec.String())
		return false, nil
	}
	c := p.client.Load()
	if c == nil {
		var err error
		if c, err = p.connect(r); c == nil {
			return err == nil, err
		}
	}
	if err := c.WriteFrame(f); err != nil {
		return false, err
	}
	if p.frames.Load() == 0 {
		p.first, p.last = f.DTS, f.DTS
	}
	p.first, p.last = min(p.first, f.DTS), max(p.last, f.DTS)
	p.frames.Add(1)
	return false, nil
}

// connect publishes to the server and sends the stream's tracks. It
// returns a nil client and a nil error when ctx ended or Close was called
// while connecting.
func (p *RTMPPush) connect(r *engine.Reader) (*rtmp.Client, error) {
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	go func() { // Close abandons the attempt
		select {
		case <-p.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	c, err := rtmp.DialPublish(ctx, p.url, rtmp.ClientOptions{
		ReadTimeout:  p.opts.ConnectTimeout,
		StartTimeout: p.opts.ConnectTimeout,
		WriteTimeout: p.opts.WriteTimeout,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil // interrupted before the server answered
		}
		return nil, err
	}
	p.client.Store(c)
	if p.stopping.Load() {
		// Close ran between the dial and the Store, and saw no client.
		_ = c.Close()
		return nil, nil
	}
	var tracks []*media.Track
	for _, t := range r.Tracks() {
		if flv.SupportsCodec(t.Codec) {
			tracks = append(tracks, t)
		}
	}
	if err := c.WriteTracks(tracks, r.Metadata()); err != nil {
		return nil, err
	}
	p.log.Info("rtmp push started")
	return c, nil
}

// closeClient ends the session; the client waits briefly for the server
// to take what was sent.
func (p *RTMPPush) closeClient() {
	if c := p.client.Load(); c != nil {
		_ = c.Close()
	}
}
