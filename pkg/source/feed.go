package source

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/mediakit/mediakit/pkg/format/es"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/format/mpegts"
	"github.com/mediakit/mediakit/pkg/format/ps"
	"github.com/mediakit/mediakit/pkg/media"
)

// feed is what the readers of one Run share: the sink, the ingest that
// makes tracks and frames (kept across the passes of a loop and the
// discontinuities of HLS, so tracks with the same configuration stay the
// same *media.Track), the timeline, pacing and the stall watchdog.
type feed struct {
	ctx  context.Context
	out  *catchSink
	log  *slog.Logger
	clk  clock
	pace *pacer    // nil: as fast as possible
	wd   *watchdog // nil: no stall detection (files)

	flvIn  *flv.Ingest
	esIn   *es.Ingest
	mp4Out []*media.Track // tracks declared by the MP4 reader
	start  time.Duration  // Options.Start, for the first pass of an MP4 file

	warned map[string]bool

	// what the MPEG-TS and MPEG-PS demuxers of this Run lost or mended
	tsLosses mpegts.Losses
	psStats  ps.Stats
	psCut    int // bytes the last MPEG-PS packet lacked at the end
}

func newFeed(ctx context.Context, sink flv.FrameSink, opts Options, realtime bool) *feed {
	fd := &feed{ctx: ctx, out: &catchSink{sink: sink}, log: opts.Log, warned: map[string]bool{}, start: opts.Start}
	if realtime {
		fd.pace = &pacer{}
	}
	return fd
}

// stamp maps the DTS of a media unit of kind k read from the input onto
// the output timeline, counts it as media for the watchdog and, when
// pacing, waits until it is due.
func (fd *feed) stamp(k media.Kind, raw time.Duration) (time.Duration, error) {
	out := fd.clk.dts(k, raw)
	if fd.wd != nil {
		fd.wd.kick()
	}
	if fd.pace != nil {
		if err := fd.pace.wait(fd.ctx, out); err != nil {
			return 0, err
		}
	}
	return out, nil
}

// flv returns the FLV ingest of this Run.
func (fd *feed) flv() *flv.Ingest {
	if fd.flvIn == nil {
		fd.flvIn = flv.NewIngest(fd.out)
	}
	return fd.flvIn
}

// es returns the elementary-stream ingest of this Run, made with opts the
// first time.
func (fd *feed) es(opts es.Options) *es.Ingest {
	if fd.esIn == nil {
		opts.Log = fd.log
		fd.esIn = es.NewIngest(fd.out, opts)
	}
	return fd.esIn
}

// flush declares the tracks held back by an ingest and writes its held
// frames; for the end of a Run.
func (fd *feed) flush() error {
	if fd.flvIn != nil {
		if err := fd.flvIn.Flush(); err != nil {
			return err
		}
	}
	if fd.esIn != nil {
		return fd.esIn.Flush()
	}
	return nil
}

// warnOnce logs msg the first time key is seen in this Run.
func (fd *feed) warnOnce(key, msg string, args ...any) {
	if fd.warned[key] {
		return
	}
	fd.warned[key] = true
	fd.log.Warn(msg, args...)
}

// clock maps input timestamps onto one output timeline: the identity
// until restart, which makes the next input continue one frame after
// the latest output (a loop's next pass, an HLS discontinuity).
type clock struct {
	offset  time.Duration
	started bool
	maxOut  time.Duration // highest DTS put out
	minIn   time.Duration // lowest input DTS of the current run
	last    [3]time.Duration
	delta   [3]time.Duration // last positive DTS step per kind
	count   int64            // DTS mapped in the current run
}

func (c *clock) dts(k media.Kind, raw time.Duration) time.Duration {
	out := raw + c.offset
	if c.count == 0 || raw < c.minIn {
		c.minIn = raw
	}
	c.count++
	if int(k) < len(c.last) {
		if d := out - c.last[k]; d > 0 && c.started {
			c.delta[k] = d
		}
		c.last[k] = out
	}
	if !c.started || out > c.maxOut {
		c.maxOut = out
	}
	c.started = true
	return out
}

// shift maps a timestamp that is not a DTS (a PTS).
func (c *clock) shift(raw time.Duration) time.Duration { return raw + c.offset }

// frame is the duration of one frame: the latest video step, else audio,
// else 40 ms.
func (c *clock) frame() time.Duration {
	if d := c.delta[media.KindVideo]; d > 0 && d < time.Second {
		return d
	}
	if d := c.delta[media.KindAudio]; d > 0 && d < time.Second {
		return d
	}
	return 40 * time.Millisecond
}

// restart makes input DTS next continue one frame after the latest
// output; nothing changes before the first frame.
func (c *clock) restart(next time.Duration) {
	if c.started {
		c.offset = c.maxOut + c.frame() - next
	}
	c.count = 0
}

// Timestamp jumps beyond these restart the pacing clock instead of being
// waited for (or raced through).
const (
	paceBackwardJump = time.Second
	paceForwardJump  = 5 * time.Second
)

// pacer releases timestamps no earlier than the wall clock says they are
// due, counting from the first one.
type pacer struct {
	started bool
	start   time.Time     // wall clock of base
	base    time.Duration // timestamp released at start
	last    time.Duration
}

func (p *pacer) wait(ctx context.Context, ts time.Duration) error {
	now := time.Now()
	if !p.started || ts < p.last-paceBackwardJump || ts > p.last+paceForwardJump {
		// the first frame, or the clock of the input restarted: go on
		// from here without waiting
		p.started, p.start, p.base, p.last = true, now, ts, ts
		return nil
	}
	p.last = max(p.last, ts)
	d := p.start.Add(ts - p.base).Sub(now)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// catchSink remembers the first error of its sink, so that a reader can
// tell the sink failing (which ends the Run) from an ingest refusing a
// damaged access unit (which does not).
type catchSink struct {
	sink flv.FrameSink
	err  error
}

func (c *catchSink) SetTracks(tracks []*media.Track) error {
	return c.catch(c.sink.SetTracks(tracks))
}

func (c *catchSink) SetMetadata(md media.Metadata) { c.sink.SetMetadata(md) }

func (c *catchSink) WriteFrame(f *media.Frame) error { return c.catch(c.sink.WriteFrame(f)) }

func (c *catchSink) catch(err error) error {
	if err != nil && c.err == nil {
		c.err = err
	}
	return err
}

// failed returns the sink's first error.
func (c *catchSink) failed() error { return c.err }

// Damaged is implemented by the sources that read MPEG-TS or MPEG-PS
// (files, stdin, HTTP-TS, HLS): what they dropped or mended of damaged
// input, which their Run does not count as failing.
type Damaged interface {
	// Damage describes what the last Run dropped or mended, one short
	// phrase each; nil when nothing. Call it after Run returns.
	Damage() []string
}

// damageNote keeps the damage of a source's last Run.
type damageNote struct {
	mu   sync.Mutex
	last []string
}

// Damage implements Damaged.
func (n *damageNote) Damage() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.last)
}

func (n *damageNote) note(fd *feed) {
	d := fd.damage()
	n.mu.Lock()
	n.last = d
	n.mu.Unlock()
}

// damage describes what the demuxers of this Run dropped or mended.
func (fd *feed) damage() []string {
	var out []string
	l := fd.tsLosses
	if l.Dropped > 0 {
		out = append(out, fmt.Sprintf("%s dropped (a broken header, a continuity-counter gap, no PTS, or larger than %d MiB)",
			plural(l.Dropped, "damaged MPEG-TS PES packet"), mpegts.MaxPES>>20))
	}
	if l.Mended > 0 {
		out = append(out, fmt.Sprintf("%s whose PES_packet_length did not match the payload read up to the next packet start",
			plural(l.Mended, "MPEG-TS PES packet")))
	}
	if l.Trailing > 0 || l.Cut > 0 {
		s := "truncated:"
		if l.Trailing > 0 {
			s += fmt.Sprintf(" the last %d bytes, short of a whole 188-byte packet, dropped", l.Trailing)
		}
		if l.Cut > 0 {
			if l.Trailing > 0 {
				s += ";"
			}
			s += fmt.Sprintf(" %s cut short kept as read", plural(l.Cut, "PES packet"))
		}
		out = append(out, s)
	}
	if p := fd.psStats; p.DroppedFrames > 0 || p.Garbage > 0 {
		out = append(out, fmt.Sprintf("MPEG-PS: %s and %d bytes of payload dropped, %d bytes of garbage skipped (%d resyncs)",
			plural(int(p.DroppedFrames), "partial or oversize frame"), p.Dropped, p.Garbage, p.Resyncs))
	}
	if fd.psCut > 0 {
		out = append(out, fmt.Sprintf("truncated: the input ends inside an MPEG-PS packet (%d bytes short); what it held was kept as read", fd.psCut))
	}
	return out
}

// plural is "n thing" or "n things".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
