// Package server wires `mediakit serve`: the engine, the RTMP and HTTP
// listeners, metrics and health, and orderly shutdown.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/access"
	"github.com/mediakit/mediakit/pkg/api"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/console"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/ffmpegsrc"
	"github.com/mediakit/mediakit/pkg/hls"
	"github.com/mediakit/mediakit/pkg/hook"
	"github.com/mediakit/mediakit/pkg/httpflv"
	"github.com/mediakit/mediakit/pkg/httpfmp4"
	"github.com/mediakit/mediakit/pkg/httpts"
	"github.com/mediakit/mediakit/pkg/internal/pushwrite"
	"github.com/mediakit/mediakit/pkg/llhls"
	"github.com/mediakit/mediakit/pkg/logring"
	"github.com/mediakit/mediakit/pkg/metrics"
	"github.com/mediakit/mediakit/pkg/netlimit"
	"github.com/mediakit/mediakit/pkg/playback"
	"github.com/mediakit/mediakit/pkg/player"
	"github.com/mediakit/mediakit/pkg/proxy"
	"github.com/mediakit/mediakit/pkg/record"
	"github.com/mediakit/mediakit/pkg/rtmp"
	"github.com/mediakit/mediakit/pkg/rtpsend"
	"github.com/mediakit/mediakit/pkg/rtpserver"
	"github.com/mediakit/mediakit/pkg/rtsp"
	"github.com/mediakit/mediakit/pkg/session"
	"github.com/mediakit/mediakit/pkg/store"
	"github.com/mediakit/mediakit/pkg/webrtc"
)

// LevelLifecycle is the level of the ready, shutting-down and stopped
// lines: above every level a user can select, so scripts waiting for
// "mediakit ready" see it even with --log-level error. Loggers print it
// as INFO (see LifecycleLevelName).
const LevelLifecycle = slog.Level(16)

// LifecycleLevelName is a slog ReplaceAttr function printing
// LevelLifecycle as INFO.
func LifecycleLevelName(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.LevelKey {
		if l, ok := a.Value.Any().(slog.Level); ok && l == LevelLifecycle {
			return slog.String(slog.LevelKey, "INFO")
		}
	}
	return a
}

// recentLogLines is how many warning and error lines getRecentLogs keeps.
const recentLogLines = 200

// Options are a server's collaborators besides its configuration.
type Options struct {
	Log     *slog.Logger
	Version string
	// Commit and BuildTime, when known, are what ZLMediaKit's version API
	// reports as commitHash and buildTime.
	Commit, BuildTime string
	// LogLevel, when set, is the level variable of Log's handler, so
	// setServerConfig can change log.level live.
	LogLevel *slog.LevelVar
	// Store is the embedded database; nil makes Start open one in the
	// data dir (and Shutdown close it).
	Store *store.Store
}

// Server is a running mediakit server.
type Server struct {
	cfg      atomic.Pointer[config.Config]
	cfgMu    sync.Mutex // serialises setServerConfig
	log      *slog.Logger
	logLevel *slog.LevelVar
	version  string
	started  time.Time

	Engine     *engine.Engine
	Sessions   *session.Registry
	store      *store.Store
	ownStore   bool
	rtmp       *rtmp.Server
	writers    *pushwrite.Pool // writes every player's stream (HTTP and RTMP)
	rtsp       *rtsp.Server
	rtc        *webrtc.Server // nil: WebRTC off
	webrtcIDs  atomic.Int64
	flv        *httpflv.Handler
	ts         *httpts.Handler
	fmp4       *httpfmp4.Handler
	api        *api.Server
	fileAccess fileAccessCache
	hookc      *hook.Client
	hooks      *hook.Hooks
	records    *record.Manager
	recIndex   *record.Indexer
	vods       *playback.VODs
	stopIndex  context.CancelFunc // after the engine: its recorders' last files get indexed
	hls        *hls.Live
	llhls      *llhls.Server
	viewers    *hls.Viewers // HLS viewers of every variant
	http       *http.Server
	hlsHandler http.Handler
	metrics    *metrics.Registry
	limiter    *netlimit.Limiter
	guardPtr   atomic.Pointer[guard]
	rtp        *rtpserver.Registry
	rtpShared  *rtpserver.Server
	rtpSend    *rtpsend.Manager
	proxies    *proxy.Manager
	ffmpeg     *ffmpegsrc.Manager

	rtmpLn net.Listener
	httpLn net.Listener
	wg     sync.WaitGroup

	errs chan error
	stop context.CancelFunc // of background loops (keepalive)
}

// EngineConfig derives the engine's configuration from cfg.
func EngineConfig(cfg *config.Config) engine.Config {
	ec := engine.DefaultConfig()
	ec.ContinuePush = cfg.Protocol.ContinuePush
	ec.MaxStreamWait = cfg.General.MaxStreamWait
	ec.Takeover = cfg.General.Takeover
	ec.MergeWrite = cfg.General.MergeWrite
	ec.NoneReaderDelay = cfg.General.NoneReaderDelay
	ec.MaxStreams = cfg.General.MaxStreams
	ec.MaxReadersPerStream = cfg.General.MaxReadersPerStream
	return ec
}

// New builds a server; Start binds its listeners.
func New(cfg *config.Config, opts Options) *Server {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The last warnings and errors, for getRecentLogs and the console;
	// lifecycle lines are not warnings.
	logs := logring.New(recentLogLines)
	log = slog.New(logring.Wrap(log.Handler(), logs, func(l slog.Level) bool { return l >= slog.LevelWarn && l < LevelLifecycle }))
	s := &Server{log: log, logLevel: opts.LogLevel, version: opts.Version, store: opts.Store, errs: make(chan error, 2)}
	s.cfg.Store(cfg)
	g, err := buildGuard(cfg)
	if err != nil {
		// Validate parsed the same settings; only an unreadable working
		// directory gets here. Refuse everything rather than guess.
		log.Error("access settings unusable; refusing API calls and recording paths", "error", err.Error())
		g = &guard{policy: denyAllPolicy(), paths: denyAllPaths()}
	}
	s.guardPtr.Store(g)
	s.Engine = engine.New(EngineConfig(cfg), log)
	s.Sessions = session.NewRegistry()
	s.metrics = metrics.New(s.Engine.Stats())
	calls := s.metrics.Calls()

	s.hookc = hook.NewClient(s.hookSettings, log, calls)
	s.hooks = hook.NewHooks(s.hookc, streamCloser{s}, func() int64 { return s.Config().General.FlowThreshold * 1024 }, log)
	s.recIndex = record.NewIndexer(log)
	s.records = &record.Manager{Engine: s.Engine, Settings: s.recordSettings, Notify: recordNotifier{s.hooks, s.recIndex}, Log: log}
	s.hls = hls.NewLive(s.Engine, s.hlsSettings, log)
	authz := authChain{s: s, next: s.hooks}
	s.proxies = s.newProxies()
	// Off the stream's owner goroutine, which calls it when no
	// on_stream_not_found hook is set: starting a pull takes the
	// proxies' lock, held across a store write.
	s.hooks.Pull = func(key engine.Key, url string) { go s.pullOnDemand(key, url) }
	s.vods = &playback.VODs{Engine: s.Engine, Log: log}
	s.Engine.SetObserver(observers{Observer: s.hooks, proxies: s.proxies, vods: s.vods})
	s.viewers = hls.NewViewers(s.Engine, authz, log)
	s.viewers.Timeout = func() time.Duration { return s.Config().HLS.ViewerTimeout }
	s.llhls = s.newLLHLS(authz)
	s.Engine.SetSinkPolicy(s.withLLHLSSinks(s.sinkPolicy))
	s.Engine.SetAuthorizer(authz)
	s.hooks.Schemas = s.servedSchemas
	s.hls.Viewers = s.viewers
	s.hls.SchemaChanged = s.hlsSchemaChanged
	s.hls.CORS = s.mediaCORS
	s.hls.Remote = s.clientRemote

	s.limiter = netlimit.New(func() netlimit.Limits {
		c := s.Config()
		return netlimit.Limits{MaxConns: int(c.General.MaxConns), MaxConnsPerIP: int(c.General.MaxConnsPerIP)}
	})
	s.limiter.Log = log
	// One pool of writers for every player, whatever its protocol.
	s.writers = &pushwrite.Pool{}
	s.rtmp = rtmp.NewServer(s.Engine, log)
	s.rtmp.Writers = s.writers
	s.rtmp.Registry = s.Sessions
	s.rtmp.HandshakeTimeout = cfg.RTMP.Handshake
	s.rtmp.IdleTimeout = cfg.RTMP.KeepAlive
	s.rtmp.FirstPacketTimeout = cfg.RTMP.FirstPacket
	// Players are woken once per merge-write window: reading the
	// publisher more often than that buys no latency.
	s.rtmp.MergeRead = min(cfg.RTMP.MergeRead, cfg.General.MergeWrite)
	s.rtmp.WriteTimeout = cfg.General.WriteTimeout
	s.rtsp = s.newRTSP(cfg)
	s.flv = httpflv.NewHandler(s.Engine, log)
	s.flv.Registry = s.Sessions
	s.flv.Writers = s.writers
	s.flv.WriteTimeout = cfg.General.WriteTimeout
	s.flv.CORS = s.mediaCORS
	s.flv.Remote = s.clientRemote
	s.ts = httpts.NewHandler(s.Engine, log)
	s.ts.Registry = s.Sessions
	s.ts.Writers = s.writers
	s.ts.WriteTimeout = cfg.General.WriteTimeout
	s.ts.CORS = s.mediaCORS
	s.ts.Remote = s.clientRemote
	s.metrics.Gauge("ts_sessions", "Open HTTP-TS and WebSocket-TS sessions.", func() float64 { return float64(s.ts.Sessions()) })
	s.metrics.Gauge("webrtc_sessions", "WebRTC viewers (WHEP), connected or being connected.", func() float64 {
		if s.rtc == nil { // set at Start, before the HTTP listener serves
			return 0
		}
		return float64(s.rtc.Sessions())
	})
	s.fmp4 = httpfmp4.NewHandler(s.Engine, log)
	s.fmp4.Registry = s.Sessions
	s.fmp4.Writers = s.writers
	s.fmp4.WriteTimeout = cfg.General.WriteTimeout
	s.fmp4.CORS = s.mediaCORS
	s.fmp4.Remote = s.clientRemote
	s.metrics.Gauge("fmp4_sessions", "Open HTTP-fMP4 and WebSocket-fMP4 sessions.", func() float64 { return float64(s.fmp4.Sessions()) })
	s.metrics.Gauge("rtmp_sessions", "Open RTMP connections.", func() float64 { return float64(s.rtmp.Sessions()) })
	s.metrics.Gauge("flv_sessions", "Open HTTP-FLV and WebSocket-FLV sessions.", func() float64 { return float64(s.flv.Sessions()) })
	s.metrics.Gauge("hook_events_dropped", "Hook notifications dropped because the hook queue was full.",
		func() float64 { return float64(s.hookc.Dropped()) })

	s.registerLimitMetrics()
	s.rtp = rtpserver.NewRegistry(s.Engine, s.rtpConfig, s.hooks, log)
	s.registerRTPMetrics()

	s.api = api.NewServer(func() string { return s.Config().API.Secret }, log, calls)
	s.api.Access = func() *access.Policy { return s.guard().policy }
	s.api.User = s.apiUser
	s.api.RegisterZLM(api.Deps{
		Engine:    apiEngine{Engine: s.Engine, closer: streamCloser{s}},
		Sessions:  s.Sessions,
		Config:    s,
		Version:   versionInfo(opts),
		Statistic: s.statistic,
		Schemas:   s.servedSchemas,
	})
	s.api.RegisterRecord(api.RecordDeps{
		Recorder: s.records,
		MP4Root:  func() string { return s.recordSettings().MP4Root },
		Confine:  s.confinePath,
		Index:    recordIndex{s},
	})
	s.api.HandleHTTP("downloadFile", http.HandlerFunc(s.downloadFile))
	s.api.HandleHTTP("webrtc", http.HandlerFunc(s.zlmWebRTC))
	s.api.RegisterVOD(s.vods, func(p string) (string, error) { return s.guard().downloads.Confine(p) })
	s.api.RegisterRTP(s.rtp)
	s.rtpSend = s.newRTPSenders()
	s.api.RegisterRTPSend(s.rtpSend)
	s.api.RegisterProxies(s.proxies, s.Engine)
	s.registerProxyMetrics()
	s.ffmpeg = s.newFFmpegSources()
	s.api.RegisterFFmpeg(s.ffmpeg)
	s.registerSnap()
	s.api.RegisterLogs(logs)
	// A new secret ends every console session.
	con := console.New(console.Options{API: s.api, Epoch: func() string { return s.Config().API.Secret }, Log: log})
	s.api.Console = con.Check

	s.hlsHandler = s.hls.Handler(s.hlsPolicy)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", s.metrics.Handler())
	mux.Handle(api.Prefix, http.MaxBytesHandler(s.api, api.MaxBodySize+4096))
	mux.Handle("GET "+player.AssetPrefix, player.Assets())
	mux.Handle(console.Prefix, con.Handler(http.HandlerFunc(s.route)))
	mux.HandleFunc("/", s.route)
	s.http = &http.Server{
		Handler:           withPprof(cfg.HTTP.Pprof, withWriteDeadline(mux, func() time.Duration { return cfg.General.WriteTimeout }), s.api.Protect(pprofHandler(cfg.General.WriteTimeout))),
		ReadHeaderTimeout: cfg.HTTP.Handshake,
		ReadTimeout:       60 * time.Second,
		// No WriteTimeout: withWriteDeadline arms one per reply at its
		// first byte, and streaming replies set one per write.
		IdleTimeout:    cfg.HTTP.KeepAlive,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return s
}

// Config returns the current configuration; setServerConfig replaces it.
func (s *Server) Config() *config.Config { return s.cfg.Load() }

func (s *Server) hookSettings() hook.Settings {
	c := s.Config()
	return hook.Settings{
		Enable:        c.Hook.Enable,
		URLs:          c.Hook.URLs(),
		Timeout:       c.Hook.Timeout,
		Retry:         int(c.Hook.Retry),
		RetryDelay:    c.Hook.RetryDelay,
		MediaServerID: c.General.MediaServerID,
	}
}

// route sends stream URLs to their protocol handler.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, RecordPrefix) && s.serveRecording(w, r) {
		return
	}
	if s.serveWebRTC(w, r) {
		return
	}
	switch p := r.URL.Path; {
	case llhls.IsPath(p): // before HLS's ".ts" and HTTP-fMP4's ".mp4"
		s.llhls.ServeHTTP(w, r)
	case strings.HasSuffix(p, ".flv"):
		s.flv.ServeHTTP(w, r)
	case strings.HasSuffix(p, httpts.Suffix): // before HLS's ".ts" segments
		s.ts.ServeHTTP(w, r)
	case strings.HasSuffix(p, httpfmp4.Suffix):
		s.fmp4.ServeHTTP(w, r)
	case strings.HasSuffix(p, hls.PlaylistSuffix), strings.HasSuffix(p, ".ts"):
		s.hlsHandler.ServeHTTP(w, r)
	case player.IsPagePath(p) && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		player.ServePage(w, r)
	default:
		http.NotFound(w, r)
	}
}

// Start binds every listener; an address that cannot be bound is an error
// and nothing is left open. It then serves in the background and logs one
// line naming every address.
func (s *Server) Start() error {
	cfg := s.Config()
	if s.store == nil {
		st, err := store.Open(cfg.General.DataDir, 3*time.Second)
		if err != nil {
			return err
		}
		s.store, s.ownStore = st, true
	}
	if cfg.RTMP.Addr != "" {
		ln, err := net.Listen("tcp", cfg.RTMP.Addr)
		if err != nil {
			s.closeStore()
			return fmt.Errorf("rtmp: listen %s: %w", cfg.RTMP.Addr, opCause(err))
		}
		s.rtmpLn = s.limiter.Listen(ln, "rtmp")
	}
	if cfg.HTTP.Addr != "" {
		ln, err := net.Listen("tcp", cfg.HTTP.Addr)
		if err != nil {
			if s.rtmpLn != nil {
				s.rtmpLn.Close()
			}
			s.closeStore()
			return fmt.Errorf("http: listen %s: %w", cfg.HTTP.Addr, opCause(err))
		}
		s.httpLn = s.limiter.Listen(ln, "http")
	}
	if err := s.listenRTSP(cfg); err != nil {
		for _, ln := range []net.Listener{s.rtmpLn, s.httpLn} {
			if ln != nil {
				ln.Close()
			}
		}
		s.closeStore()
		return err
	}
	if cfg.WebRTC.Addr != "" {
		rtc, err := webrtc.Listen(s.Engine, webrtc.Options{Addr: cfg.WebRTC.Addr, Hosts: access.SplitList(cfg.WebRTC.AdditionalHosts),
			STUNServers: access.SplitList(cfg.WebRTC.STUNServers), Log: s.log, Registry: s.Sessions})
		if err != nil {
			for _, ln := range []net.Listener{s.rtmpLn, s.httpLn} {
				if ln != nil {
					ln.Close()
				}
			}
			s.rtsp.Close()
			s.closeStore()
			return err
		}
		s.rtc = rtc
	}
	if cfg.RTPProxy.Addr != "" {
		if err := s.openSharedRTP(cfg.RTPProxy.Addr); err != nil {
			for _, ln := range []net.Listener{s.rtmpLn, s.httpLn} {
				if ln != nil {
					ln.Close()
				}
			}
			s.rtsp.Close()
			if s.rtc != nil {
				s.rtc.Close()
			}
			s.closeStore()
			return err
		}
	}
	s.started = time.Now()
	// Before serving, so that an API call cannot add a task that a
	// restore then starts a second time; after binding, since ffmpeg
	// publishes to the RTMP listener (connections wait in its backlog).
	if err := s.proxies.Restore(); err != nil {
		s.log.Error("stored proxies not restored", "error", err.Error())
	}
	if err := s.ffmpeg.Restore(); err != nil {
		s.log.Error("stored ffmpeg sources not restored", "error", err.Error())
	}
	if s.rtmpLn != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.rtmp.Serve(s.rtmpLn); err != nil {
				s.errs <- err
			}
		}()
	}
	s.startRTSP()
	if s.httpLn != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.http.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.errs <- fmt.Errorf("http: serve: %w", err)
			}
		}()
	}
	s.hookc.Start()
	var bg context.Context
	bg, s.stop = context.WithCancel(context.Background())
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.hooks.Keepalive(bg, func() time.Duration { return s.Config().Hook.AliveInterval }, s.statistic)
	}()
	go func() {
		defer s.wg.Done()
		s.reapHLS(bg)
	}()
	s.startRecordingIndex()
	s.hooks.ServerStarted(s.ServerConfig())
	s.log.Log(context.Background(), LevelLifecycle, "mediakit ready", "version", s.version,
		"rtmp", s.RTMPAddr(), "http", s.HTTPAddr(), "rtsp", s.RTSPAddr(), "rtsps", s.RTSPSAddr(), "rtp", s.RTPAddr(), "webrtc", s.WebRTCAddr(),
		"data_dir", cfg.General.DataDir)
	return nil
}

func (s *Server) closeStore() {
	if s.ownStore && s.store != nil {
		s.store.Close()
		s.store = nil
	}
}

// RTMPAddr is the bound RTMP address, or "" when off.
func (s *Server) RTMPAddr() string {
	if s.rtmpLn == nil {
		return ""
	}
	return s.rtmpLn.Addr().String()
}

// WebRTCAddr is the bound WebRTC ICE address (UDP, and TCP on the same
// port), or "" when off.
func (s *Server) WebRTCAddr() string {
	if s.rtc == nil {
		return ""
	}
	return s.rtc.Addr()
}

// RTSPAddr is the bound RTSP address, or "" when off.
func (s *Server) RTSPAddr() string { return s.rtsp.Addr() }

// HTTPAddr is the bound HTTP address, or "" when off.
func (s *Server) HTTPAddr() string {
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

// Errors reports listeners that stopped on their own.
func (s *Server) Errors() <-chan error { return s.errs }

// Shutdown stops accepting, ends every stream (players get a clean end of
// stream, publishers are disconnected), lets HTTP requests in flight
// finish until ctx ends, and waits for every session goroutine.
func (s *Server) Shutdown(ctx context.Context) error {
	s.log.Log(ctx, LevelLifecycle, "mediakit shutting down")
	if s.stop != nil {
		s.stop()
	}
	if s.rtmpLn != nil {
		s.rtmpLn.Close()
	}
	exitCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	s.hooks.ServerExited(exitCtx)
	cancel()
	// Ending the streams first turns waiting players into 404s and gives
	// playing ones a clean end of stream; http.Shutdown then closes its
	// listener and waits for the requests still in flight.
	// Proxies stop first, so that their streams ending is not taken for
	// a close_stream that removes them; they stay stored.
	s.proxies.Close()
	s.ffmpeg.Close()  // before their streams end; they stay stored
	s.vods.Close()    // recordings played back
	s.rtpSend.Close() // RTP senders stop (on_send_rtp_stopped queued) before their streams end
	// RTP servers first: their publishers leave, their ports close.
	s.rtp.CloseAll()
	if s.rtc != nil {
		s.rtc.Close() // WebRTC viewers, then its ports
	}
	s.llhls.Close()  // requests waiting for a stream end
	s.Engine.Close() // sinks finish their files before it returns
	if s.stopIndex != nil {
		s.stopIndex() // the index writes what they queued, then stops
	}
	s.flv.Close()
	s.ts.Close()
	s.fmp4.Close()
	httpErr := s.http.Shutdown(ctx)
	s.rtmp.Close()
	s.writers.Close() // after every server whose players it wrote
	s.rtsp.Close()    // after the engine: players got their end of stream
	s.wg.Wait()
	s.hookc.Close(ctx)
	s.closeStore()
	if httpErr != nil {
		return fmt.Errorf("http: shutdown: %w", httpErr)
	}
	return nil
}

type health struct {
	Status    string  `json:"status"`
	Streams   int     `json:"streams"`
	Readers   int64   `json:"readers"`
	Uptime    float64 `json:"uptime_seconds"`
	Version   string  `json:"version"`
	Error     string  `json:"error,omitempty"`
	LatencyMS float64 `json:"latency_ms"`
}

// healthz answers only after a round trip through the engine: the
// registry and every stream's owner goroutine.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	n, err := s.Engine.Ping(ctx)
	h := health{
		Status:    "ok",
		Streams:   n,
		Readers:   s.Engine.Stats().Readers.Load(),
		Uptime:    time.Since(s.started).Seconds(),
		Version:   s.version,
		LatencyMS: float64(time.Since(start).Microseconds()) / 1000,
	}
	status := http.StatusOK
	if err != nil {
		h.Status = "unresponsive"
		h.Error = err.Error()
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(h)
}

// opCause drops the "listen tcp ADDR:" prefix of a *net.OpError, which
// would repeat the address the caller already names.
func opCause(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
