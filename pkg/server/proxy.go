package server

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/mediakit/mediakit/internal/urlscheme"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/metrics"
	"github.com/mediakit/mediakit/pkg/playback"
	"github.com/mediakit/mediakit/pkg/proxy"
	"github.com/mediakit/mediakit/pkg/rtsp"
	"github.com/mediakit/mediakit/pkg/sink"
	"github.com/mediakit/mediakit/pkg/store"
)

// newProxies builds the pull and push proxies; Start restores the stored
// ones once the store is open.
func (s *Server) newProxies() *proxy.Manager {
	return proxy.NewManager(proxy.Options{
		Engine:  s.Engine,
		Store:   serverStore{s},
		Log:     s.log,
		Open:    s.openProxySource,
		NewPush: s.newPush,
	})
}

// openProxySource opens a proxy's source. A local file is confined like a
// recording path (the data dir or record.allow_paths): through the API a
// proxy must not read any file the server can.
func (s *Server) openProxySource(raw string, opts proxy.OpenOptions) (proxy.Source, error) {
	if path, local := localPath(raw); local {
		confined, err := s.confinePath(path)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", raw, err)
		}
		raw = confined
	}
	return proxy.DefaultOpenSource(raw, opts)
}

// localPath returns the file a source URL names, if it names one: a
// plain path or a file:// URL.
func localPath(raw string) (string, bool) {
	scheme, isURL := urlscheme.Of(raw)
	if !isURL {
		return raw, true // pkg/source reads these as paths too
	}
	if strings.EqualFold(scheme, "file") {
		u, err := url.Parse(raw)
		if err != nil {
			// pkg/source refuses it; confine the text anyway.
			return strings.TrimPrefix(raw, scheme+"://"), true
		}
		return u.Path, true
	}
	return "", false
}

// serverStore reaches the store that Start opens.
type serverStore struct{ s *Server }

func (st serverStore) PutTask(kind, key string, v any) error {
	return st.s.store.PutTask(kind, key, v)
}

func (st serverStore) DeleteTask(kind, key string) (bool, error) {
	return st.s.store.DeleteTask(kind, key)
}

func (st serverStore) Tasks(kind string) ([]store.Task, error) { return st.s.store.Tasks(kind) }

// pushSink adapts pkg/sink's push to a push proxy's sink.
type pushSink struct{ *sink.Push }

func (p pushSink) Err() error       { return p.Result().Err }
func (p pushSink) BytesSent() int64 { return p.BytesWritten() }

// newPush makes one attempt of a push proxy: RTMP, or RTSP (ANNOUNCE and
// RECORD, RTP over TCP or UDP by rtp_type) as ZLMediaKit pushes both.
func (s *Server) newPush(ctx context.Context, spec proxy.PushSpec) (proxy.PushSink, error) {
	opts := sink.PushOptions{ConnectTimeout: spec.Timeout, WriteTimeout: s.Config().General.WriteTimeout, Log: s.log}
	var (
		p   *sink.Push
		err error
	)
	if scheme, _ := urlscheme.Of(spec.URL); strings.EqualFold(scheme, "rtsp") {
		tr, terr := rtsp.TransportFromRTPType(spec.RTPType)
		if terr != nil {
			return nil, terr
		}
		opts.RTSPTransport = string(tr)
		p, err = sink.NewRTSPPush(ctx, spec.URL, opts)
	} else {
		p, err = sink.NewRTMPPush(ctx, spec.URL, opts)
	}
	if err != nil {
		return nil, err
	}
	return pushSink{p}, nil
}

// pullOnDemand starts a pull for players waiting on key: from the URL the
// on_stream_not_found reply named, then (or else) from the origins of
// cluster.origin_url in turn: the configured origins are the fallback
// when the hook's source fails.
func (s *Server) pullOnDemand(key engine.Key, url string) {
	c := s.Config().Cluster
	var origins []string
	for _, tmpl := range strings.Split(c.OriginURL, ";") {
		if tmpl = strings.TrimSpace(tmpl); tmpl != "" {
			origins = append(origins, fmt.Sprintf(tmpl, key.App, key.Stream))
		}
	}
	if url == "" {
		if len(origins) == 0 {
			return
		}
		url, origins = origins[0], origins[1:]
	}
	// ZLMediaKit splits cluster.timeout_sec between the origins.
	timeout := c.Timeout / time.Duration(1+len(origins))
	s.proxies.OnDemand(key, url, origins, int(c.RetryCount), timeout)
}

// observers sends engine events to the hooks and to the proxies (which
// close on-demand pulls nobody watches).
type observers struct {
	engine.Observer
	proxies *proxy.Manager
	vods    *playback.VODs
}

func (o observers) StreamNoReaders(info engine.StreamInfo) {
	o.Observer.StreamNoReaders(info)
	o.vods.StreamNoReaders(info.Key) // a recording played back closes unwatched
	// Off the owner goroutine: the proxies' lock is held across store
	// writes.
	go o.proxies.StreamNoReaders(info.Key)
}

// registerProxyMetrics exports the proxies, from one snapshot per scrape.
func (s *Server) registerProxyMetrics() {
	s.metrics.Batch([]metrics.BatchMetric{
		{Name: "proxies", Help: "Pull proxies (addStreamProxy and on-demand pulls), by state.", Labels: []string{"state"}},
		{Name: "pushers", Help: "Push proxies (addStreamPusherProxy), by state.", Labels: []string{"state"}},
		{Name: "proxy_restarts_total", Help: "Pull and push proxy attempts after one that had played.", Counter: true},
		{Name: "proxy_bytes_in_total", Help: "Bytes read by pull proxies.", Counter: true},
		{Name: "proxy_bytes_out_total", Help: "Bytes sent by push proxies.", Counter: true},
	}, func(emit func(string, float64, ...string)) {
		pulls, pushes, restarts, in, out := s.proxies.Counts()
		for _, st := range proxy.States {
			emit("proxies", float64(pulls[st]), string(st))
			emit("pushers", float64(pushes[st]), string(st))
		}
		emit("proxy_restarts_total", float64(restarts))
		emit("proxy_bytes_in_total", float64(in))
		emit("proxy_bytes_out_total", float64(out))
	})
}

// streamCloser closes streams for close_stream, close_streams and
// on_stream_none_reader. An FFmpeg source publishing the stream is
// deleted first, as ZLMediaKit erases it, or it would be restarted and
// publish again; a pull proxy notices its stream closing by itself.
type streamCloser struct{ s *Server }

func (c streamCloser) CloseStream(ctx context.Context, key engine.Key, reason string) (bool, error) {
	if c.s.ffmpeg != nil {
		if n := c.s.ffmpeg.DeleteStream(ctx, key); n > 0 {
			c.s.log.Info("ffmpeg source deleted: its stream was closed", "stream", key.String(), "sources", n)
		}
	}
	return c.s.Engine.CloseStream(ctx, key, reason)
}

// apiEngine is the engine as the API sees it, closing through
// streamCloser.
type apiEngine struct {
	*engine.Engine
	closer streamCloser
}

func (a apiEngine) CloseStream(ctx context.Context, key engine.Key, reason string) (bool, error) {
	return a.closer.CloseStream(ctx, key, reason)
}
