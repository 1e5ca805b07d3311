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

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/sink"
)

const outUsage = "want FILE.mp4, FILE.flv or rtmp://HOST[:PORT]/APP/STREAM"

// parseOut checks --out; nil for none. rtp-listen writes a subset of what
// pkg/sink writes: MP4, FLV and RTMP.
func parseOut(s string) (*sink.Target, error) {
	if s == "" {
		return nil, nil
	}
	if scheme, _, ok := strings.Cut(s, "://"); ok && !strings.ContainsAny(scheme, `/\`) {
		if !strings.EqualFold(scheme, "rtmp") {
			return nil, fmt.Errorf("--out %s: %s:// is not supported (%s)", s, scheme, outUsage)
		}
		t, err := sink.ParseTarget(s)
		if err != nil {
			return nil, fmt.Errorf("--out: %w", err)
		}
		return &t, nil
	}
	switch strings.ToLower(filepath.Ext(s)) {
	case ".mp4", ".flv":
		t, err := sink.ParseTarget(s)
		if err != nil {
			return nil, fmt.Errorf("--out: %w", err)
		}
		return &t, nil
	}
	return nil, fmt.Errorf("--out %s: the extension does not name a container (%s)", s, outUsage)
}

// output ingests the first stream that becomes ready (with --ssrc, the
// only one) into the target.
type output struct {
	ctx    context.Context
	target *sink.Target
	log    *slog.Logger
	failed func(error) // ends the run

	chosen atomic.Bool
	mu     sync.Mutex
	ssrc   *uint32
	sink   sink.Sink
	fail   error
}

func newOutput(ctx context.Context, t *sink.Target, log *slog.Logger, failed func(error)) *output {
	return &output{ctx: ctx, target: t, log: log, failed: failed}
}

// policy is the engine's SinkPolicy: it attaches the output to the first
// stream that becomes ready and to no other.
func (o *output) policy(info engine.StreamInfo) map[string]func() engine.Sink {
	if !o.chosen.CompareAndSwap(false, true) {
		return nil
	}
	// A push gives up connecting when the run ends (ctx); MP4 fragments
	// are fsynced, as `mediakit record` does.
	out, err := o.target.New(o.ctx, sink.Options{SyncMP4: true, Log: o.log})
	if err != nil {
		// parseOut accepted the target: New cannot fail.
		o.log.Error("rtp-listen output not started", "out", o.target.Display, "error", err.Error())
		return nil
	}
	o.mu.Lock()
	if v, err := strconv.ParseUint(info.Key.Stream, 16, 32); err == nil {
		ssrc := uint32(v)
		o.ssrc = &ssrc
	}
	o.sink = out
	o.mu.Unlock()
	o.log.Info("rtp-listen output attached", "stream", info.Key.String(), "out", o.target.Display)
	return map[string]func() engine.Sink{"out": func() engine.Sink { return watched{out, o} }}
}

// watched ends the run when its output stops with an error.
type watched struct {
	sink.Sink
	o *output
}

func (w watched) Run(r *engine.Reader) {
	w.Sink.Run(r)
	if err := w.Result().Err; err != nil {
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
	s := OutSummary{Path: o.target.Display, Format: o.target.Kind, SSRC: o.ssrc}
	if o.sink != nil {
		r := o.sink.Result()
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
