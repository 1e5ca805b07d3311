// Command proxy measures mediakit's relaying: what it costs in CPU per
// relayed Mbit/s (50 pull proxies inside `mediakit serve`, `mediakit
// relay` processes) against references relaying the same streams in the
// same run (ffmpeg -c copy, MediaMTX), and how long a pull proxy takes to
// be live again once its source is back.
//
//	proxy -mode cpu -targets edge,edge-hls,ffmpeg,mediamtx,relay,ffmpeg-2dst,relay-2dst
//	proxy -mode recovery -scenario origin -reps 10 -down 2s -streams 4
//	proxy -mode recovery -scenario link -reps 4 -down 30s -down-jitter 10s -streams 4
//
// Every server and relayer is a child process on loopback (free ports);
// CPU is user+system time from /proc over a fixed window. See
// BENCHMARKS.md ("Relaying: pull proxies and mediakit relay").
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mediakit/mediakit/bench/internal/benchio"
)

type options struct {
	mode     string
	mediakit string
	mediamtx string
	ffmpeg   string
	clip     string
	out      string
	keep     bool

	// cpu
	targets  string
	streams  int
	warmup   time.Duration
	duration time.Duration
	rounds   int

	// recovery
	scenario   string
	reps       int
	down       time.Duration
	downJitter time.Duration
	poll       time.Duration
	maxWait    time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.mode, "mode", "cpu", "cpu or recovery")
	flag.StringVar(&o.mediakit, "mediakit", "mediakit", "mediakit binary")
	flag.StringVar(&o.mediamtx, "mediamtx", "", "MediaMTX binary (target mediamtx)")
	flag.StringVar(&o.ffmpeg, "ffmpeg", "ffmpeg", "ffmpeg binary")
	flag.StringVar(&o.clip, "clip", "", "FLV clip (H.264 + AAC) published in a loop")
	flag.StringVar(&o.out, "out", "", "append JSON results to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the servers' data and logs (a directory under $TMPDIR, named on stderr)")
	flag.StringVar(&o.targets, "targets", "edge,ffmpeg,edge-hls,mediamtx,relay,ffmpeg-2dst,relay-2dst", "cpu mode: relayers to measure, in this order: edge (50 pull proxies, live HLS off), edge-hls (on), mediamtx, ffmpeg, relay, relay-gomaxprocs1 (50 processes each), ffmpeg-2dst, relay-2dst")
	flag.IntVar(&o.streams, "streams", 50, "streams published on the origin and relayed")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "cpu mode: time after every relayer is live before measuring")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "cpu mode: measurement window")
	flag.IntVar(&o.rounds, "rounds", 1, "cpu mode: times the target list is run")
	flag.StringVar(&o.scenario, "scenario", "origin", "recovery mode: origin (the origin server and its publisher are killed, then started again on the same ports) or link (the proxies pull through a TCP forwarder that is cut, then restored while the origin's streams stay online)")
	flag.IntVar(&o.reps, "reps", 10, "recovery mode: outages")
	flag.DurationVar(&o.down, "down", 2*time.Second, "recovery mode: how long the source stays down")
	flag.DurationVar(&o.downJitter, "down-jitter", 0, "recovery mode: a random extra down time in [0, this), so the outage ends at any phase of the proxy's retry schedule")
	flag.DurationVar(&o.poll, "poll", 20*time.Millisecond, "recovery mode: polling interval of the origin's and the edge's APIs")
	flag.DurationVar(&o.maxWait, "max-wait", 60*time.Second, "recovery mode: give up on a proxy that is not live this long after its source")
	flag.Parse()
	if o.clip == "" {
		fmt.Fprintln(os.Stderr, "proxy: -clip is required")
		os.Exit(2)
	}
	var err error
	switch o.mode {
	case "cpu":
		err = runCPU(o, strings.Split(o.targets, ","))
	case "recovery":
		err = runRecovery(o)
	default:
		err = fmt.Errorf("unknown mode %q", o.mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		os.Exit(1)
	}
}

func emit(o options, v any) { benchio.Emit(o.out, v) }

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s proxy: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// workDir makes the run's directory, removed at the end unless -keep.
func workDir(o options, prefix string) (string, func(), error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	if o.keep {
		logf("servers' data and logs in %s", dir)
		return dir, func() {}, nil
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}
