package server

import (
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"

	"github.com/mediakit/mediakit/pkg/api"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/zlm"
)

// ServerConfig is getServerConfig's data[0]: every setting as a string,
// plus the port keys ZLMediaKit clients read, 0 for a service that is off.
func (s *Server) ServerConfig() map[string]string {
	c := s.Config()
	out := make(map[string]string, 64)
	for _, key := range config.Keys() {
		v, _ := c.APIValue(key)
		out[key] = v
	}
	port := func(addr string) string {
		if addr == "" {
			return "0"
		}
		_, p := zlm.SplitAddr(addr)
		return strconv.Itoa(p)
	}
	rtmpAddr, httpAddr := c.RTMP.Addr, c.HTTP.Addr
	if a := s.RTMPAddr(); a != "" {
		rtmpAddr = a // the bound port, when the config asked for :0
	}
	if a := s.HTTPAddr(); a != "" {
		httpAddr = a
	}
	out["rtmp.port"] = port(rtmpAddr)
	out["http.port"] = port(httpAddr)
	for _, off := range []string{"rtmp.sslport", "http.sslport", "rtsp.port", "rtsp.sslport",
		"rtp_proxy.port", "rtc.port", "srt.port", "shell.port"} {
		out[off] = "0"
	}
	return out
}

// SetServerConfig applies setServerConfig: known keys that can change
// without a restart are validated together, saved in the store, then
// applied. Unknown keys and keys that need a restart are skipped, as
// ZLMediaKit skips keys it does not know.
func (s *Server) SetServerConfig(values map[string]string) (int, error) {
	s.cfgMu.Lock()
	defer s.cfgMu.Unlock()
	cur := s.Config()
	next := cur.Clone()
	changed := map[string]string{}
	var skipped []string
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		setting, ok := config.Lookup(key)
		if !ok || setting.Restart {
			skipped = append(skipped, key)
			continue
		}
		before, _ := next.Get(key)
		if err := next.Set(key, values[key]); err != nil {
			return 0, &api.Error{Code: api.CodeInvalidArgs, Msg: err.Error()}
		}
		if after, _ := next.Get(key); after != before {
			changed[key] = after
		}
	}
	if len(skipped) > 0 {
		s.log.Debug("setServerConfig skipped keys mediakit does not set at run time", "keys", strings.Join(skipped, ","))
	}
	if len(changed) == 0 {
		return 0, nil
	}
	if err := next.Validate(); err != nil {
		return 0, &api.Error{Code: api.CodeInvalidArgs, Msg: err.Error()}
	}
	if s.store != nil {
		if err := s.store.SetConfig(changed); err != nil {
			return 0, err
		}
	}
	s.cfg.Store(next)
	s.apply(next)
	names := make([]string, 0, len(changed))
	for k := range changed {
		names = append(names, k)
	}
	sort.Strings(names)
	s.log.Info("configuration changed through the API", "keys", strings.Join(names, ","))
	return len(changed), nil
}

// apply pushes a new configuration to the parts that read it once.
func (s *Server) apply(c *config.Config) {
	s.Engine.SetConfig(EngineConfig(c))
	if s.logLevel != nil {
		var level slog.Level
		if err := level.UnmarshalText([]byte(strings.ToUpper(c.Log.Level))); err == nil {
			s.logLevel.Set(level)
		}
	}
}

// statistic is getStatistic's data and on_server_keepalive's: ZLMediaKit's
// object counts where mediakit has the same object, and its own figures.
func (s *Server) statistic() map[string]any {
	st := s.Engine.Stats()
	streams := st.Streams.Load()
	listeners := 0
	if s.rtmpLn != nil {
		listeners++
	}
	if s.httpLn != nil {
		listeners++
	}
	sessions := s.Sessions.Len()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	return map[string]any{
		"MediaSource":           streams * int64(len(zlm.Schemas)),
		"MultiMediaSourceMuxer": streams,
		"TcpServer":             listeners,
		"TcpSession":            sessions,
		"TcpClient":             0,
		"UdpServer":             0,
		"UdpSession":            0,
		"Socket":                sessions + listeners,
		"readers":               st.Readers.Load(),
		"readersWaiting":        st.WaitingReaders.Load(),
		"goroutines":            runtime.NumGoroutine(),
		"totalMemUsage":         mem.Sys,
		"totalMemUsageMB":       mem.Sys >> 20,
	}
}

// buildTime is the VCS time of the build, when Go recorded it.
func buildTime() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.time" {
				return s.Value
			}
		}
	}
	return fmt.Sprint(runtime.Version())
}
