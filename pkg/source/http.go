package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/format/flv"
)

// httpSource reads HTTP-FLV or HTTP-TS: a GET whose body is an FLV or
// MPEG-TS stream, live (endless, chunked) or not.
type httpSource struct {
	url     string
	display string
	format  format
	opts    Options
	bytes   atomic.Int64
	size    atomic.Int64 // Content-Length of the last response; 0 before
	damageNote
}

func (s *httpSource) String() string   { return s.display }
func (s *httpSource) BytesRead() int64 { return s.bytes.Load() }

func (s *httpSource) Size() int64 {
	if n := s.size.Load(); n > 0 {
		return n
	}
	return -1
}

// errStalled is the cause of a request the watchdog ended.
var errStalled = errors.New("stalled")

func (s *httpSource) Run(ctx context.Context, sink flv.FrameSink) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	client, done := httpClient(s.opts)
	defer done()
	resp, err := get(rctx, client, s.url, s.opts.StartTimeout)
	if err != nil {
		return runResult(ctx, fmt.Errorf("source: GET %s: %w", s.display, err))
	}
	defer resp.Body.Close()
	s.size.Store(resp.ContentLength)

	// A live body may stall forever, or send anything but media: end the
	// request when no media frame comes for ReadTimeout.
	wd := startWatchdog(s.opts.ReadTimeout, func() { cancel(errStalled) })
	fd := newFeed(rctx, sink, s.opts, false)
	defer s.note(fd)
	fd.wd = wd
	body := countingReader{r: resp.Body, n: &s.bytes}
	if s.format == formatTS {
		err = readTS(fd, body)
		if err != nil && rctx.Err() == nil && fd.out.failed() == nil {
			err = fmt.Errorf("source: read %s: %w", s.display, err)
		}
	} else {
		err = readFLV(fd, s.display, body, s.opts.MaxTagSize)
	}
	stalled := wd.disarm()
	if ferr := fd.flush(); err == nil && ferr != nil {
		err = fmt.Errorf("source: %s: %w", s.display, ferr)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil && stalled {
		return wd.err(s.display)
	}
	return err
}

// httpClient returns opts' client, or one of the source's own for one
// Run, and what to call when the Run ends so that no connection (and no
// goroutine) outlives it.
func httpClient(opts Options) (*http.Client, func()) {
	if opts.HTTPClient != nil {
		return opts.HTTPClient, func() {}
	}
	d := &net.Dialer{Timeout: opts.ReadTimeout}
	c := &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         d.DialContext,
		TLSHandshakeTimeout: opts.ReadTimeout,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 2,
	}}
	return c, c.CloseIdleConnections
}

// errNoHeaders is the cause of a request whose response did not start in
// time.
var errNoHeaders = errors.New("no response")

// get sends a GET and returns the response once its headers came within
// headerTimeout, or an error for anything but 200 OK. The response's
// body reads under ctx.
func get(ctx context.Context, client *http.Client, rawURL string, headerTimeout time.Duration) (*http.Response, error) {
	rctx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, rawURL, nil)
	if err != nil {
		cancel(nil)
		return nil, err
	}
	req.Header.Set("User-Agent", "mediakit")
	t := time.AfterFunc(headerTimeout, func() { cancel(errNoHeaders) })
	resp, err := client.Do(req)
	stopped := t.Stop()
	if err != nil {
		cancel(nil)
		if !stopped && ctx.Err() == nil {
			return nil, fmt.Errorf("no response headers within %v", headerTimeout)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, unwrapURLError(err)
	}
	if !stopped {
		resp.Body.Close()
		cancel(nil)
		return nil, fmt.Errorf("no response headers within %v", headerTimeout)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel(nil)
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	// The request's context must live as long as its body.
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelBody releases its request's context when closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

// unwrapURLError drops the *url.Error wrapper, whose message repeats the
// method and the URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}
