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

// httpSource reads HTTP-FLV: a GET whose body is an FLV stream, live or
// not.
type httpSource struct {
	url     string
	display string
	opts    Options
	bytes   atomic.Int64
	size    atomic.Int64 // Content-Length of the last response; 0 before
}

func (s *httpSource) String() string   { return s.display }
func (s *httpSource) BytesRead() int64 { return s.bytes.Load() }

func (s *httpSource) Size() int64 {
	if n := s.size.Load(); n > 0 {
		return n
	}
	return -1
}

// errIdle ends a request whose body sent nothing for ReadTimeout.
var errIdle = errors.New("idle")

func (s *httpSource) Run(ctx context.Context, sink flv.FrameSink) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, s.url, nil)
	if err != nil {
		return fmt.Errorf("source: GET %s: %w", s.display, err)
	}
	req.Header.Set("User-Agent", "mediakit")
	client := s.opts.HTTPClient
	if client == nil {
		client = s.newClient()
		defer client.CloseIdleConnections()
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("source: GET %s: %w", s.display, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("source: GET %s: %s", s.display, resp.Status)
	}
	s.size.Store(resp.ContentLength)

	// A live body may stall forever: end the request when nothing comes
	// for ReadTimeout.
	idle := time.AfterFunc(s.opts.ReadTimeout, func() { cancel(errIdle) })
	defer idle.Stop()
	body := &idleReader{r: resp.Body, timer: idle, timeout: s.opts.ReadTimeout}
	err = readFLV(ctx, s.display, countingReader{r: body, n: &s.bytes}, s.opts.MaxTagSize, false, sink)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil && errors.Is(context.Cause(rctx), errIdle) {
		return fmt.Errorf("source: read %s: nothing received for %v", s.display, s.opts.ReadTimeout)
	}
	return err
}

// newClient returns a client that keeps no idle connections, so that no
// goroutine outlives Run.
func (s *httpSource) newClient() *http.Client {
	d := &net.Dialer{Timeout: s.opts.ReadTimeout}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   s.opts.ReadTimeout,
		ResponseHeaderTimeout: s.opts.StartTimeout,
		DisableKeepAlives:     true,
		ForceAttemptHTTP2:     true,
	}}
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

// idleReader pushes back an idle timer on every read that returns data.
type idleReader struct {
	r       io.Reader
	timer   *time.Timer
	timeout time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.timer.Reset(r.timeout)
	}
	return n, err
}
