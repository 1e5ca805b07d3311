// Package remux is `mediakit remux IN... OUT`: change the container of
// files without transcoding (pkg/remux does the work).
package remux

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/mediakit/mediakit/pkg/cli/cmdutil"
	"github.com/mediakit/mediakit/pkg/remux"
)

// Options are the inputs of a remux run.
type Options struct {
	IO        *cmdutil.IO
	Inputs    []string
	Output    string
	Format    string
	Concat    bool
	Faststart bool
	Duration  time.Duration
	JSON      bool
	LogLevel  string
	// Stdin is read for the input "-"; nil selects os.Stdin.
	Stdin io.Reader
	// Progress forces the progress bar on or off; nil: on when stderr
	// is a terminal.
	Progress *bool
}

// NewCommand returns the remux command. runF replaces Run in tests.
func NewCommand(io *cmdutil.IO, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "remux IN... OUT",
		Short: "Change the container of a file without transcoding (FLV, MPEG-TS, MP4, HLS)",
		Long: `Remux IN into OUT without transcoding: timestamps, composition offsets,
keyframe flags and codec configuration are carried as they are.

IN is an FLV, MPEG-TS, MP4 (progressive or fragmented) or MPEG-PS file, an
HLS playlist (a local .m3u8 of MPEG-TS or fMP4 segments, or an http(s)
URL), or - for stdin (FLV, MPEG-TS, MPEG-PS or fragmented MP4, told by the
first bytes). Damaged MPEG-TS or MPEG-PS packets that are dropped or
mended are named in a warning.
OUT's container comes from its extension (.flv, .ts, .mp4, .m3u8) unless
--format says flv, mpegts, mp4, fmp4 or hls. HLS writes segments beside
the playlist. - writes stdout, for flv, mpegts and fmp4.
Several inputs need --concat: they become one output, each next input's
timestamps continuing one frame after the previous one's last.
--faststart puts the MP4's moov before its media.
--duration D ends the output after D of media. A live HLS playlist (no
EXT-X-ENDLIST) is refused without it (mediakit record is made for live
inputs); with it, remux reads D from the live edge and finishes the file.

Input is read as fast as the output is written: memory stays flat however
large the file. A truncated input keeps what was readable (exit 0, with a
warning on stderr). A one-line summary goes to stdout (to stderr when OUT
is -), --json makes it an object; a progress bar goes to stderr on a
terminal.`,
		Example: `  mediakit remux in.flv out.mp4
  mediakit remux --faststart in.ts out.mp4
  mediakit remux rec/hls.m3u8 rec.mp4
  mediakit remux --concat a.mp4 b.mp4 c.mp4 all.mp4
  mediakit remux in.flv out/index.m3u8
  mediakit remux --duration 30s https://example.com/live.m3u8 clip.mp4
  cat in.flv | mediakit remux - --format mpegts - | ffplay -`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return cmdutil.UsageError(fmt.Errorf("remux needs IN... OUT, got %s (see 'mediakit remux --help')", cmdutil.Arguments(len(args))))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Inputs, opts.Output = args[:len(args)-1], args[len(args)-1]
			if _, err := remux.Check(opts.remuxOptions()); err != nil {
				return cmdutil.UsageError(usageText(err))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Format, "format", "", "output container: flv, mpegts, mp4, fmp4 or hls (default: by OUT's extension)")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(remux.Formats, cobra.ShellCompDirectiveNoFileComp))
	f.BoolVar(&opts.Concat, "concat", false, "join several inputs into one output, timestamps continuing")
	f.BoolVar(&opts.Faststart, "faststart", false, "MP4: put the moov before the media")
	f.DurationVar(&opts.Duration, "duration", 0, "end the output after this much media (needed for a live HLS playlist)")
	f.BoolVar(&opts.JSON, "json", false, "print the summary as a JSON object")
	f.StringVar(&opts.LogLevel, "log-level", "warn", "debug, info, warn or error (logs go to stderr)")
	return cmd
}

// usageText strips the "usage: " of remux.ErrUsage.
func usageText(err error) error {
	return errors.New(strings.TrimPrefix(err.Error(), remux.ErrUsage.Error()+": "))
}

func (o *Options) remuxOptions() remux.Options {
	return remux.Options{Inputs: o.Inputs, Output: o.Output, Format: o.Format, Concat: o.Concat, Faststart: o.Faststart,
		Duration: o.Duration}
}

// Summary is what --json prints.
type Summary struct {
	Input    []string      `json:"input"`
	Output   string        `json:"output"`
	Format   string        `json:"format"`
	Tracks   []remux.Track `json:"tracks"`
	Frames   int64         `json:"frames"`
	Duration float64       `json:"duration_seconds"`
	Bytes    int64         `json:"bytes"`
	Dropped  []string      `json:"dropped_tracks"`
	Warnings []string      `json:"warnings"`
}

// Run remuxes and prints the summary.
func Run(ctx context.Context, opts *Options) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(opts.LogLevel))); err != nil {
		return cmdutil.UsageError(fmt.Errorf("--log-level: %q is not debug, info, warn or error", opts.LogLevel))
	}
	log := slog.New(slog.NewTextHandler(opts.IO.ErrOut, &slog.HandlerOptions{Level: level}))
	ro := opts.remuxOptions()
	ro.Log, ro.Stdin, ro.Stdout = log, opts.Stdin, opts.IO.Out
	if ro.Stdin == nil {
		ro.Stdin = os.Stdin
	}
	show := opts.IO.ErrIsTerminal()
	if opts.Progress != nil {
		show = *opts.Progress
	}
	var bar *progressbar.ProgressBar
	if show {
		ro.Progress = func(read, total int64) {
			if bar == nil {
				bar = progressbar.NewOptions64(total,
					progressbar.OptionSetWriter(opts.IO.ErrOut),
					progressbar.OptionShowBytes(true),
					progressbar.OptionSetElapsedTime(true),
					progressbar.OptionThrottle(200*time.Millisecond),
					progressbar.OptionClearOnFinish(),
					progressbar.OptionSetRenderBlankState(true),
					progressbar.OptionSetDescription("remuxing"),
				)
			}
			_ = bar.Set64(read)
		}
	}
	defer tuneGC()()
	start := time.Now()
	res, err := remux.Run(ctx, ro)
	if bar != nil {
		_ = bar.Finish()
	}
	if err != nil {
		if errors.Is(err, remux.ErrUsage) {
			return cmdutil.UsageError(usageText(err))
		}
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(opts.IO.ErrOut, "mediakit: warning: %s\n", oneLine(w))
	}
	out := opts.IO.Out
	if opts.Output == "-" {
		out = opts.IO.ErrOut // stdout carries the media
	}
	s := Summary{Input: res.Inputs, Output: res.Output, Format: res.Format, Tracks: res.Tracks, Frames: res.Frames,
		Duration: res.Duration.Seconds(), Bytes: res.Bytes, Dropped: res.Dropped, Warnings: res.Warnings}
	if opts.JSON {
		return cmdutil.PrintJSON(out, s)
	}
	var tracks []string
	for _, t := range res.Tracks {
		tracks = append(tracks, fmt.Sprintf("%d %s", t.Frames, t.Codec))
	}
	line := fmt.Sprintf("remuxed %s to %s (%s): %.2fs, %s frames, %s in %s",
		strings.Join(res.Inputs, " + "), res.Output, res.Format, s.Duration, strings.Join(tracks, " + "),
		cmdutil.HumanBytes(res.Bytes), time.Since(start).Round(time.Millisecond))
	if len(res.Dropped) > 0 {
		line += "; dropped: " + strings.Join(res.Dropped, ", ")
	}
	_, err = fmt.Fprintln(out, line)
	return err
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// gcFloor is the heap below which tuneGC lets garbage pile up.
const gcFloor = 64 << 20

// tuneGC makes the collector run less often while the live heap is small,
// and returns what restores its settings. Frames are short-lived garbage
// and the live heap of most remuxes is a fragment or a segment:
// collecting at 400% saves a good part of the CPU (see bench/remux.sh).
// But an MP4 input's sample tables, and an MP4 output's, grow with the
// file (about 35 MB for 1 GB of media), and 400% of that is RSS for
// nothing: a soft memory limit of gcFloor caps the heap while the live
// heap is small, and, raised after each collection to twice the live
// heap, makes the collector behave as at 100% once it is not (a fixed
// limit under the live heap would make it collect without pause).
func tuneGC() (restore func()) {
	percent := debug.SetGCPercent(400)
	limit := debug.SetMemoryLimit(gcFloor)
	var stopped atomic.Bool
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var arm func()
	arm = func() {
		// runs after each collection that finds this object unreachable
		runtime.AddCleanup(new([16]byte), func(struct{}) {
			if stopped.Load() {
				return
			}
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 {
				debug.SetMemoryLimit(max(gcFloor, 2*int64(sample[0].Value.Uint64())))
			}
			arm()
		}, struct{}{})
	}
	arm()
	return func() {
		stopped.Store(true)
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	}
}
