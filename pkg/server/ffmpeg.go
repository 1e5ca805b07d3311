package server

import (
	"context"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/ffmpegsrc"
	"github.com/mediakit/mediakit/pkg/metrics"
)

// newFFmpegSources builds the FFmpeg sources (addFFmpegSource): the
// executable and command template as configured at start (never through
// the API), ffmpeg.restart_sec as it is at each ffmpeg start, local files
// confined by the path guard, the engine telling
// when a destination stream is live, tasks kept in the store that Start
// opens. Start restores the stored ones. It exports their metrics.
func (s *Server) newFFmpegSources() *ffmpegsrc.Manager {
	cfg := s.Config().FFmpeg
	m := ffmpegsrc.NewManager(ffmpegsrc.Options{
		Bin:          cfg.Bin,
		Cmd:          cfg.Cmd,
		Templates:    cfg.Templates,
		RestartEvery: func() time.Duration { return s.Config().FFmpeg.RestartSec },
		Confine:      s.confinePath,
		IsLocal:      s.ffmpegDestLocal,
		Waiter:       engineWaiter{s.Engine},
		Store:        serverStore{s},
		Log:          s.log,
	})
	s.registerFFmpegMetrics(m)
	return m
}

// registerFFmpegMetrics exports the sources by state and their restarts,
// from one snapshot per scrape.
func (s *Server) registerFFmpegMetrics(m *ffmpegsrc.Manager) {
	s.metrics.Batch([]metrics.BatchMetric{
		{Name: "ffmpeg_sources", Help: "FFmpeg sources (addFFmpegSource), by state.", Labels: []string{"state"}},
		{Name: "ffmpeg_restarts_total", Help: "Restarts of FFmpeg sources' ffmpeg, after it ended or ffmpeg.restart_sec.", Counter: true},
	}, func(emit func(string, float64, ...string)) {
		c := m.Counts()
		for _, st := range ffmpegsrc.States {
			emit("ffmpeg_sources", float64(c.ByState[st]), string(st))
		}
		emit("ffmpeg_restarts_total", float64(c.Restarts))
	})
}

// ffmpegOptions gives a stream that an FFmpeg source pushes the options
// its addFFmpegSource asked for (enable_hls, enable_mp4), over those of
// the on_publish reply. sinkPolicy calls it on the stream's owner
// goroutine: so a pulled source's recorders are set up by the stream's
// owner, never by the ffmpeg supervisor (failure-modes.md 1). The
// engine's map is not changed.
func ffmpegOptions(m *ffmpegsrc.Manager, info engine.StreamInfo) engine.StreamInfo {
	if m == nil {
		return info
	}
	opts, ok := m.StreamOptions(info.Key)
	if !ok {
		return info
	}
	values := make(map[string]string, len(info.Options.Values)+len(opts))
	maps.Copy(values, info.Options.Values)
	maps.Copy(values, opts)
	info.Options.Values = values
	return info
}

// engineWaiter tells when a stream is live on this server. The engine
// has nothing to wait on for a stream that does not exist yet; Add waits
// seconds, so a poll every 100 ms costs nothing and answers soon enough.
type engineWaiter struct{ e *engine.Engine }

func (w engineWaiter) WaitLive(ctx context.Context, key engine.Key) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		info, found, err := w.e.Stream(ctx, key)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if found && info.State == engine.StateLive && info.Ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// ffmpegDestLocal reports whether an FFmpeg source's destination is this
// server: rtmp:// (there is no RTMPS listener) to the RTMP listener's
// port on localhost, this machine's name, or one of its addresses. Any
// other destination cannot be watched in the engine; Add then answers
// as ZLMediaKit does, by whether ffmpeg still runs after timeout_ms.
// Names are not resolved: Restore runs before anything else, and DNS
// may be slow or down.
func (s *Server) ffmpegDestLocal(dst string) bool {
	u, err := url.Parse(dst)
	if err != nil || !strings.EqualFold(u.Scheme, "rtmp") {
		return false
	}
	port := u.Port()
	if port == "" {
		port = "1935"
	}
	if _, ours, err := net.SplitHostPort(s.RTMPAddr()); err != nil || ours != port {
		return false
	}
	return isLocalHost(u.Hostname())
}

// isLocalHost reports whether host names this machine without a lookup.
func isLocalHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	if name, err := os.Hostname(); err == nil && strings.EqualFold(h, name) {
		return true
	}
	ip, err := netip.ParseAddr(h)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsUnspecified() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Unmap() == ip {
			return true
		}
	}
	return false
}
