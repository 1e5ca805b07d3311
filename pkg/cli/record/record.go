// Package record is `mediakit record SRC [--mp4 FILE] [--hls DIR]`: pull a
// stream or read a file through the engine into the same recorders the
// server uses.
package record

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediakit/mediakit/pkg/cli/cmdutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
	rec "github.com/mediakit/mediakit/pkg/record"
	"github.com/mediakit/mediakit/pkg/rtsp"
	"github.com/mediakit/mediakit/pkg/source"
)

// Options are the inputs of a record run.
type Options struct {
	IO       *cmdutil.IO
	Source   string
	MP4      string
	HLS      string
	Duration time.Duration
	Segment  time.Duration
	JSON     bool
	Realtime bool
	// Timeout bounds connecting to a network source and ends one that
	// sends nothing for this long.
	Timeout time.Duration
	// RTSPTransport is how an rtsp:// source receives RTP: tcp, udp or
	// multicast.
	RTSPTransport string
	// Progress forces the progress bar on or off; nil: on when stderr is
	// a terminal.
	Progress *bool
	LogLevel string
}

// NewCommand returns the record command. runF replaces Run in tests.
func NewCommand(io *cmdutil.IO, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "record SRC [--mp4 FILE] [--hls DIR]",
		Short: "Record a stream or a file to MP4 and/or HLS",
		Long: `Record SRC to an MP4 file and/or an HLS directory, without transcoding.

` + cmdutil.Wrap("SRC is one of: "+source.Supported+".", 74) + `
--rtsp-transport picks how an rtsp:// or rtsps:// SRC receives RTP: tcp
(interleaved in the RTSP connection, the default), udp or multicast.
--timeout bounds connecting, and ends a network SRC that sends nothing for
that long (the files are finished, exit 1).

The MP4 file stays playable if the process is killed (fragmented while
recording, made a standard seekable MP4 at the end); the HLS directory
gets MPEG-TS segments and hls.m3u8, ended with EXT-X-ENDLIST. Ctrl-C stops
the recording and finishes the files. A one-line summary goes to stdout
(--json: an object); a progress bar to stderr on a terminal.`,
		Example: `  mediakit record rtmp://127.0.0.1/live/cam --mp4 cam.mp4 --duration 1h
  mediakit record http://127.0.0.1:8080/live/cam.live.flv --hls ./cam --segment 4s
  mediakit record rtsp://admin:pw@192.168.1.64/stream1 --mp4 cam.mp4 --rtsp-transport udp
  mediakit record in.flv --mp4 out.mp4 --hls out-hls --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return cmdutil.UsageError(fmt.Errorf("record needs exactly one SRC, got %s (see 'mediakit record --help')", cmdutil.Arguments(len(args))))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Source = args[0]
			if opts.MP4 == "" && opts.HLS == "" {
				return cmdutil.UsageError(errors.New("record needs --mp4 FILE, --hls DIR or both"))
			}
			if opts.Duration < 0 || opts.Segment <= 0 || opts.Timeout <= 0 {
				return cmdutil.UsageError(errors.New("--duration must not be negative, --segment and --timeout must be positive"))
			}
			if _, err := rtsp.ParseTransport(opts.RTSPTransport); err != nil {
				return cmdutil.UsageError(fmt.Errorf("--rtsp-transport %q: want tcp, udp or multicast", opts.RTSPTransport))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.MP4, "mp4", "", "write an MP4 file")
	f.StringVar(&opts.HLS, "hls", "", "write HLS (segments and hls.m3u8) into this directory")
	f.DurationVar(&opts.Duration, "duration", 0, "stop after this much media (0: until the source ends or Ctrl-C)")
	f.DurationVar(&opts.Segment, "segment", 2*time.Second, "HLS target segment duration")
	f.BoolVar(&opts.JSON, "json", false, "print the summary as a JSON object")
	f.BoolVar(&opts.Realtime, "re", false, "read a file at its real-time pace")
	f.DurationVar(&opts.Timeout, "timeout", source.DefaultTimeout, "connect and read timeout of a network source")
	f.StringVar(&opts.RTSPTransport, "rtsp-transport", string(rtsp.TransportTCP), "how an rtsp:// SRC receives RTP: tcp, udp or multicast")
	_ = cmd.RegisterFlagCompletionFunc("rtsp-transport", cobra.FixedCompletions(rtsp.Transports, cobra.ShellCompDirectiveNoFileComp))
	f.StringVar(&opts.LogLevel, "log-level", "warn", "debug, info, warn or error (logs go to stderr)")
	return cmd
}

// Summary is what a recording produced; --json prints it.
type Summary struct {
	Source   string  `json:"source"`
	Duration float64 `json:"duration_seconds"`
	Frames   int64   `json:"frames"`
	Read     int64   `json:"bytes_read"`
	Files    []File  `json:"files"`
	Stopped  string  `json:"stopped"` // "end", "duration", "interrupted" or "failed"
}

// File is one output.
type File struct {
	Path     string  `json:"path"`
	Format   string  `json:"format"`
	Bytes    int64   `json:"bytes"`
	Duration float64 `json:"duration_seconds"`
	Frames   int64   `json:"frames"`
	Segments int     `json:"segments,omitempty"`
}

var errDurationReached = errors.New("duration reached")

// watchedSink calls failed with the error of a recorder that stopped
// early.
type watchedSink struct {
	rec.FileSink
	failed func(error)
}

func (w watchedSink) Run(r *engine.Reader) {
	w.FileSink.Run(r)
	if err := w.Result().Err; err != nil {
		w.failed(err)
	}
}

// limitSink stops the source after Duration of media and counts frames.
type limitSink struct {
	flv.FrameSink
	limit   time.Duration
	mu      sync.Mutex
	first   time.Duration
	last    time.Duration
	started bool
	frames  int64
}

func (l *limitSink) WriteFrame(f *media.Frame) error {
	l.mu.Lock()
	if !l.started {
		l.first, l.started = f.DTS, true
	}
	if l.limit > 0 && f.DTS-l.first >= l.limit {
		l.mu.Unlock()
		return errDurationReached
	}
	l.last = f.DTS
	l.frames++
	l.mu.Unlock()
	return l.FrameSink.WriteFrame(f)
}

func (l *limitSink) progress() (time.Duration, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last - l.first, l.frames
}

// Run records until the source ends, the duration is reached or ctx is
// cancelled (Ctrl-C), then finishes the files and prints the summary.
func Run(ctx context.Context, opts *Options) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(opts.LogLevel))); err != nil {
		return cmdutil.UsageError(fmt.Errorf("--log-level: %q is not debug, info, warn or error", opts.LogLevel))
	}
	log := slog.New(slog.NewTextHandler(opts.IO.ErrOut, &slog.HandlerOptions{Level: level}))
	src, err := source.Open(opts.Source, source.Options{Realtime: opts.Realtime, RTSPTransport: opts.RTSPTransport,
		ReadTimeout: opts.Timeout, Log: log}) // the wait for a stream to start keeps its 30 s
	if err != nil {
		if errors.Is(err, source.ErrUnsupported) {
			return cmdutil.UsageError(err)
		}
		return err
	}

	cfg := engine.DefaultConfig()
	cfg.ContinuePush = 0            // the source ending ends the recording
	cfg.MaxReaderLag = 0            // recorders never skip
	cfg.MaxReaderLagBytes = 1 << 30 // a file read faster than disks write
	cfg.NoneReaderDelay = 0
	e := engine.New(cfg, log)
	defer e.Close()

	var sinks []rec.FileSink
	var names []string
	if opts.MP4 != "" {
		sinks = append(sinks, rec.NewMP4File(opts.MP4, true, log))
		names = append(names, "mp4")
	}
	if opts.HLS != "" {
		sinks = append(sinks, rec.NewHLSDir(opts.HLS, opts.Segment, log))
		names = append(names, "hls")
	}
	// An output that fails (cannot be created, disk full) ends the
	// recording: runCtx stops the source.
	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	key := engine.NewKey("", "record", "source")
	e.SetSinkPolicy(func(info engine.StreamInfo) map[string]func() engine.Sink {
		out := map[string]func() engine.Sink{}
		for i, s := range sinks {
			w := watchedSink{FileSink: s, failed: stopRun}
			out[names[i]] = func() engine.Sink { return w }
		}
		return out
	})
	// src.String() is the input with any URL password redacted: the
	// summary, the errors and the logs show that, never opts.Source.
	name := src.String()
	pub, err := e.Publish(ctx, key, engine.SessionInfo{ID: "record", Protocol: "record", Remote: name})
	if err != nil {
		return err
	}
	sink := &limitSink{FrameSink: pub, limit: opts.Duration}

	showProgress := opts.IO.ErrIsTerminal()
	if opts.Progress != nil {
		showProgress = *opts.Progress
	}
	stopProgress := startProgress(showProgress, opts.IO.ErrOut, src, sink)

	start := time.Now()
	runErr := src.Run(runCtx, sink)
	pub.Close()
	e.Close() // the recorders finish their files
	stopProgress()

	summary := Summary{Source: name, Read: src.BytesRead(), Stopped: "end", Files: []File{}}
	d, frames := sink.progress()
	summary.Duration, summary.Frames = roundSeconds(d), frames
	var sinkErr error
	for _, s := range sinks {
		if err := s.Result().Err; err != nil && sinkErr == nil {
			sinkErr = err
		}
	}
	switch {
	case sinkErr != nil:
		summary.Stopped, runErr = "failed", sinkErr
	case errors.Is(runErr, errDurationReached):
		summary.Stopped, runErr = "duration", nil
	case ctx.Err() != nil && (runErr == nil || errors.Is(runErr, context.Canceled)):
		summary.Stopped, runErr = "interrupted", nil
	case runErr != nil:
		summary.Stopped = "failed"
	}
	for i, s := range sinks {
		r := s.Result()
		for _, p := range r.Files {
			summary.Files = append(summary.Files, File{Path: p, Format: names[i], Bytes: r.Bytes, Duration: roundSeconds(r.Duration),
				Frames: r.Frames, Segments: r.Segments})
		}
	}
	if err := printSummary(opts, summary, time.Since(start)); err != nil {
		return err
	}
	if runErr != nil {
		if strings.Contains(runErr.Error(), name) {
			return fmt.Errorf("record: %w", runErr) // the cause names the source already
		}
		return fmt.Errorf("record: %s: %w", name, runErr)
	}
	if frames == 0 {
		return fmt.Errorf("record: %s: no media received", name)
	}
	return nil
}

// roundSeconds is d in seconds to the millisecond, as the JSON summary
// prints it (2.994, not 2.9939999999999998).
func roundSeconds(d time.Duration) float64 {
	return d.Round(time.Millisecond).Seconds()
}

func printSummary(opts *Options, s Summary, took time.Duration) error {
	if opts.JSON {
		return cmdutil.PrintJSON(opts.IO.Out, s)
	}
	parts := make([]string, 0, len(s.Files))
	for _, f := range s.Files {
		if f.Format == "hls" {
			parts = append(parts, fmt.Sprintf("%s (%d segments, %s)", f.Path, f.Segments, cmdutil.HumanBytes(f.Bytes)))
		} else {
			parts = append(parts, fmt.Sprintf("%s (%s)", f.Path, cmdutil.HumanBytes(f.Bytes)))
		}
	}
	files := strings.Join(parts, ", ")
	if files == "" {
		files = "no files"
	}
	_, err := fmt.Fprintf(opts.IO.Out, "recorded %.2fs (%d frames) from %s in %s: %s\n",
		s.Duration, s.Frames, s.Source, took.Round(time.Millisecond), files)
	return err
}
