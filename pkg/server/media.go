package server

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/hls"
	"github.com/mediakit/mediakit/pkg/hook"
	"github.com/mediakit/mediakit/pkg/record"
)

// observer adds what starts with a stream (recording, live HLS) to the
// hooks. Its methods run on stream owner goroutines and must not block:
// starting a sink is a command to that same owner, so it runs in its own
// goroutine.
type observer struct {
	*hook.Hooks
	server *Server
}

func (o *observer) StreamReady(info engine.StreamInfo) {
	o.Hooks.StreamReady(info)
	o.server.spawn(func() { o.server.startWithStream(info) })
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

// startWithStream starts what the configuration and the on_publish reply
// ask for on a stream that just became ready.
func (s *Server) startWithStream(info engine.StreamInfo) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := s.Config()
	log := s.log.With("stream", info.Key.String())
	if enabled, demand := s.hlsPolicy(info); enabled && !demand {
		if err := s.hls.Start(ctx, info.Key, false); err != nil {
			log.Info("live HLS not started", "error", err.Error())
		}
	}
	if option(info, "enable_mp4", cfg.Protocol.EnableMP4) {
		opts := record.Options{CustomizedPath: info.Options.Values["mp4_save_path"]}
		if v, ok := info.Options.Values["mp4_max_second"]; ok {
			if n, err := strconv.ParseFloat(v, 64); err == nil && n > 0 {
				opts.MaxSecond = time.Duration(n * float64(time.Second))
			}
		}
		if _, err := s.records.Start(ctx, info.Key, record.TypeMP4, opts); err != nil {
			log.Warn("mp4 recording not started", "error", err.Error())
		}
	}
}

// hlsPolicy tells whether a stream has live HLS, and whether on demand.
func (s *Server) hlsPolicy(info engine.StreamInfo) (enabled, demand bool) {
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
	root := filepath.Join(cfg.General.DataDir, "record")
	st := record.Settings{MP4Root: root, HLSRoot: root, MP4MaxSecond: cfg.Protocol.MP4MaxSecond, SegDur: cfg.HLS.SegDur, Sync: true}
	if cfg.Protocol.MP4SavePath != "" {
		st.MP4Root = cfg.Protocol.MP4SavePath
	}
	if cfg.Protocol.HLSSavePath != "" {
		st.HLSRoot = cfg.Protocol.HLSSavePath
	}
	return st
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

// spawn runs fn in a goroutine that Shutdown waits for, unless the
// server is already shutting down.
func (s *Server) spawn(fn func()) {
	s.tasksMu.Lock()
	defer s.tasksMu.Unlock()
	if s.closing {
		return
	}
	s.tasks.Add(1)
	go func() {
		defer s.tasks.Done()
		fn()
	}()
}
