// Package serve is `mediakit serve`: the whole server.
package serve

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediakit/mediakit/pkg/cli/cmdutil"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/server"
)

// Options are the inputs of a serve run.
type Options struct {
	IO          *cmdutil.IO
	ConfigFile  string
	PrintConfig bool
	Config      *config.Config
	// Ready, if set, is called with the running server (tests use it to
	// learn the bound addresses).
	Ready func(*server.Server)
}

// NewCommand returns the serve command. runF replaces the run function in
// tests.
func NewCommand(io *cmdutil.IO, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the media server",
		Long: `Run the media server: RTMP publish and play, HTTP-FLV and WebSocket-FLV at
/APP/STREAM.live.flv, /metrics (Prometheus) and /healthz.

Settings come from flags, then MEDIAKIT_* environment variables, then the
TOML file given with --config, then built-in defaults.`,
		Example: `  mediakit serve
  mediakit serve --rtmp-addr :1935 --http-addr :8080 --continue-push 30s
  MEDIAKIT_LOG_LEVEL=debug mediakit serve --config mediakit.toml
  mediakit serve --print-config > mediakit.toml`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, warnings, err := config.Load(cmd.Flags(), io.Env(), opts.configFile(io))
			if err != nil {
				return cmdutil.UsageError(err)
			}
			opts.Config = cfg
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
	config.RegisterFlags(cmd.Flags())
	return cmd
}

func (o *Options) configFile(io *cmdutil.IO) string {
	if o.ConfigFile != "" {
		return o.ConfigFile
	}
	return io.Env()("MEDIAKIT_CONFIG")
}

// NewLogger builds the slog logger the configuration asks for.
func NewLogger(cfg *config.Config, io *cmdutil.IO) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.Log.Level)))
	hopts := &slog.HandlerOptions{Level: level, ReplaceAttr: server.LifecycleLevelName}
	if strings.EqualFold(cfg.Log.Format, "json") {
		return slog.New(slog.NewJSONHandler(io.ErrOut, hopts))
	}
	return slog.New(slog.NewTextHandler(io.ErrOut, hopts))
}

// Run serves until ctx ends (SIGINT/SIGTERM), then shuts down.
func Run(ctx context.Context, opts *Options) error {
	cfg := opts.Config
	if opts.PrintConfig {
		return cfg.WriteTOML(opts.IO.Out)
	}
	log := NewLogger(cfg, opts.IO)
	if err := os.MkdirAll(cfg.General.DataDir, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	srv := server.New(cfg, log, cmdutil.Version())
	if err := srv.Start(); err != nil {
		return err
	}
	if opts.Ready != nil {
		opts.Ready(srv)
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-srv.Errors():
		log.Error("listener failed", "error", runErr.Error())
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && runErr == nil {
		runErr = err
	}
	log.Log(context.Background(), server.LevelLifecycle, "mediakit stopped")
	return runErr
}
