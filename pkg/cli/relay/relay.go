// Package relay is `mediakit relay SRC DST [DST...]`: pull one stream
// into an in-process engine and send it to every destination (an RTMP
// server, an FLV, MPEG-TS or MP4 file), retrying the source and each
// destination on its own.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediakit/mediakit/internal/backoff"
	"github.com/mediakit/mediakit/pkg/cli/cmdutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/rtsp"
	"github.com/mediakit/mediakit/pkg/sink"
	"github.com/mediakit/mediakit/pkg/source"
)

// Options are the inputs of a relay run.
type Options struct {
	IO     *cmdutil.IO
	Source string
	Dests  []string
	// Retries is how many times a failing source, and each failing
	// destination, is tried again; -1 without end.
	Retries int
	// RetryDelay is the first wait before a retry; it doubles with each
	// consecutive failure up to maxRetryDelay, with jitter.
	RetryDelay time.Duration
	Duration   time.Duration // of media; 0: until the source ends
	Realtime   bool          // pace files at their real-time rate
	Loop       bool          // start the source again when it ends
	Timeout    time.Duration // connect, read and write timeout
	// RTSPTransport is how an rtsp:// source receives RTP: tcp, udp or
	// multicast.
	RTSPTransport string
	JSON          bool
	LogLevel      string
	// Progress forces the status line on or off; nil: on when stderr is
	// a terminal.
	Progress *bool

	// Dependencies; nil selects the real ones. Tests stub them.
	openSource func(string, source.Options) (source.Source, error)
	newSink    func(context.Context, sink.Target, sink.Options) (sink.Sink, error)
}

// maxRetryDelay caps the backoff (unless --retry-delay is longer).
const maxRetryDelay = 30 * time.Second

// NewCommand returns the relay command. runF replaces Run in tests.
func NewCommand(io *cmdutil.IO, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "relay SRC DST [DST...]",
		Short: "Relay a stream from a source to RTMP servers and/or files",
		Long: `Pull SRC once and send it, without transcoding, to every DST.

` + cmdutil.Wrap("SRC is one of: "+source.Supported+".", 74) + `
--rtsp-transport picks how an rtsp:// or rtsps:// SRC receives RTP: tcp
(interleaved in the RTSP connection, the default), udp or multicast.
--re reads a file at its real-time pace (do that when pushing a file to a
live server); --loop starts the source again each time it ends.

DST is rtmp://host[:port]/app/stream or rtsp://host[:port]/app/stream
(published there; RTSP sends RTP over TCP) or a file whose extension
picks the container: .flv, .ts (MPEG-TS) or .mp4. Files are
finished cleanly on Ctrl-C and stay playable if the process is killed.
Codecs a container cannot carry are left out, with one warning.

--retries N tries a failing source again up to N times (-1: without end),
waiting --retry-delay, doubled after each consecutive failure (at most
30s), with jitter; the destinations stay attached meanwhile. Each push
destination is retried the same way on its own, without stopping the
others. A file destination is not retried (it would be truncated). A
source or destination that worked for a while starts counting again.

Exit status: 0 when the source ended (or --duration of media was relayed,
or Ctrl-C) and every destination was fine at the end; 1 when the source
gave up (retries ran out), or any destination gave up or was failing at
the end. The others keep running until the source ends; when every
destination has given up the relay stops. The error is one line on stderr
naming the URL and the cause. 2 on a usage error.

A one-line summary goes to stdout (--json: an object with source,
destinations [{url, format, bytes, frames, retries, error}], frames,
duration_seconds, stopped); a status line to stderr on a terminal.`,
		Example: `  mediakit relay rtmp://origin/live/cam rtmp://edge1/live/cam rtmp://edge2/live/cam --retries -1
  mediakit relay http://127.0.0.1:8080/live/cam.live.flv cam.ts --duration 1h
  mediakit relay rtsp://admin:pw@192.168.1.64:554/Streaming/Channels/101 rtmp://127.0.0.1/live/cam --retries -1
  mediakit relay in.flv --re --loop rtmp://127.0.0.1/live/test
  mediakit relay in.flv out.mp4 out.ts --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return cmdutil.UsageError(fmt.Errorf("relay needs SRC and at least one DST, got %s (see 'mediakit relay --help')", cmdutil.Arguments(len(args))))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Source, opts.Dests = args[0], args[1:]
			if _, err := opts.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Retries, "retries", 0, "try a failing source or destination again this many times (-1: without end)")
	f.DurationVar(&opts.RetryDelay, "retry-delay", time.Second, "wait before the first retry; doubled after each failure (at most 30s), with jitter")
	f.DurationVar(&opts.Duration, "duration", 0, "stop after this much media (0: until the source ends or Ctrl-C)")
	f.BoolVar(&opts.Realtime, "re", false, "read a file at its real-time pace")
	f.BoolVar(&opts.Loop, "loop", false, "start the source again each time it ends (a file plays in a loop)")
	f.DurationVar(&opts.Timeout, "timeout", source.DefaultTimeout, "connect, read and write timeout of the source and the destinations")
	f.StringVar(&opts.RTSPTransport, "rtsp-transport", string(rtsp.TransportTCP), "how an rtsp:// SRC receives RTP: tcp, udp or multicast")
	_ = cmd.RegisterFlagCompletionFunc("rtsp-transport", cobra.FixedCompletions(rtsp.Transports, cobra.ShellCompDirectiveNoFileComp))
	f.BoolVar(&opts.JSON, "json", false, "print the summary as a JSON object")
	f.StringVar(&opts.LogLevel, "log-level", "warn", "debug, info, warn or error (logs go to stderr)")
	return cmd
}

// check validates the options: a usage error names the flag or argument
// at fault. It returns the parsed destinations.
func (o *Options) check() ([]sink.Target, error) {
	switch {
	case o.Source == "":
		return nil, cmdutil.UsageError(errors.New("relay needs SRC (see 'mediakit relay --help')"))
	case len(o.Dests) == 0:
		return nil, cmdutil.UsageError(errors.New("relay needs at least one DST (see 'mediakit relay --help')"))
	case o.Retries < -1:
		return nil, cmdutil.UsageError(fmt.Errorf("--retries %d: want a count, or -1 to retry without end", o.Retries))
	case o.RetryDelay <= 0:
		return nil, cmdutil.UsageError(fmt.Errorf("--retry-delay %s: must be positive", o.RetryDelay))
	case o.Timeout <= 0:
		return nil, cmdutil.UsageError(fmt.Errorf("--timeout %s: must be positive", o.Timeout))
	case o.Duration < 0:
		return nil, cmdutil.UsageError(fmt.Errorf("--duration %s: must not be negative", o.Duration))
	}
	if _, err := rtsp.ParseTransport(o.RTSPTransport); err != nil {
		return nil, cmdutil.UsageError(fmt.Errorf("--rtsp-transport %q: want tcp, udp or multicast", o.RTSPTransport))
	}
	if _, err := parseLevel(o.LogLevel); err != nil {
		return nil, err
	}
	targets := make([]sink.Target, 0, len(o.Dests))
	files := map[string]string{} // absolute path -> what it is
	if p, ok := localPath(o.Source); ok {
		files[p] = "SRC"
	}
	for _, d := range o.Dests {
		t, err := sink.ParseTarget(d)
		if err != nil {
			return nil, cmdutil.UsageError(fmt.Errorf("DST %w", err))
		}
		if t.IsFile() {
			// Two sinks on one file, or a sink on the input, would
			// destroy it.
			abs, err := filepath.Abs(t.Dest)
			if err != nil {
				abs = filepath.Clean(t.Dest)
			}
			if prev, ok := files[abs]; ok {
				return nil, cmdutil.UsageError(fmt.Errorf("DST %s: the same file as %s", d, prev))
			}
			files[abs] = "DST " + d
		}
		for _, prev := range targets {
			if !t.IsFile() && prev.Dest == t.Dest {
				return nil, cmdutil.UsageError(fmt.Errorf("DST %s: given twice", t.Display))
			}
		}
		targets = append(targets, t)
	}
	return targets, nil
}

// localPath is the absolute path of a source that is a local file.
func localPath(src string) (string, bool) {
	if scheme, rest, ok := strings.Cut(src, "://"); ok {
		if !strings.EqualFold(scheme, "file") {
			return "", false
		}
		src = rest
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return "", false
	}
	return abs, true
}

func parseLevel(s string) (slog.Level, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, cmdutil.UsageError(fmt.Errorf("--log-level: %q is not debug, info, warn or error", s))
	}
	return level, nil
}

// forever is the engine's grace period for a source that reconnects:
// longer than any retry schedule. The relay ends the stream itself.
const forever = 100 * 365 * 24 * time.Hour

// Run relays until the source ends (or gives up), the duration is
// reached, every destination gave up, or ctx is cancelled (Ctrl-C); then
// it finishes the destinations and prints the summary.
func Run(ctx context.Context, opts *Options) error {
	targets, err := opts.check()
	if err != nil {
		return err
	}
	level, _ := parseLevel(opts.LogLevel)
	log := slog.New(slog.NewTextHandler(opts.IO.ErrOut, &slog.HandlerOptions{Level: level}))
	openSource, newSink := opts.openSource, opts.newSink
	if openSource == nil {
		openSource = source.Open
	}
	if newSink == nil {
		newSink = func(ctx context.Context, t sink.Target, o sink.Options) (sink.Sink, error) { return t.New(ctx, o) }
	}
	src, err := openSource(opts.Source, source.Options{
		Realtime: opts.Realtime, ReadTimeout: opts.Timeout, WriteTimeout: opts.Timeout, StartTimeout: opts.Timeout,
		RTSPTransport: opts.RTSPTransport, Log: log,
	})
	if err != nil {
		if errors.Is(err, source.ErrUnsupported) {
			return cmdutil.UsageError(err)
		}
		return fmt.Errorf("relay: %w", err)
	}
	policy := backoff.Policy{Min: opts.RetryDelay, Max: max(maxRetryDelay, opts.RetryDelay)}

	cfg := engine.DefaultConfig()
	cfg.ContinuePush = forever      // destinations stay attached while the source retries
	cfg.MaxReaderLag = 0            // sinks never skip
	cfg.MaxReaderLagBytes = 1 << 30 // a file read faster than destinations take it
	cfg.NoneReaderDelay = 0
	e := engine.New(cfg, log)
	defer e.Close()
	key := engine.NewKey("", "relay", "source")

	// runCtx ends the pull: Ctrl-C, or every destination gave up.
	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	dests := make([]*destination, len(targets))
	for i, t := range targets {
		retries := opts.Retries
		if t.IsFile() {
			retries = 0 // a new attempt would truncate what the file has
		}
		dests[i] = newDestination(i, t, retries, policy, log, func() (sink.Sink, error) {
			// ctx, not runCtx: on Ctrl-C a push still connecting gives
			// up; one that publishes sends what the stream still has.
			return newSink(ctx, t, sink.Options{Timeout: opts.Timeout, SyncMP4: true, Log: log})
		}, func(name string, f func() engine.Sink) error {
			return e.AttachSink(runCtx, key, name, f)
		})
	}
	for _, d := range dests {
		d.onGiveUp = func() {
			for _, d := range dests {
				if !d.gaveUp() {
					return
				}
			}
			stopRun(errAllGaveUp)
		}
	}
	e.SetSinkPolicy(func(engine.StreamInfo) map[string]func() engine.Sink {
		out := map[string]func() engine.Sink{}
		for _, d := range dests {
			name := d.nextName()
			if s := d.claim(); s != nil {
				out[name] = func() engine.Sink { return s }
			}
		}
		return out
	})

	p := &puller{src: src, e: e, key: key, retries: opts.Retries, policy: policy, loop: opts.Loop,
		clock: &mediaClock{limit: opts.Duration}, log: log}
	showStatus := opts.IO.ErrIsTerminal()
	if opts.Progress != nil {
		showStatus = *opts.Progress
	}
	var status *statusLine
	if showStatus {
		status = startStatus(opts.IO.ErrOut, p, dests)
	}

	start := time.Now()
	stopped, srcErr := p.run(runCtx)
	if errors.Is(context.Cause(runCtx), errAllGaveUp) {
		stopped = "failed"
	}
	for _, d := range dests {
		d.close() // no retry from now on
	}
	e.Close() // destinations finish: files closed, pushes drained
	if status != nil {
		status.stop()
	}

	s := summarize(stopped, p, dests)
	var errs []error
	if srcErr != nil {
		errs = append(errs, srcErr)
	}
	for _, d := range dests {
		if err := d.failure(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.Frames == 0 && srcErr == nil {
		if err := p.lastFailure(); err != nil {
			return fmt.Errorf("relay: %w", err) // interrupted while it kept failing
		}
		return fmt.Errorf("relay: %s: no media received", src)
	}
	if s.Frames > 0 {
		if err := printSummary(opts, s, time.Since(start)); err != nil {
			return err
		}
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("relay: %w", errs[0])
	}
	return fmt.Errorf("relay: %w (and %d more failures, see the summary)", errs[0], len(errs)-1)
}

// errAllGaveUp stops the pull when no destination is left.
var errAllGaveUp = errors.New("every destination gave up")
