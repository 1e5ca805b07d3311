package server

import (
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/mediakit/mediakit/pkg/api"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/zlm"
)

// ServerConfig is getServerConfig's data[0]: every setting as a string,
// plus the port keys ZLMediaKit clients read, 0 for a service that is off.
func (s *Server) ServerConfig() map[string]string {
	c := s.Config()
	out := make(map[string]string, 64)
	for _, key := range config.Keys() {
		v, _ := c.APIValue(key)
		if setting, _ := config.Lookup(key); setting.Secret && v != "" {
			// getServerConfig and on_server_started are read by
			// dashboards and logged by platforms: never the secret.
			v = SecretMask
		}
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
	out["rtp_proxy.port"] = port(s.RTPAddr())
	out["rtsp.port"] = port(s.RTSPAddr())
	out["rtsp.sslport"] = port(s.RTSPSAddr())
	for _, off := range []string{"rtmp.sslport", "http.sslport",
		"rtc.port", "srt.port", "shell.port"} {
		out[off] = "0"
	}
	return out
}

// SecretMask stands for a secret in getServerConfig and hook bodies. A
// setServerConfig that sends it back (a platform echoing what it read)
// leaves the secret unchanged.
const SecretMask = "******"

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
	for _, key := range slices.Sorted(maps.Keys(values)) {
		setting, ok := config.Lookup(key)
		if !ok || setting.Restart || (setting.Secret && values[key] == SecretMask) {
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
	g, err := buildGuard(next)
	if err != nil {
		return 0, &api.Error{Code: api.CodeInvalidArgs, Msg: err.Error()}
	}
	// A recording root from the API must stay inside the data dir or
	// record.allow_paths, as customized_path must. A refused one is
	// left out and reported, while the other keys still apply: platforms
	// such as WVP-GB28181-pro send their record path with their hook
	// URLs, and losing the hooks would break them.
	var refused []string
	for _, key := range slices.Sorted(maps.Keys(changed)) {
		setting, _ := config.Lookup(key)
		if !setting.Confined || changed[key] == "" {
			continue
		}
		if _, err := g.paths.Confine(changed[key]); err != nil {
			before, _ := cur.Get(key)
			_ = next.Set(key, before)
			delete(changed, key)
			refused = append(refused, fmt.Sprintf("%s: %v", key, err))
			s.log.Warn("setServerConfig path refused; list its directory in record.allow_paths to allow it",
				"key", key, "error", err.Error())
		}
	}
	var refusal error
	if len(refused) > 0 {
		refusal = &api.Error{Code: api.CodeInvalidArgs, Msg: strings.Join(refused, "; ")}
	}
	if len(changed) == 0 {
		return 0, refusal
	}
	if s.store != nil {
		if err := s.store.SetConfig(changed); err != nil {
			return 0, err
		}
	}
	s.cfg.Store(next)
	s.guardPtr.Store(g)
	s.apply(next)
	s.log.Info("configuration changed through the API", "keys", strings.Join(slices.Sorted(maps.Keys(changed)), ","))
	return len(changed), refusal
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
	for _, a := range []string{s.RTSPAddr(), s.RTSPSAddr()} {
		if a != "" {
			listeners++
		}
	}
	sessions := s.Sessions.Len()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	return map[string]any{
		"MediaSource":           streams * int64(len(s.servedSchemas(engine.StreamInfo{}))),
		"MultiMediaSourceMuxer": streams,
		"TcpServer":             listeners,
		"TcpSession":            sessions,
		"TcpClient":             0,
		"UdpServer":             len(s.rtp.List()) + len(s.rtp.Shared()),
		"UdpSession":            0,
		"Socket":                sessions + listeners,
		"readers":               st.Readers.Load(),
		"readersWaiting":        st.WaitingReaders.Load(),
		"goroutines":            runtime.NumGoroutine(),
		"totalMemUsage":         mem.Sys,
		"totalMemUsageMB":       mem.Sys >> 20,
	}
}

// versionInfo is what the version API reports: the build's commit and
// time when the caller knows them, else the version and the toolchain.
func versionInfo(opts Options) api.VersionInfo {
	v := api.VersionInfo{BranchName: "mediakit", CommitHash: opts.Commit, BuildTime: opts.BuildTime}
	if v.CommitHash == "" {
		v.CommitHash = opts.Version
	}
	if v.BuildTime == "" {
		v.BuildTime = runtime.Version()
	}
	return v
}
