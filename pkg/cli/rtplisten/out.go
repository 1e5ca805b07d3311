package rtplisten

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
	rec "github.com/mediakit/mediakit/pkg/record"
	"github.com/mediakit/mediakit/pkg/rtmp"
)

// target is a parsed --out.
type target struct {
	format string // mp4, flv or rtmp
	path   string // the file, or the URL as given
	url    rtmp.ClientURL
}

const outUsage = "want FILE.mp4, FILE.flv or rtmp://HOST[:PORT]/APP/STREAM"

// parseOut checks --out; nil for none.
func parseOut(s string) (*target, error) {
	if s == "" {
		return nil, nil
	}
	if scheme, _, ok := strings.Cut(s, "://"); ok && !strings.ContainsAny(scheme, `/\`) {
		if !strings.EqualFold(scheme, "rtmp") {
			return nil, fmt.Errorf("--out %s: %s:// is not supported (%s)", s, scheme, outUsage)
		}
		u, err := rtmp.ParseClientURL(s)
		if err != nil {
			return nil, fmt.Errorf("--out: %w", err)
		}
		return &target{format: "rtmp", path: s, url: u}, nil
	}
	switch strings.ToLower(filepath.Ext(s)) {
	case ".mp4":
		return &target{format: "mp4", path: s}, nil
	case ".flv":
		return &target{format: "flv", path: s}, nil
	}
	return nil, fmt.Errorf("--out %s: the extension does not name a container (%s)", s, outUsage)
}

func displayTarget(t *target) string {
	if t.format == "rtmp" {
		return t.url.Display
	}
	return t.path
}

// outResult is what an output wrote.
type outResult struct {
	Files    []string
	Frames   int64
	Bytes    int64
	Duration time.Duration
	Err      error // the failure that stopped it early
}

// outSink is an engine sink that writes one output.
type outSink interface {
	engine.Sink
	result() outResult
}

// output ingests the first stream that becomes ready (with --ssrc, the
// only one) into the target.
type output struct {
	ctx    context.Context
	target *target
	log    *slog.Logger
	failed func(error) // ends the run

	chosen atomic.Bool
	mu     sync.Mutex
	ssrc   *uint32
	sink   outSink
	fail   error
}

func newOutput(ctx context.Context, t *target, log *slog.Logger, failed func(error)) *output {
	return &output{ctx: ctx, target: t, log: log, failed: failed}
}

// policy is the engine's SinkPolicy: it attaches the output to the first
// stream that becomes ready and to no other.
func (o *output) policy(info engine.StreamInfo) map[string]func() engine.Sink {
	if !o.chosen.CompareAndSwap(false, true) {
		return nil
	}
	var sink outSink
	switch o.target.format {
	case "mp4":
		sink = mp4Out{rec.NewMP4File(o.target.path, true, o.log)}
	case "flv":
		sink = &flvFile{path: o.target.path, log: o.log.With("file", o.target.path)}
	default:
		sink = &rtmpPush{ctx: o.ctx, url: o.target.path, log: o.log.With("url", o.target.url.Display)}
	}
	o.mu.Lock()
	if v, err := strconv.ParseUint(info.Key.Stream, 16, 32); err == nil {
		ssrc := uint32(v)
		o.ssrc = &ssrc
	}
	o.sink = sink
	o.mu.Unlock()
	o.log.Info("rtp-listen output attached", "stream", info.Key.String(), "out", displayTarget(o.target))
	return map[string]func() engine.Sink{"out": func() engine.Sink { return watched{sink, o} }}
}

// watched ends the run when its output stops with an error.
type watched struct {
	outSink
	o *output
}

func (w watched) Run(r *engine.Reader) {
	w.outSink.Run(r)
	if err := w.result().Err; err != nil {
		w.o.mu.Lock()
		if w.o.fail == nil {
			w.o.fail = err
		}
		w.o.mu.Unlock()
		w.o.failed(err)
	}
}

// summary describes the output; call it once the engine is closed (the
// sink has finished).
func (o *output) summary() OutSummary {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := OutSummary{Path: displayTarget(o.target), Format: o.target.format, SSRC: o.ssrc}
	if o.sink != nil {
		r := o.sink.result()
		s.Frames, s.Bytes, s.Duration = r.Frames, r.Bytes, round(r.Duration.Seconds(), 3)
		s.Files = r.Files
		if r.Err != nil {
			s.Error = r.Err.Error()
		}
	}
	if s.Frames == 0 {
		s.SSRC = nil
	}
	return s
}

func (o *output) err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.fail
}

// mp4Out is the recorder `mediakit record --mp4` uses.
type mp4Out struct{ rec.FileSink }

func (m mp4Out) result() outResult {
	r := m.Result()
	return outResult{Files: r.Files, Frames: r.Frames, Bytes: r.Bytes, Duration: r.Duration, Err: r.Err}
}

// tally counts the frames an output wrote and the media time they span;
// the output adds its bytes and failure to res.
type tally struct {
	res         outResult
	first, last time.Duration
}

func (t *tally) add(f *media.Frame) {
	if t.res.Frames == 0 {
		t.first, t.last = f.DTS, f.DTS
	}
	t.first, t.last = min(t.first, f.DTS), max(t.last, f.DTS)
	t.res.Frames++
}

func (t *tally) result() outResult {
	r := t.res
	r.Duration = t.last - t.first
	return r
}

// codecWarnings logs once per codec that the output cannot carry.
type codecWarnings map[media.Codec]bool

func (w *codecWarnings) skip(log *slog.Logger, what string, c media.Codec) {
	if *w == nil {
		*w = codecWarnings{}
	}
	if !(*w)[c] {
		(*w)[c] = true
		log.Warn(what+" cannot carry this codec: its frames are left out", "codec", c.String())
	}
}
