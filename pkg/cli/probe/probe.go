// Package probe is `mediakit probe INPUT`: the container, duration,
// bitrate and tracks of a file or live URL, for people or (--json) with
// ffprobe's field names; --frames/--gop measures frames, GOPs, timestamp
// gaps and bitrate over time. The analysis is pkg/probe.
package probe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediakit/mediakit/pkg/cli/cmdutil"
	"github.com/mediakit/mediakit/pkg/probe"
)

// Options are the inputs of a probe run.
type Options struct {
	IO       *cmdutil.IO
	Input    string
	JSON     bool
	Timeout  time.Duration
	Frames   bool
	Duration time.Duration
}

// NewCommand returns the probe command. runF replaces Run in tests.
func NewCommand(io *cmdutil.IO, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	var gop bool
	cmd := &cobra.Command{
		Use:   "probe INPUT [--json] [--timeout D] [--frames|--gop] [--duration D]",
		Short: "Show the tracks, codecs, duration and bitrate of a file or live URL",
		Long: `Probe a media file or live URL and print its container, duration, size and
bitrate, and one line per track: codec and profile, resolution and frame
rate, sample rate and channels.

INPUT: a local FLV, MP4 (progressive or fragmented), MPEG-TS or MPEG-PS
file, or an rtmp://, rtsp://, rtsps:// URL, an HTTP(S) FLV or TS stream or
an HLS playlist (.m3u8). Only what it takes to know every track is read;
an MP4 is probed from its moov. Durations match ffprobe's.

--json prints {"streams":[...],"format":{...}} with ffprobe's field names
and types (sample_rate, duration, size and bit_rate are strings, as
ffprobe prints them).

--frames (or --gop) reads every frame of a file, or --duration (default
10s) of a live input, and adds per track: frames, keyframes, GOP length
(min/avg/max, frames and seconds), timestamp gaps and backward jumps,
B-frames (PTS != DTS), measured against declared frame rate, and the
bitrate per second (min/avg/max, and over time: with --json
"bitrate_series", kbit/s per second, or per bucket of
"bitrate_series_step_seconds" past an hour). A timestamp jump back (a
restarted clock, files concatenated) counts as a backward jump, not as a
GOP, and the media after it continues the duration. --timeout (default
10s) bounds the connection and the wait for a live input's tracks.`,
		Example: `  mediakit probe in.flv
  mediakit probe --json rec.mp4
  mediakit probe --gop in.ts
  mediakit probe --frames --duration 5s rtmp://127.0.0.1/live/test`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return cmdutil.UsageError(fmt.Errorf("probe takes one INPUT, got %s (see 'mediakit probe --help')", cmdutil.Arguments(len(args))))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Input = args[0]
			opts.Frames = opts.Frames || gop
			if opts.Timeout < 0 || opts.Duration < 0 {
				return cmdutil.UsageError(errors.New("--timeout and --duration must not be negative"))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.JSON, "json", false, "print ffprobe-style JSON")
	f.DurationVar(&opts.Timeout, "timeout", probe.DefaultTimeout, "bound on connecting to and waiting for a live input")
	f.BoolVar(&opts.Frames, "frames", false, "read every frame: GOPs, timestamp gaps, B-frames, frame rate, bitrate over time")
	f.BoolVar(&gop, "gop", false, "same as --frames")
	f.DurationVar(&opts.Duration, "duration", probe.DefaultDuration, "how long to sample a live input with --frames")
	return cmd
}

// Run probes opts.Input and prints the report.
func Run(ctx context.Context, opts *Options) error {
	log := slog.New(slog.NewTextHandler(opts.IO.ErrOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r, err := probe.Probe(ctx, opts.Input, probe.Options{Timeout: opts.Timeout, Frames: opts.Frames, Duration: opts.Duration, Log: log})
	if err != nil {
		return err
	}
	if opts.JSON {
		return cmdutil.PrintJSON(opts.IO.Out, r.JSON())
	}
	return r.WriteText(opts.IO.Out)
}
