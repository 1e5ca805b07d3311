package server

import (
	"context"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/hls"
	"github.com/mediakit/mediakit/pkg/record"
)

// sinkPolicy starts what the configuration and the on_publish reply ask
// for on a stream that becomes ready (live HLS, MP4 recording), from its
// first frame. It runs on the stream's owner goroutine: no blocking.
func (s *Server) sinkPolicy(info engine.StreamInfo) map[string]func() engine.Sink {
	info = ffmpegOptions(s.ffmpeg, info)
	cfg := s.Config()
	sinks := map[string]func() engine.Sink{}
	if enabled, demand := s.hlsPolicy(info); enabled && !demand {
		sinks[hls.SinkName] = s.hls.NewSink(info.Key, false)
	}
	if option(info, "enable_mp4", cfg.Protocol.EnableMP4) {
		// Nobody starts this recording again after a full disk: it
		// resumes by itself, in a new file, once writes succeed.
		opts := record.Options{Resume: true}
		if p := info.Options.Values["mp4_save_path"]; p != "" {
			// A path from the on_publish reply is confined like one from
			// the API; a refused one records under the default root, so
			// the recording is not lost.
			if confined, err := s.confinePath(p); err != nil {
				s.log.Warn("on_publish mp4_save_path refused; recording under the default root",
					"stream", info.Key.String(), "error", err.Error())
			} else {
				opts.CustomizedPath = confined
			}
		}
		if v, ok := info.Options.Values["mp4_max_second"]; ok {
			if n, err := strconv.ParseFloat(v, 64); err == nil && n > 0 {
				// A value past what a Duration holds means "never split",
				// not a wrapped (negative) length.
				opts.MaxSecond = time.Duration(math.MaxInt64)
				if n < float64(math.MaxInt64)/float64(time.Second) {
					opts.MaxSecond = time.Duration(n * float64(time.Second))
				}
			}
		}
		params := ""
		if info.Publisher != nil {
			params = info.Publisher.Params
		}
		if newSink, err := s.records.NewSink(info.Key, params, record.TypeMP4, opts); err == nil {
			sinks[record.SinkName(record.TypeMP4)] = newSink
		} else {
			s.log.Warn("mp4 recording not started", "stream", info.Key.String(), "error", err.Error())
		}
	}
	return sinks
}

// option reads a per-stream option of the on_publish reply, falling back
// to the configured default.
func option(info engine.StreamInfo, name string, def bool) bool {
	v, ok := info.Options.Values[name]
	if !ok {
		return def
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	return def
}

// hlsPolicy tells whether a stream has live HLS, and whether on demand.
func (s *Server) hlsPolicy(info engine.StreamInfo) (enabled, demand bool) {
	info = ffmpegOptions(s.ffmpeg, info)
	cfg := s.Config()
	return option(info, "enable_hls", cfg.Protocol.EnableHLS), option(info, "hls_demand", cfg.Protocol.HLSDemand)
}

func (s *Server) hlsSettings() hls.LiveSettings {
	cfg := s.Config()
	idle := time.Duration(cfg.HLS.SegNum+cfg.HLS.SegRetain) * cfg.HLS.SegDur * 2
	if idle < 30*time.Second {
		idle = 30 * time.Second
	}
	return hls.LiveSettings{
		SegDur:      cfg.HLS.SegDur,
		SegNum:      int(cfg.HLS.SegNum),
		SegRetain:   int(cfg.HLS.SegRetain),
		IdleTimeout: idle,
	}
}

func (s *Server) recordSettings() record.Settings {
	cfg := s.Config()
	mp4Root, hlsRoot := recordRoots(cfg)
	return record.Settings{MP4Root: mp4Root, HLSRoot: hlsRoot, MP4MaxSecond: cfg.Protocol.MP4MaxSecond, SegDur: cfg.HLS.SegDur, Sync: true}
}

// recordRoots are the MP4 and HLS recording roots, DATA_DIR/record unless
// configured. Relative roots are taken from the data dir, as the path
// guard checked them: from the working directory, "etc" set through the
// API would be /etc under systemd.
func recordRoots(cfg *config.Config) (mp4Root, hlsRoot string) {
	underData := func(p string) string {
		if p == "" {
			return filepath.Join(cfg.General.DataDir, "record")
		}
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(cfg.General.DataDir, p)
	}
	return underData(cfg.Protocol.MP4SavePath), underData(cfg.Protocol.HLSSavePath)
}

// reapHLS stops on-demand HLS nobody watches.
func (s *Server) reapHLS(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.hls.Reap(ctx)
		}
	}
}
