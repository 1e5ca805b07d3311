package relay

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/cli/cmdutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/sink"
	"github.com/mediakit/mediakit/pkg/source"
)

// pull is what one Run of a fakeSource does.
type pull func(ctx context.Context, s flv.FrameSink) error

// fakeSource plays a script: pull i runs script[i], the last one again
// when the script is shorter.
type fakeSource struct {
	name   string
	script []pull
	pulls  atomic.Int64
}

func (s *fakeSource) Run(ctx context.Context, sink flv.FrameSink) error {
	i := int(s.pulls.Add(1)) - 1
	return s.script[min(i, len(s.script)-1)](ctx, sink)
}
func (s *fakeSource) BytesRead() int64 { return 1000 * s.pulls.Load() }
func (s *fakeSource) Size() int64      { return -1 }
func (s *fakeSource) String() string   { return s.name }

// deliver sends frames, then returns
// what next returns (nil: the source ended).
func deliver(tracks []*media.Track, frames []*media.Frame, next func(ctx context.Context) error) pull {
	return func(ctx context.Context, s flv.FrameSink) error {
		if err := s.SetTracks(tracks); err != nil {
			return err
		}
		for _, f := range frames {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := s.WriteFrame(&media.Frame{Track: f.Track, DTS: f.DTS, PTS: f.PTS, Key: f.Key, Payload: f.Payload}); err != nil {
				return err
			}
		}
		if next == nil {
			return nil
		}
		return next(ctx)
	}
}

func failWith(err error) pull {
	return func(ctx context.Context, _ flv.FrameSink) error { return err }
}

func block(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// fakePush stands for an RTMP destination: it fails at once, or counts
// the frames it is given.
type fakePush struct {
	fail   error
	frames atomic.Int64
	res    sink.Result
}

func (p *fakePush) Run(r *engine.Reader) {
	if p.fail != nil {
		p.res.Err = p.fail
		return
	}
	buf := make([]*media.Frame, 0, 64)
	for {
		fr, err := r.Next(buf[:0])
		p.frames.Add(int64(len(fr)))
		if err != nil {
			return
		}
	}
}

func (p *fakePush) Result() sink.Result {
	r := p.res
	r.Frames = p.frames.Load()
	r.Bytes = 100 * r.Frames
	return r
}
func (p *fakePush) BytesWritten() int64  { return 100 * p.frames.Load() }
func (p *fakePush) FramesWritten() int64 { return p.frames.Load() }

// pushes makes the fake pushes of each RTMP destination; failFirst[url]
// of them fail (-1: all).
type pushes struct {
	mu        sync.Mutex
	failFirst map[string]int
	made      map[string][]*fakePush
	onAttempt func(url string, n int) // called with each new attempt's number (1, 2, ...)
}

func (p *pushes) newSink(_ context.Context, t sink.Target, o sink.Options) (sink.Sink, error) {
	if t.IsFile() {
		return t.New(context.Background(), o)
	}
	p.mu.Lock()
	if p.made == nil {
		p.made = map[string][]*fakePush{}
	}
	n := len(p.made[t.Dest]) + 1
	fp := &fakePush{}
	if f := p.failFirst[t.Dest]; f < 0 || n <= f {
		fp.fail = fmt.Errorf("rtmp: publish %s: dial tcp: connect: connection refused", t.Display)
	}
	p.made[t.Dest] = append(p.made[t.Dest], fp)
	onAttempt := p.onAttempt
	p.mu.Unlock()
	if onAttempt != nil {
		onAttempt(t.Dest, n)
	}
	return fp, nil
}

func (p *pushes) attempts(url string) []*fakePush {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*fakePush(nil), p.made[url]...)
}

type result struct {
	err            error
	stdout, stderr string
	summary        Summary
}

// run runs a relay of src with the fakes and decodes its --json summary
// (when it printed one).
func run(t *testing.T, ctx context.Context, src *fakeSource, p *pushes, opts Options) result {
	t.Helper()
	out, errOut := &testutil.SyncBuffer{}, &testutil.SyncBuffer{}
	if opts.IO != nil { // the test watches stderr itself
		errOut = opts.IO.ErrOut.(*testutil.SyncBuffer)
	}
	opts.IO = &cmdutil.IO{Out: out, ErrOut: errOut}
	opts.Source = src.name
	opts.JSON = true
	if opts.RetryDelay == 0 {
		opts.RetryDelay = 10 * time.Millisecond
	}
	if opts.Timeout == 0 {
		opts.Timeout = time.Second
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "warn"
	}
	opts.openSource = func(string, source.Options) (source.Source, error) { return src, nil }
	if p == nil {
		p = &pushes{}
	}
	opts.newSink = p.newSink
	if opts.Progress == nil {
		off := false
		opts.Progress = &off
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r := result{err: Run(ctx, &opts)}
	r.stdout, r.stderr = out.String(), errOut.String()
	if r.stdout != "" {
		testutil.DecodeJSONLine(t, r.stdout, &r.summary)
	}
	return r
}

// flvFrames reads the frames of an FLV file.
func flvFrames(t *testing.T, path string) int {
	t.Helper()
	_, frames, err := clipframes.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return len(frames)
}

// TestSourceRetry: a source that fails mid-stream is pulled again; the
// destinations stay attached and get both pulls.
func TestRelaySourceRetry(t *testing.T) {
	tracks, frames := clipframes.Read(t, "h264_aac.flv")
	half := len(frames) / 2
	lost := errors.New("source: rtmp://origin/live/s: connection reset by peer")
	src := &fakeSource{name: "rtmp://origin/live/s", script: []pull{
		deliver(tracks, frames[:half], func(context.Context) error { return lost }),
		failWith(errors.New("source: rtmp://origin/live/s: connection refused")),
		deliver(tracks, frames, nil),
	}}
	out := filepath.Join(t.TempDir(), "out.flv")
	p := &pushes{}
	r := run(t, context.Background(), src, p, Options{Dests: []string{"rtmp://edge/live/x", out}, Retries: 2})
	if r.err != nil {
		t.Fatalf("run: %v; stderr %q", r.err, r.stderr)
	}
	s := r.summary
	want := int64(half + len(frames))
	if s.Stopped != "end" || s.Frames != want || s.Retries != 2 || src.pulls.Load() != 3 || len(s.Destinations) != 2 {
		t.Fatalf("summary %+v after %d pulls, want end after 3 pulls and %d frames", s, src.pulls.Load(), want)
	}
	// One attempt each: the reconnect did not detach them.
	for _, d := range s.Destinations {
		if d.Retries != 0 || d.Error != "" || d.Frames != want {
			t.Errorf("destination %+v, want every frame in one attempt", d)
		}
	}
	if n := flvFrames(t, out); n != int(want) {
		t.Errorf("%s has %d frames, want %d", out, n, want)
	}
	if len(p.attempts("rtmp://edge/live/x")) != 1 {
		t.Errorf("%d push attempts, want 1", len(p.attempts("rtmp://edge/live/x")))
	}
}

// TestSourceGivesUp: retries run out: the error names the URL, the cause
// and the attempts, on one line, and nothing goes to stdout.
func TestRelaySourceGivesUp(t *testing.T) {
	src := &fakeSource{name: "rtmp://127.0.0.1:1/live/x", script: []pull{
		failWith(errors.New("source: rtmp: play rtmp://127.0.0.1:1/live/x: dial tcp 127.0.0.1:1: connect: connection refused")),
	}}
	r := run(t, context.Background(), src, nil, Options{Dests: []string{filepath.Join(t.TempDir(), "x.flv")}, Retries: 2})
	want := "relay: rtmp://127.0.0.1:1/live/x: dial tcp 127.0.0.1:1: connect: connection refused (after 3 attempts)"
	if r.err == nil || r.err.Error() != want {
		t.Errorf("error %v, want %q", r.err, want)
	}
	if src.pulls.Load() != 3 || r.stdout != "" || r.stderr != "" {
		t.Errorf("%d pulls, stdout %q, stderr %q; want 3 pulls and no output", src.pulls.Load(), r.stdout, r.stderr)
	}

	// A pull that delivered media resets the count.
	tracks, frames := clipframes.Read(t, "h264_aac.flv")
	refused := errors.New("source: rtmp://o/live/s: connection refused")
	src = &fakeSource{name: "rtmp://o/live/s", script: []pull{
		failWith(refused),
		deliver(tracks, frames[:20], func(context.Context) error { return refused }),
		failWith(refused),
	}}
	r = run(t, context.Background(), src, nil, Options{Dests: []string{filepath.Join(t.TempDir(), "x.flv")}, Retries: 1})
	if r.err == nil || !strings.HasSuffix(r.err.Error(), "connection refused (after 2 attempts)") || src.pulls.Load() != 3 {
		t.Errorf("error %v after %d pulls, want the 3rd pull to give up after 2 attempts", r.err, src.pulls.Load())
	}
	if r.summary.Stopped != "failed" || r.summary.Frames != 20 {
		t.Errorf("summary %+v", r.summary)
	}
}

// TestRetriesForever: -1 pulls until interrupted.
func TestRelayRetriesForever(t *testing.T) {
	src := &fakeSource{name: "rtmp://o/live/s", script: []pull{failWith(errors.New("source: rtmp://o/live/s: refused"))}}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for src.pulls.Load() < 5 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	r := run(t, ctx, src, nil, Options{Dests: []string{filepath.Join(t.TempDir(), "x.flv")}, Retries: -1, RetryDelay: time.Millisecond})
	if src.pulls.Load() < 5 || r.err == nil || !strings.HasPrefix(r.err.Error(), "relay: rtmp://o/live/s: refused (after ") {
		t.Errorf("%d pulls, error %v; want pulls until interrupted, then the source's failure", src.pulls.Load(), r.err)
	}
}

// TestDestinationRetry: a destination that fails is attached again after
// its backoff while the others keep going.
func TestRelayDestinationRetry(t *testing.T) {
	tracks, frames := clipframes.Read(t, "h264_aac.flv")
	third := make(chan struct{})
	p := &pushes{failFirst: map[string]int{"rtmp://b/live/x": 2}, onAttempt: func(url string, n int) {
		if url == "rtmp://b/live/x" && n == 3 {
			close(third)
		}
	}}
	// A live source: 100 frames, then the rest once b is back.
	src := &fakeSource{name: "live", script: []pull{func(ctx context.Context, s flv.FrameSink) error {
		if err := deliver(tracks, frames[:100], nil)(ctx, s); err != nil {
			return err
		}
		select {
		case <-third:
		case <-ctx.Done():
			return ctx.Err()
		}
		for _, f := range frames[100:] {
			if err := s.WriteFrame(&media.Frame{Track: f.Track, DTS: f.DTS, PTS: f.PTS, Key: f.Key, Payload: f.Payload}); err != nil {
				return err
			}
		}
		return nil
	}}}
	out := filepath.Join(t.TempDir(), "out.ts")
	r := run(t, context.Background(), src, p, Options{Dests: []string{"rtmp://b/live/x", "rtmp://c/live/y", out}, Retries: 5})
	if r.err != nil {
		t.Fatalf("run: %v; stderr %q", r.err, r.stderr)
	}
	ds := r.summary.Destinations
	if len(ds) != 3 || ds[0].Retries != 2 || ds[0].Error != "" || ds[0].Frames == 0 || ds[1].Retries != 0 || ds[1].Frames != r.summary.Frames ||
		ds[2].Error != "" || ds[2].Frames == 0 {
		t.Errorf("destinations %+v, want b retried twice then fed, c and the file fed throughout", ds)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() == 0 {
		t.Errorf("%s: %v", out, err)
	}
}

// TestDestinationGivesUp: a destination whose retries run out does not
// stop the others; the relay fails at the end, naming it.
func TestRelayDestinationGivesUp(t *testing.T) {
	tracks, frames := clipframes.Read(t, "h264_aac.flv")
	p := &pushes{failFirst: map[string]int{"rtmp://b/live/x": -1}}
	gaveUp := make(chan struct{})
	src := &fakeSource{name: "live", script: []pull{
		deliver(tracks, frames[:50], func(ctx context.Context) error {
			// Live: the stream goes on until b has given up.
			for len(p.attempts("rtmp://b/live/x")) < 2 {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				time.Sleep(5 * time.Millisecond)
			}
			close(gaveUp)
			return nil
		}),
	}}
	out := filepath.Join(t.TempDir(), "out.flv")
	r := run(t, context.Background(), src, p, Options{Dests: []string{"rtmp://b/live/x", out}, Retries: 1})
	<-gaveUp
	want := "relay: rtmp://b/live/x: dial tcp: connect: connection refused (after 2 attempts)"
	if r.err == nil || r.err.Error() != want {
		t.Errorf("error %v, want %q", r.err, want)
	}
	ds := r.summary.Destinations
	if r.summary.Stopped != "end" || len(ds) != 2 || ds[0].Error == "" || ds[0].Retries != 1 || ds[1].Error != "" || ds[1].Frames != 50 {
		t.Errorf("summary %+v", r.summary)
	}
	if n := flvFrames(t, out); n != 50 {
		t.Errorf("%s has %d frames, want 50", out, n)
	}
}

// TestAllDestinationsGiveUp: with no destination left the relay stops.
func TestRelayAllDestinationsGiveUp(t *testing.T) {
	tracks, frames := clipframes.Read(t, "h264_aac.flv")
	p := &pushes{failFirst: map[string]int{"rtmp://b/live/x": -1, "rtmp://c/live/y": -1}}
	src := &fakeSource{name: "live", script: []pull{deliver(tracks, frames[:10], block)}}
	r := run(t, context.Background(), src, p, Options{Dests: []string{"rtmp://b/live/x", "rtmp://c/live/y"}, Retries: 2})
	if r.err == nil || !strings.Contains(r.err.Error(), "rtmp://b/live/x") || !strings.Contains(r.err.Error(), "1 more") {
		t.Errorf("error %v, want b's, and one more", r.err)
	}
	if r.summary.Stopped != "failed" || len(p.attempts("rtmp://b/live/x")) != 3 || len(p.attempts("rtmp://c/live/y")) != 3 {
		t.Errorf("summary %+v, attempts %d and %d; want failed after 3 attempts each", r.summary,
			len(p.attempts("rtmp://b/live/x")), len(p.attempts("rtmp://c/live/y")))
	}
}

// TestFileDestinationNotRetried: a file that cannot be written fails once:
// a retry would truncate it.
func TestRelayFileDestinationNotRetried(t *testing.T) {
	tracks, frames := clipframes.Read(t, "h264_aac.flv")
	blocker := filepath.Join(t.TempDir(), "afile")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(blocker, "x.flv")
	src := &fakeSource{name: "in", script: []pull{deliver(tracks, frames, nil)}}
	r := run(t, context.Background(), src, nil, Options{Dests: []string{bad, "rtmp://c/live/y"}, Retries: 3})
	ds := r.summary.Destinations
	if r.err == nil || !strings.Contains(r.err.Error(), bad) || len(ds) != 2 || ds[0].Retries != 0 || ds[1].Frames != int64(len(frames)) {
		t.Errorf("error %v, summary %+v", r.err, r.summary)
	}
}

// TestDurationAndLoop: --duration counts media over every pass of --loop.
func TestRelayDurationAndLoop(t *testing.T) {
	tracks, frames := clipframes.Read(t, "h264_aac.flv") // 6 s
	src := &fakeSource{name: "in.flv", script: []pull{deliver(tracks, frames, nil)}}
	out := filepath.Join(t.TempDir(), "out.flv")
	r := run(t, context.Background(), src, nil, Options{Dests: []string{out}, Loop: true, Duration: 15 * time.Second})
	s := r.summary
	if r.err != nil || s.Stopped != "duration" || s.Duration < 14.5 || s.Duration > 15 || src.pulls.Load() != 3 || s.Retries != 2 {
		t.Errorf("error %v, summary %+v after %d pulls; want 15 s of media from 3 passes", r.err, s, src.pulls.Load())
	}
	if n := flvFrames(t, out); int64(n) != s.Frames {
		t.Errorf("%s has %d frames, summary says %d", out, n, s.Frames)
	}

	src = &fakeSource{name: "in.flv", script: []pull{deliver(tracks, frames, nil)}}
	r = run(t, context.Background(), src, nil, Options{Dests: []string{filepath.Join(t.TempDir(), "x.ts")}, Duration: 2 * time.Second})
	if r.err != nil || r.summary.Stopped != "duration" || r.summary.Duration > 2 || r.summary.Duration < 1.9 {
		t.Errorf("error %v, summary %+v; want 2 s of media", r.err, r.summary)
	}
}

// TestInterrupt: Ctrl-C finishes the files and exits 0.
func TestRelayInterrupt(t *testing.T) {
	tracks, frames := clipframes.Read(t, "h264_aac.flv")
	delivered := make(chan struct{})
	src := &fakeSource{name: "live", script: []pull{deliver(tracks, frames[:100], func(ctx context.Context) error {
		close(delivered)
		return block(ctx)
	})}}
	out := filepath.Join(t.TempDir(), "out.mp4")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-delivered
		cancel() // Ctrl-C while the live source waits for more
	}()
	r := run(t, ctx, src, nil, Options{Dests: []string{out}})
	if r.err != nil || r.summary.Stopped != "interrupted" || r.summary.Destinations[0].Frames != 100 {
		t.Errorf("error %v, summary %+v; want interrupted with 100 frames in the file", r.err, r.summary)
	}
}

func TestRelayCause(t *testing.T) {
	for _, tc := range []struct{ name, err, want string }{
		{"rtmp://h/a/s", "source: rtmp: play rtmp://h/a/s: dial tcp: refused", "rtmp://h/a/s: dial tcp: refused"},
		{"x.flv", "open x.flv: permission denied", "x.flv: permission denied"},
		{"rtmp://h/a/s", "EOF", "rtmp://h/a/s: EOF"},
	} {
		f := &failure{name: tc.name, err: errors.New(tc.err), attempts: 1}
		if got := f.Error(); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestRelayStatusLine: on a terminal the status line is redrawn in place
// with the media relayed and each destination's state, and cleared at the
// end so that the summary starts on a clean line.
func TestRelayStatusLine(t *testing.T) {
	tracks, frames := clipframes.Read(t, "h264_aac.flv")
	errOut := &testutil.SyncBuffer{}
	drawn := func(ctx context.Context) error {
		for !strings.Contains(errOut.String(), "| rtmp://edge/live/x ") {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
		return nil
	}
	src := &fakeSource{name: "rtmp://origin/live/s", script: []pull{deliver(tracks, frames, drawn)}}
	on := true
	r := run(t, context.Background(), src, nil, Options{Dests: []string{"rtmp://edge/live/x"}, Progress: &on,
		IO: &cmdutil.IO{ErrOut: errOut}})
	if r.err != nil {
		t.Fatalf("run: %v; stderr %q", r.err, r.stderr)
	}
	const clear = "\r\x1b[K"
	if strings.Count(r.stderr, clear) < 2 {
		t.Fatalf("stderr %q: want a status line drawn and then cleared", r.stderr)
	}
	line := r.stderr[strings.LastIndex(r.stderr[:strings.LastIndex(r.stderr, clear)], clear):]
	want := fmt.Sprintf("%d frames", len(frames))
	if !strings.HasPrefix(line, "\r\x1b[Krelay ") || !strings.Contains(line, want) || !strings.Contains(line, "| rtmp://edge/live/x ") {
		t.Errorf("last status line %q, want relay, %s and the destination", line, want)
	}
	if !strings.HasSuffix(r.stderr, "\r\x1b[K") {
		t.Errorf("stderr ends with %q, want the line cleared", r.stderr[max(0, len(r.stderr)-20):])
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in    string
		width int
		want  string
	}{
		{"relay 1s", 0, "relay 1s"},
		{"relay 1s", 80, "relay 1s"},
		{"relay 12345", 8, "relay …"},
		{"relayé ünïcode", 8, "relayé…"},
	} {
		if got := truncate(tc.in, tc.width); got != tc.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.width, got, tc.want)
		}
	}
}
