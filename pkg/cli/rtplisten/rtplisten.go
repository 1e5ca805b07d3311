// Package rtplisten is `mediakit rtp-listen`: listen on an RTP port and
// say what arrives (per SSRC: payload type and kind, the codecs inside
// PS/TS, packets, loss, reordering, jitter, bitrate), optionally ingesting
// one stream into an MP4 or FLV file or an RTMP server.
//
// It runs the same receiver the server uses for GB28181 cameras (a
// multiplexed pkg/rtpserver port publishing each SSRC into an engine), so
// what it reports is what `mediakit serve` would see.
package rtplisten

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mediakit/mediakit/pkg/cli/cmdutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/rtpserver"
)

// Options are the inputs of an rtp-listen run.
type Options struct {
	IO *cmdutil.IO
	// Addr is where to listen, HOST:PORT (HOST empty: every address).
	// --port N sets it to ":N".
	Addr     string
	TCP      bool   // accept RFC 4571 framed RTP over TCP too
	SSRC     uint32 // 0: every SSRC; otherwise packets of others are ignored
	Duration time.Duration
	JSON     bool
	Out      string // FILE.mp4, FILE.flv or rtmp://...; "" none
	LogLevel string

	// Progress forces the live table on or off; nil: on when stderr is a
	// terminal.
	Progress *bool
	// Refresh is how often the figures are read (and the live table
	// redrawn); 0 selects one second.
	Refresh time.Duration
	// OnListen, when set, is called with the bound address once packets
	// can be received.
	OnListen func(addr string)
	// OnRefresh, when set, is called with the current figures at every
	// refresh, from the refreshing goroutine.
	OnRefresh func([]Stream)
}

// NewCommand returns the rtp-listen command. runF replaces Run in tests.
func NewCommand(io *cmdutil.IO, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	var port int
	var ssrc string
	cmd := &cobra.Command{
		Use:   "rtp-listen (--port N | --addr HOST:PORT) [--tcp] [--ssrc N] [--out FILE|URL]",
		Short: "Listen for RTP (GB28181 cameras) and report what arrives",
		Long: `Listen on an RTP port and report, for every SSRC that sends to it: the
payload type and kind (ps, ts, h264, h265, aac, opus, pcma, pcmu or
unknown), the codecs found inside PS/TS, packets, bytes, packets lost and
reordered, interarrival jitter and bitrate, and the sender's address.
It answers "is my camera sending, and what?" in one command.

UDP always; --tcp also accepts RTP over TCP (RFC 4571 framing, the camera
connects: passive mode). --ssrc keeps one SSRC (decimal, or hex with 0x)
and ignores the others. --out ingests what arrives: the --ssrc stream, or
the first stream to carry media when several arrive, into FILE.mp4 or
FILE.flv (the extension picks the container; files stay playable after
Ctrl-C) or pushed to rtmp://HOST/APP/STREAM.

On a terminal a live table on stderr is redrawn every second. At the end
(--duration reached, Ctrl-C or SIGTERM) one summary goes to stdout: a
table, or with --json one object {"addr", "duration_seconds", "streams":
[{"ssrc", "payload_type", "kind", "codecs", "packets", "bytes", "lost",
"reordered", "jitter_ms", "bitrate_kbps", "peer", ...}]}, plus "out" with
the output and the frames written. The summary's bitrate_kbps is the
average from a stream's first to its last packet. Nothing arriving is not
an error (exit 0; a note on stderr); a port that cannot be bound is
(exit 1).`,
		Example: `  mediakit rtp-listen --port 10000
  mediakit rtp-listen --addr 0.0.0.0:10000 --tcp --duration 10s --json
  mediakit rtp-listen --port 10000 --ssrc 0100000001 --out cam.mp4
  mediakit rtp-listen --port 10000 --out rtmp://127.0.0.1/live/cam`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			portSet, addrSet := cmd.Flags().Changed("port"), cmd.Flags().Changed("addr")
			switch {
			case portSet && addrSet:
				return cmdutil.UsageError(errors.New("give --port or --addr, not both"))
			case !portSet && !addrSet:
				return cmdutil.UsageError(errors.New("rtp-listen needs --port N or --addr HOST:PORT (see 'mediakit rtp-listen --help')"))
			case portSet:
				if port < 1 || port > 65535 {
					return cmdutil.UsageError(fmt.Errorf("--port %d: want a port number from 1 to 65535", port))
				}
				opts.Addr = ":" + strconv.Itoa(port)
			}
			if cmd.Flags().Changed("ssrc") {
				v, err := ParseSSRC(ssrc)
				if err != nil {
					return cmdutil.UsageError(fmt.Errorf("--ssrc %s: %w", ssrc, err))
				}
				opts.SSRC = v
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.IntVar(&port, "port", 0, "listen on this port, every address")
	f.StringVar(&opts.Addr, "addr", "", "listen on HOST:PORT")
	f.BoolVar(&opts.TCP, "tcp", false, "accept RTP over TCP too (RFC 4571 framing, passive)")
	f.StringVar(&ssrc, "ssrc", "", "only this SSRC (decimal, or hex with 0x); 0: every SSRC")
	f.DurationVar(&opts.Duration, "duration", 0, "stop after this long (0: until Ctrl-C)")
	f.BoolVar(&opts.JSON, "json", false, "print the summary as a JSON object")
	f.StringVar(&opts.Out, "out", "", "ingest into FILE.mp4, FILE.flv or rtmp://HOST/APP/STREAM")
	f.StringVar(&opts.LogLevel, "log-level", "warn", "debug, info, warn or error (logs go to stderr)")
	return cmd
}

// ParseSSRC reads an SSRC: decimal (GB28181 writes them as ten digits,
// leading zeros included), or hexadecimal with 0x.
func ParseSSRC(s string) (uint32, error) {
	base, digits := 10, s
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		base, digits = 16, s[2:]
	}
	v, err := strconv.ParseUint(digits, base, 32)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return 0, errors.New("an SSRC is at most 4294967295 (0xFFFFFFFF)")
		}
		return 0, errors.New("want a decimal number or 0x and hex digits")
	}
	return uint32(v), nil
}

// noTimeout keeps a silent stream's figures (and its --out recording)
// until the end of the run: the server's 15 s stream timeout would drop
// a camera that pauses.
const noTimeout = 100 * 365 * 24 * time.Hour

// Run listens until the duration is reached or ctx ends (Ctrl-C), then
// finishes the output and prints the summary.
func Run(ctx context.Context, opts *Options) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(opts.LogLevel))); err != nil {
		return cmdutil.UsageError(fmt.Errorf("--log-level: %q is not debug, info, warn or error", opts.LogLevel))
	}
	host, port, err := splitAddr(opts.Addr)
	if err != nil {
		return cmdutil.UsageError(err)
	}
	if opts.Duration < 0 {
		return cmdutil.UsageError(fmt.Errorf("--duration %s: must not be negative", opts.Duration))
	}
	target, err := parseOut(opts.Out)
	if err != nil {
		return cmdutil.UsageError(err)
	}
	log := slog.New(slog.NewTextHandler(opts.IO.ErrOut, &slog.HandlerOptions{Level: level}))
	addr := net.JoinHostPort(host, strconv.Itoa(port))

	cfg := engine.DefaultConfig()
	cfg.ContinuePush = 0 // a stream's end ends its recording at once
	cfg.MaxReaderLag = 0
	cfg.NoneReaderDelay = 0
	e := engine.New(cfg, log)
	defer e.Close()

	// An output that fails (cannot be created, disk full, the RTMP
	// server refuses) ends the run: runCtx stops it.
	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	var out *output
	if target != nil {
		out = newOutput(runCtx, target, log, stopRun)
		e.SetSinkPolicy(out.policy)
	}

	reg := rtpserver.NewRegistry(e, func() rtpserver.Config {
		// Cameras send bursts (a keyframe in a few ms): ask for the
		// receive buffer the server asks for.
		return rtpserver.Config{Timeout: noTimeout, UDPReadBuffer: 4 << 20}
	}, nil, log)
	defer reg.CloseAll()
	mode := rtpserver.TCPNone
	if opts.TCP {
		mode = rtpserver.TCPPassive
	}
	if _, err := reg.Open(ctx, rtpserver.Options{LocalIP: host, Port: port, TCPMode: mode, Multiplex: true, SSRC: opts.SSRC}); err != nil {
		return fmt.Errorf("rtp-listen: %s", strings.TrimPrefix(err.Error(), "rtp: "))
	}
	log.Info("rtp-listen listening", "addr", addr, "transport", transportName(opts.TCP), "ssrc", opts.SSRC)
	if opts.OnListen != nil {
		opts.OnListen(addr)
	}

	start := time.Now()
	onTerminal := opts.IO.ErrIsTerminal()
	show := onTerminal
	if opts.Progress != nil {
		show = *opts.Progress
	}
	w := &watcher{reg: reg, seen: map[uint32]Stream{}}
	refresh := opts.Refresh
	if refresh <= 0 {
		refresh = time.Second
	}
	var tbl *liveTable
	if show {
		tbl = &liveTable{w: opts.IO.ErrOut, addr: addr, tcp: opts.TCP, ssrc: opts.SSRC, start: start, limit: opts.Duration}
		if onTerminal {
			tbl.width = func() int {
				w, _, err := term.GetSize(int(os.Stderr.Fd()))
				if err != nil {
					return 0
				}
				return w
			}
		}
	}
	stopWatching := w.run(refresh, func(streams []Stream) {
		if tbl != nil {
			tbl.draw(streams, time.Now())
		}
		if opts.OnRefresh != nil {
			opts.OnRefresh(streams)
		}
	})

	var timeout <-chan time.Time
	if opts.Duration > 0 {
		t := time.NewTimer(opts.Duration)
		defer t.Stop()
		timeout = t.C
	}
	stopped := "interrupted"
	select {
	case <-runCtx.Done():
		if ctx.Err() == nil {
			stopped = "failed" // the output failed
		}
	case <-timeout:
		stopped = "duration"
	}
	took := time.Since(start)
	// An output still connecting gives up; one that is writing finishes
	// with what the stream still delivers.
	stopRun(nil)
	stopWatching()
	if tbl != nil {
		tbl.clear()
	}

	// The last figures, then the end: CloseAll delivers what the
	// receivers still hold (a gap at the very end is only counted then)
	// and ends the streams, and the engine's Close waits for the output
	// to finish its file.
	w.poll()
	ignored := w.ignored()
	reg.CloseAll()
	w.final(reg.Counts())
	e.Close()

	s := Summary{
		Addr: addr, TCP: opts.TCP, Duration: took.Seconds(), Stopped: stopped,
		Streams: w.streams(), Ignored: ignored,
	}
	if opts.SSRC != 0 {
		v := opts.SSRC
		s.SSRC = &v
	}
	var outErr error
	if out != nil {
		o := out.summary()
		s.Out = &o
		outErr = out.err()
		if outErr != nil {
			s.Stopped = "failed"
		}
	}
	if err := printSummary(opts.IO.Out, opts.JSON, s); err != nil {
		return err
	}
	note(opts.IO.ErrOut, s)
	if outErr != nil {
		return fmt.Errorf("rtp-listen: %w", outErr) // it names the output
	}
	if stopped == "failed" {
		return fmt.Errorf("rtp-listen: %w", context.Cause(runCtx))
	}
	return nil
}

// splitAddr checks HOST:PORT.
func splitAddr(addr string) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("--addr %q: want HOST:PORT (%v)", addr, strings.TrimPrefix(err.Error(), "address "+addr+": "))
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("--addr %q: port %q is not a port number from 1 to 65535", addr, portText)
	}
	return host, port, nil
}

func transportName(tcp bool) string {
	if tcp {
		return "udp+tcp"
	}
	return "udp"
}

// note tells on stderr what the summary cannot: that nothing arrived, and
// what was ignored.
func note(w io.Writer, s Summary) {
	where := fmt.Sprintf("%s (%s)", s.Addr, transportName(s.TCP))
	if len(s.Streams) == 0 {
		msg := fmt.Sprintf("rtp-listen: no RTP stream arrived on %s in %s", where, fmtSeconds(s.Duration))
		if s.SSRC != nil {
			msg = fmt.Sprintf("rtp-listen: nothing from SSRC %d arrived on %s in %s", *s.SSRC, where, fmtSeconds(s.Duration))
		}
		fmt.Fprintln(w, msg)
	}
	if n := s.Ignored["other_ssrc"]; n > 0 {
		fmt.Fprintf(w, "rtp-listen: %d packets of other SSRCs than %d were ignored\n", n, *s.SSRC)
	}
	if n := s.Ignored["not_rtp"]; n > 0 {
		fmt.Fprintf(w, "rtp-listen: %d packets on %s were not RTP and were ignored\n", n, where)
	}
	if s.Out != nil && s.Out.Frames == 0 && s.Out.Error == "" {
		fmt.Fprintf(w, "rtp-listen: nothing was written to %s\n", s.Out.Path)
	}
}
