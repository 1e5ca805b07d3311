// Package serve is `mediakit serve`: the whole server.
package serve

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediakit/mediakit/pkg/cli/cmdutil"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/sdnotify"
	"github.com/mediakit/mediakit/pkg/server"
	"github.com/mediakit/mediakit/pkg/store"
)

// Options are the inputs of a serve run.
type Options struct {
	IO          *cmdutil.IO
	ConfigFile  string
	PrintConfig bool
	// ShowSecrets makes --print-config include api.secret and passwords.
	ShowSecrets bool
	// Quiet leaves out the start-up banner of URLs (printed to a terminal's
	// standard error only).
	Quiet  bool
	Config *config.Config
	// Ready, if set, is called with the running server (tests use it to
	// learn the bound addresses).
	Ready func(*server.Server)

	// reload builds the configuration again with the settings saved
	// through the API (setServerConfig) under the flags and environment.
	reload func(saved map[string]string) (*config.Config, []string, error)
}

// NewCommand returns the serve command. runF replaces the run function in
// tests.
func NewCommand(io *cmdutil.IO, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the media server",
		Long: `Run the media server: RTMP and RTSP publish and play, HTTP-FLV, HTTP-TS,
HTTP-fMP4 (and their WebSocket forms), HLS and LL-HLS, RTP and GB28181 ingest,
recording, proxies, ZLMediaKit's HTTP API and hooks, /metrics and /healthz.
At start, on a terminal, it prints the URLs to publish to and play from
(this machine's addresses when it listens on every interface) unless --quiet.
A web console is at http://HOST:8080/console/ (log in with the API secret).
Under systemd (Type=notify) it reports ready and pets the watchdog.

Settings come from flags, then MEDIAKIT_* environment variables, then the
settings saved through the HTTP API (setServerConfig, kept in the data
dir), then the TOML file given with --config, then built-in defaults.`,
		Example: `  mediakit serve
  mediakit serve --rtmp-addr :1935 --http-addr :8080 --continue-push 30s
  MEDIAKIT_LOG_LEVEL=debug mediakit serve --config mediakit.toml
  mediakit serve --print-config > mediakit.toml`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			file := opts.configFile(io)
			if opts.ShowSecrets && !opts.PrintConfig {
				return cmdutil.UsageError(fmt.Errorf("--show-secrets only applies with --print-config"))
			}
			cfg, warnings, err := config.Load(cmd.Flags(), io.Env(), file)
			if err != nil {
				return cmdutil.UsageError(err)
			}
			opts.Config = cfg
			opts.reload = func(saved map[string]string) (*config.Config, []string, error) {
				return config.LoadWithSaved(cmd.Flags(), io.Env(), file, saved)
			}
			for _, w := range warnings {
				fmt.Fprintf(io.ErrOut, "mediakit: config: %s\n", w)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.ConfigFile, "config", "", "TOML config file (MEDIAKIT_CONFIG)")
	cmd.Flags().BoolVar(&opts.PrintConfig, "print-config", false, "print the effective configuration as TOML and exit")
	cmd.Flags().BoolVar(&opts.ShowSecrets, "show-secrets", false, "with --print-config, include api.secret and passwords instead of hiding them")
	cmd.Flags().BoolVarP(&opts.Quiet, "quiet", "q", false, "do not print the URLs to publish to and play from at start (printed only when stderr is a terminal)")
	config.RegisterFlags(cmd.Flags())
	return cmd
}

func (o *Options) configFile(io *cmdutil.IO) string {
	if o.ConfigFile != "" {
		return o.ConfigFile
	}
	return io.Env()("MEDIAKIT_CONFIG")
}

// NewLogger builds the slog logger the configuration asks for. The
// returned level variable changes the level of the running logger.
func NewLogger(cfg *config.Config, io *cmdutil.IO) (*slog.Logger, *slog.LevelVar) {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.Log.Level)))
	lv := new(slog.LevelVar)
	lv.Set(level)
	hopts := &slog.HandlerOptions{Level: lv, ReplaceAttr: server.LifecycleLevelName}
	if strings.EqualFold(cfg.Log.Format, "json") {
		return slog.New(slog.NewJSONHandler(io.ErrOut, hopts)), lv
	}
	return slog.New(slog.NewTextHandler(io.ErrOut, hopts)), lv
}

// withSaved applies the settings saved through the API, if any.
func (o *Options) withSaved(saved map[string]string) (*config.Config, error) {
	if len(saved) == 0 || o.reload == nil {
		return o.Config, nil
	}
	cfg, warnings, err := o.reload(saved)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		if strings.HasPrefix(w, "ignored saved setting") {
			fmt.Fprintf(o.IO.ErrOut, "mediakit: config: %s\n", w)
		}
	}
	return cfg, nil
}

// Run serves until ctx ends (SIGINT/SIGTERM), then shuts down.
func Run(ctx context.Context, opts *Options) error {
	cfg := opts.Config
	if opts.PrintConfig {
		saved, err := store.ReadConfig(cfg.General.DataDir, time.Second)
		if err != nil {
			return err
		}
		if cfg, err = opts.withSaved(saved); err != nil {
			return err
		}
		return cfg.WriteTOML(opts.IO.Out, opts.ShowSecrets)
	}
	st, err := store.Open(cfg.General.DataDir, 3*time.Second)
	if err != nil {
		return err
	}
	defer st.Close()
	saved, err := st.Config()
	if err != nil {
		return err
	}
	if cfg, err = opts.withSaved(saved); err != nil {
		return err
	}
	log, level := NewLogger(cfg, opts.IO)
	build := cmdutil.Build()
	srv := server.New(cfg, server.Options{Log: log, LogLevel: level, Version: cmdutil.Version(),
		Commit: build.Commit, BuildTime: build.Date, Store: st})
	if err := srv.Start(); err != nil {
		return err
	}
	if !opts.Quiet && opts.IO.ErrIsTerminal() {
		writeBanner(opts.IO.ErrOut, build.Version, listenAddrs{RTMP: srv.RTMPAddr(), HTTP: srv.HTTPAddr(), WebRTC: srv.WebRTCAddr(),
			RTSP: srv.RTSPAddr(), RTSPS: srv.RTSPSAddr()}, hostAddrs())
	}
	if opts.Ready != nil {
		opts.Ready(srv)
	}
	// Under systemd (Type=notify): ready once every listener is bound, and
	// the watchdog petted only while the engine answers.
	notify := sdnotify.FromEnv()
	if err := notify.Notify("READY=1\nSTATUS=serving"); err != nil {
		log.Warn("systemd: ready notification", "error", err.Error())
	}
	watchCtx, stopWatchdog := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		if interval, ok := sdnotify.WatchdogInterval(); ok {
			sdnotify.Watchdog(watchCtx, notify, interval, func(ctx context.Context) error {
				_, err := srv.Engine.Ping(ctx)
				return err
			}, log)
		}
	}()
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-srv.Errors():
		log.Error("listener failed", "error", runErr.Error())
	}
	stopWatchdog()
	<-watchDone
	_ = notify.Notify("STOPPING=1")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && runErr == nil {
		runErr = err
	}
	log.Log(context.Background(), server.LevelLifecycle, "mediakit stopped")
	return runErr
}
