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
	"github.com/mediakit/mediakit/pkg/rtsp"
)

// DefaultTimeout is the default connect and write timeout of a push.
const DefaultTimeout = 10 * time.Second

// detachLinger is how long a push whose Reader was closed (the sink
// detached, not the stream ended) may go on sending what it holds before
// it is cut: a stuck server must not hold up a DetachSink for a whole
// write timeout.
const detachLinger = time.Second

// PushOptions tune a Push. Zero values select the defaults.
type PushOptions struct {
	// ConnectTimeout bounds connecting: TCP, the handshake, each reply
	// during setup and the wait for NetStream.Publish.Start. Default
	// DefaultTimeout.
	ConnectTimeout time.Duration
	// WriteTimeout bounds each write; a server that takes nothing for
	// that long ends the push with an error. Default DefaultTimeout.
	WriteTimeout time.Duration
	// Log gets "push started" (info) and skipped codecs (warn).
	// Failures are not logged: they are in Result().Err for the caller
	// to report. Nil discards.
	Log *slog.Logger
	// RTSPTransport is how an RTSP push sends RTP: "tcp" (interleaved,
	// the default) or "udp".
	RTSPTransport string
}

// Push publishes a stream to an RTMP or RTSP server. It connects at the
// first frame, so a source that takes its time to start does not leave an
// idle publisher for the server to drop. One Push is one connection: a
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
type Push struct {
	ctx     context.Context
	url     string
	display string
	opts    PushOptions
	log     *slog.Logger
	proto   pushProtocol

	// Set by the Run goroutine, read by Close and BytesWritten.
	client   atomic.Pointer[pushClient]
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

// pushClient is one protocol's publishing session.
type pushClient interface {
	WriteFrame(f *media.Frame) error
	BytesWritten() int64
	Close() error
}

// pushProtocol is what differs between an RTMP and an RTSP push.
type pushProtocol struct {
	// name prefixes errors and logs ("rtmp push"); output names the
	// push in track drops ("rtmp-push"); container is what cannot carry
	// a codec ("RTMP").
	name, output, container string
	carries                 func(media.Codec) bool
	// dial connects and announces the tracks that carries accepts.
	dial func(ctx context.Context, url string, tracks []*media.Track, r *engine.Reader, o PushOptions) (pushClient, error)
}

var rtmpPush = pushProtocol{
	name: "rtmp push", output: "rtmp-push", container: "RTMP", carries: flv.SupportsCodec,
	dial: func(ctx context.Context, url string, tracks []*media.Track, r *engine.Reader, o PushOptions) (pushClient, error) {
		c, err := rtmp.DialPublish(ctx, url, rtmp.ClientOptions{
			ReadTimeout:  o.ConnectTimeout,
			StartTimeout: o.ConnectTimeout,
			WriteTimeout: o.WriteTimeout,
		})
		if err != nil {
			return nil, err
		}
		// Close (ctx) must cut a server that stalls taking the headers.
		stop := context.AfterFunc(ctx, func() { _ = c.Close() })
		defer stop()
		if err := c.WriteTracks(tracks, r.Metadata()); err != nil {
			_ = c.Close()
			return nil, err
		}
		return c, nil
	},
}

var rtspPush = pushProtocol{
	name: "rtsp push", output: "rtsp-push", container: "RTSP", carries: rtsp.Carries,
	dial: func(ctx context.Context, url string, tracks []*media.Track, _ *engine.Reader, o PushOptions) (pushClient, error) {
		return rtsp.DialPublish(ctx, url, tracks, rtsp.ClientOptions{
			Transport:    rtsp.Transport(o.RTSPTransport),
			ReadTimeout:  o.ConnectTimeout,
			WriteTimeout: o.WriteTimeout,
			Log:          o.Log,
		})
	},
}

// NewRTMPPush returns a push to rawURL (rtmp://host[:port]/app/stream);
// an URL that does not parse is an error naming it.
func NewRTMPPush(ctx context.Context, rawURL string, opts PushOptions) (*Push, error) {
	u, err := rtmp.ParseClientURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("rtmp push: %w", err)
	}
	return newPush(ctx, rawURL, u.Display, rtmpPush, opts), nil
}

// NewRTSPPush returns a push to rawURL (rtsp://host[:port]/path, ANNOUNCE
// and RECORD); an URL that does not parse is an error naming it.
func NewRTSPPush(ctx context.Context, rawURL string, opts PushOptions) (*Push, error) {
	display, err := rtsp.ParseClientURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("rtsp push: %w", err)
	}
	if _, err := rtsp.ParseTransport(opts.RTSPTransport); err != nil {
		return nil, fmt.Errorf("rtsp push: %w", err)
	}
	return newPush(ctx, rawURL, display, rtspPush, opts), nil
}

func newPush(ctx context.Context, rawURL, display string, proto pushProtocol, opts PushOptions) *Push {
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultTimeout
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultTimeout
	}
	return &Push{
		ctx: ctx, url: rawURL, display: display, opts: opts, proto: proto,
		log:  orDiscard(opts.Log).With("url", display),
		stop: make(chan struct{}),
	}
}

// URL is the destination, password redacted.
func (p *Push) URL() string { return p.display }

// BytesWritten is the number of bytes sent so far. Safe for concurrent
// use.
func (p *Push) BytesWritten() int64 {
	if c := p.client.Load(); c != nil {
		return (*c).BytesWritten()
	}
	return 0
}

// FramesWritten is the number of frames sent so far. Safe for
// concurrent use.
func (p *Push) FramesWritten() int64 { return p.frames.Load() }

// Result is what the push sent; valid once Run has returned.
func (p *Push) Result() Result {
	r := p.res
	r.Bytes, r.Frames, r.Duration = p.BytesWritten(), p.FramesWritten(), p.last-p.first
	return r
}

// Close ends the push at once, from any goroutine: a connection attempt
// is abandoned, a blocked write fails, and Run returns without an error.
// The RTMP client still says goodbye to the server when it can.
func (p *Push) Close() {
	p.stopOnce.Do(func() {
		p.stopping.Store(true)
		close(p.stop)
		if c := p.client.Load(); c != nil {
			_ = (*c).Close()
		}
	})
}

// Run pushes the frames of r until r ends, the push fails or is closed.
func (p *Push) Run(r *engine.Reader) {
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
				p.res.Err = fmt.Errorf("%s %s: %w", p.proto.name, p.display, ferr)
			}
			return
		}
	}
}

// write sends f, connecting first if need be. done reports that the push
// gave up connecting because ctx ended or Close was called.
func (p *Push) write(r *engine.Reader, f *media.Frame) (done bool, err error) {
	if !p.proto.carries(f.Track.Codec) {
		p.skipped.skip(p.log, p.proto.container, f.Track.Codec)
		r.DropTrack(p.proto.output, f.Track, p.proto.container+" cannot carry "+f.Track.Codec.String())
		return false, nil
	}
	var c pushClient
	if cp := p.client.Load(); cp != nil {
		c = *cp
	} else {
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

// connect publishes to the server with the stream's tracks. It returns a
// nil client and a nil error when ctx ended or Close was called while
// connecting.
func (p *Push) connect(r *engine.Reader) (pushClient, error) {
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	go func() { // Close abandons the attempt
		select {
		case <-p.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var tracks []*media.Track
	for _, t := range r.Tracks() {
		if p.proto.carries(t.Codec) {
			tracks = append(tracks, t)
		}
	}
	c, err := p.proto.dial(ctx, p.url, tracks, r, p.opts)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil // interrupted before the server answered
		}
		return nil, err
	}
	p.client.Store(&c)
	if p.stopping.Load() {
		// Close ran between the dial and the Store, and saw no client.
		_ = c.Close()
		return nil, nil
	}
	p.log.Info(p.proto.name + " started")
	return c, nil
}

// closeClient ends the session; the client waits briefly for the server
// to take what was sent.
func (p *Push) closeClient() {
	if c := p.client.Load(); c != nil {
		_ = (*c).Close()
	}
}
