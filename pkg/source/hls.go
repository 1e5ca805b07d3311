package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/format/flv"
)

// liveEdgeSegments is where a live playlist starts playing: this many
// segments before its end, as players do.
const liveEdgeSegments = 3

// maxReloadFailures ends a live source whose playlist failed to load this
// many times in a row; one failure is retried at the next reload.
const maxReloadFailures = 3

// hlsSource pulls HLS: a master playlist's highest-bandwidth variant or a
// media playlist, whose MPEG-TS segments go through one demuxer as one
// stream, in media-sequence order, following a live window; fMP4
// segments (EXT-X-MAP) likewise go through the fragmented-MP4 reader,
// each after its init segment when that changes. (A discontinuity
// restarts the timeline of MPEG-TS segments only.)
type hlsSource struct {
	url     string
	display string
	opts    Options
	bytes   atomic.Int64
	damageNote
}

func (s *hlsSource) String() string   { return s.display }
func (s *hlsSource) BytesRead() int64 { return s.bytes.Load() }
func (s *hlsSource) Size() int64      { return -1 }

func (s *hlsSource) Run(ctx context.Context, sink flv.FrameSink) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	client, done := httpClient(s.opts)
	defer done()
	fd := newFeed(rctx, sink, s.opts, false)
	defer s.note(fd)
	h := &hlsReader{src: s, ctx: rctx, client: client, fd: fd}
	// The first playlist may take StartTimeout (a server holding it until
	// the stream is published); the watchdog starts once it is there.
	if err := h.start(); err != nil {
		return runResult(ctx, err)
	}
	wd := startWatchdog(h.stallTimeout(), func() { cancel(errStalled) })
	fd.wd, h.wd = wd, wd
	err := h.run()
	stalled := wd.disarm()
	if ferr := fd.flush(); err == nil && ferr != nil {
		err = fmt.Errorf("source: %s: %w", s.display, ferr)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil && stalled {
		err = wd.err(s.display)
		if time.Since(h.lastNew) >= h.stallTimeout() {
			err = fmt.Errorf("%w (no new segment in the playlist)", err)
		}
	}
	return err
}

// hlsReader follows one media playlist for one Run. It is the io.Reader
// of the MPEG-TS demuxer: reading past the end of a segment fetches the
// next one, reloading the playlist until one is there.
type hlsReader struct {
	src    *hlsSource
	ctx    context.Context
	client *http.Client
	fd     *feed
	wd     *watchdog

	media   *url.URL // the media playlist
	td      time.Duration
	endList bool
	queue   []segment
	lastSeq int64  // of the last segment queued
	started bool   // a segment was fetched
	fmp4    bool   // the segments are fMP4 (EXT-X-MAP), known once one is queued
	kind    bool   // fmp4 is known
	init    string // URI of the init segment read last

	nextReload time.Time
	lastNew    time.Time // when the playlist last brought a segment
	failures   int

	cur    []byte
	pos    int
	paused bool // at a discontinuity: the demuxer must start anew
	first  time.Duration
	ended  bool
	err    error // of fetching: ends the Run
}

// start loads the playlist, a master one's best variant, and queues the
// first segments.
func (h *hlsReader) start() error {
	u, err := url.Parse(h.src.url)
	if err != nil {
		return fmt.Errorf("source: %s: %w", h.src.display, err)
	}
	pl, err := h.playlist(u, h.src.opts.StartTimeout)
	if err != nil {
		return h.fail(err)
	}
	if pl.master {
		v := pl.best()
		vu, err := u.Parse(v.uri)
		if err != nil {
			return h.fail(fmt.Errorf("variant %q: %w", v.uri, err))
		}
		u = vu
		if pl, err = h.playlist(u, h.src.opts.StartTimeout); err != nil {
			return h.fail(fmt.Errorf("variant %s: %w", u.Redacted(), err))
		}
		if pl.master {
			return h.fail(fmt.Errorf("variant %s is a master playlist too", u.Redacted()))
		}
	}
	h.media = u
	h.lastNew = time.Now()
	if h.src.opts.RequireEnd && !pl.endList && pl.unsupported == "" { // masters were resolved above
		return h.fail(ErrLive)
	}
	return h.apply(pl, true)
}

// fail is the Run's error for err.
func (h *hlsReader) fail(err error) error {
	if h.ctx.Err() != nil {
		return h.ctx.Err()
	}
	return fmt.Errorf("source: %s: %w", h.src.display, err)
}

// run demuxes segments until the playlist ends, starting the demuxer
// anew at each discontinuity on a timeline that continues.
func (h *hlsReader) run() error {
	if !h.kind {
		// the first segment tells which reader reads them all; an
		// error is the reader's too
		_, _ = h.Read(nil)
	}
	for {
		var err error
		if h.fmp4 {
			m := &mp4Reader{fd: h.fd, input: h.src.display}
			err = m.stream(h)
		} else {
			err = readTS(h.fd, h)
		}
		if h.err != nil {
			return h.fail(h.err)
		}
		if err != nil {
			if h.ctx.Err() != nil || h.fd.out.failed() != nil {
				return err
			}
			return fmt.Errorf("source: read %s: %w", h.src.display, err)
		}
		if !h.paused {
			return nil // ENDLIST and every segment read
		}
		h.paused = false
		h.fd.clk.restart(h.first)
	}
}

func (h *hlsReader) Read(p []byte) (int, error) {
	if h.paused {
		return 0, io.EOF // the demuxer before the discontinuity reads no further
	}
	for h.pos >= len(h.cur) {
		if h.err != nil {
			return 0, h.err
		}
		if h.paused || h.ended {
			return 0, io.EOF
		}
		seg, err := h.next()
		if errors.Is(err, io.EOF) {
			h.ended = true
			return 0, io.EOF
		}
		if err == nil {
			h.cur, err = h.segment(seg)
		}
		if err == nil && seg.init != h.init {
			// the init segment goes first: the MP4 reader reads its moov
			var init []byte
			if init, err = h.fetchInit(seg); err == nil {
				h.cur, h.init = append(init, h.cur...), seg.init
			}
		}
		if err != nil {
			h.err = err
			return 0, err
		}
		h.pos = 0
		restart := seg.discontinuity && h.started
		h.started = true
		if restart && !h.fmp4 {
			// End this demuxer's input; run starts another on a
			// timeline that continues where this segment begins.
			// (MPEG-TS only: in an fMP4 segment, mdat bytes could pass
			// for a TS packet.)
			if first, ok := tsFirstTimestamp(h.cur); ok {
				h.paused, h.first = true, first
				return 0, io.EOF
			}
		}
	}
	n := copy(p, h.cur[h.pos:])
	h.pos += n
	return n, nil
}

// next returns the next segment to fetch, waiting for the playlist to
// bring one; io.EOF once an ended playlist has none left.
func (h *hlsReader) next() (segment, error) {
	for {
		if len(h.queue) > 0 {
			seg := h.queue[0]
			h.queue = h.queue[1:]
			return seg, nil
		}
		if h.endList {
			return segment{}, io.EOF
		}
		if d := time.Until(h.nextReload); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-h.ctx.Done():
				t.Stop()
				return segment{}, h.ctx.Err()
			}
		}
		pl, err := h.playlist(h.media, h.src.opts.ReadTimeout)
		if err != nil {
			if h.ctx.Err() != nil {
				return segment{}, h.ctx.Err()
			}
			if h.failures++; h.failures >= maxReloadFailures {
				return segment{}, fmt.Errorf("playlist %s: %w", h.media.Redacted(), err)
			}
			h.fd.log.Warn("source: HLS playlist reload failed; retrying", "input", h.src.display, "error", err.Error())
			h.nextReload = time.Now().Add(h.td / 2)
			continue
		}
		h.failures = 0
		if pl.master {
			return segment{}, fmt.Errorf("playlist %s turned into a master playlist", h.media.Redacted())
		}
		if err := h.apply(pl, false); err != nil {
			return segment{}, err
		}
	}
}

// apply takes the segments of a loaded media playlist that come after
// those already queued and schedules the next reload.
func (h *hlsReader) apply(pl *playlist, first bool) error {
	if pl.unsupported != "" {
		return fmt.Errorf("%s: %s are not supported (MPEG-TS segments only)", h.media.Redacted(), pl.unsupported)
	}
	h.td = pl.targetDuration
	if h.td <= 0 {
		h.td = time.Second // required by the RFC; a playlist without one still reloads sanely
	}
	h.td = max(h.td, 100*time.Millisecond)
	if h.wd != nil {
		h.wd.setTimeout(h.stallTimeout())
	}
	h.endList = pl.endList
	segs := pl.segments
	now := time.Now()
	switch {
	case first:
		if !pl.endList && len(segs) > liveEdgeSegments {
			segs = segs[len(segs)-liveEdgeSegments:]
		}
	case len(segs) > 0 && segs[len(segs)-1].seq < h.lastSeq:
		// The sequence went back: the server restarted the stream.
		h.fd.log.Warn("source: HLS media sequence went back; following the new stream", "input", h.src.display,
			"from", h.lastSeq, "to", segs[len(segs)-1].seq)
		if len(segs) > liveEdgeSegments {
			segs = segs[len(segs)-liveEdgeSegments:]
		}
		segs[0].discontinuity = true
	default:
		i := 0
		for i < len(segs) && segs[i].seq <= h.lastSeq {
			i++
		}
		segs = segs[i:]
		if len(segs) > 0 && segs[0].seq > h.lastSeq+1 {
			h.fd.log.Warn("source: HLS segments left the playlist before they were fetched", "input", h.src.display,
				"first", h.lastSeq+1, "last", segs[0].seq-1)
		}
	}
	for _, s := range segs {
		if !h.kind {
			h.fmp4, h.kind = s.init != "", true
		}
		if (s.init != "") != h.fmp4 {
			return fmt.Errorf("%s: segment %d: MPEG-TS and fMP4 segments (EXT-X-MAP) mixed", h.media.Redacted(), s.seq)
		}
	}
	if len(segs) > 0 {
		h.queue = append(h.queue, segs...)
		h.lastSeq = segs[len(segs)-1].seq
		h.lastNew = now
		h.nextReload = now.Add(h.td)
	} else {
		h.nextReload = now.Add(h.td / 2)
	}
	return nil
}

// stallTimeout is how long a live playlist may go without a new
// segment: three target durations, at least ReadTimeout.
func (h *hlsReader) stallTimeout() time.Duration {
	return max(3*h.td, h.src.opts.ReadTimeout)
}

// playlist loads and parses the playlist at u.
func (h *hlsReader) playlist(u *url.URL, headerTimeout time.Duration) (*playlist, error) {
	b, err := h.fetch(u, headerTimeout, maxPlaylistSize)
	if err != nil {
		return nil, err
	}
	pl, err := parsePlaylist(b)
	if err != nil {
		return nil, fmt.Errorf("playlist %s: %w", u.Redacted(), err)
	}
	return pl, nil
}

// segment fetches one segment.
func (h *hlsReader) segment(seg segment) ([]byte, error) {
	u, err := h.media.Parse(seg.uri)
	if err != nil {
		return nil, fmt.Errorf("segment %d: %w", seg.seq, err)
	}
	b, err := h.fetch(u, h.src.opts.ReadTimeout, maxSegmentSize)
	if err != nil {
		return nil, fmt.Errorf("segment %d: %w", seg.seq, err)
	}
	return b, nil
}

// fetchInit fetches the init segment of seg.
func (h *hlsReader) fetchInit(seg segment) ([]byte, error) {
	u, err := h.media.Parse(seg.init)
	if err != nil {
		return nil, fmt.Errorf("init segment of segment %d: %w", seg.seq, err)
	}
	b, err := h.fetch(u, h.src.opts.ReadTimeout, maxInitSize)
	if err != nil {
		return nil, fmt.Errorf("init segment of segment %d: %w", seg.seq, err)
	}
	return b, nil
}

// errIdle ends a request whose body sent nothing for ReadTimeout.
var errIdle = errors.New("idle")

// fetch GETs u and reads its body, at most limit bytes, ending the
// request when the body sends nothing for ReadTimeout.
func (h *hlsReader) fetch(u *url.URL, headerTimeout time.Duration, limit int64) ([]byte, error) {
	rctx, cancel := context.WithCancelCause(h.ctx)
	defer cancel(nil)
	resp, err := get(rctx, h.client, u.String(), headerTimeout)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("GET %s: %d bytes, more than %d MiB", u.Redacted(), resp.ContentLength, limit>>20)
	}
	timeout := h.src.opts.ReadTimeout
	idle := time.AfterFunc(timeout, func() { cancel(errIdle) })
	defer idle.Stop()
	body := &idleReader{r: io.LimitReader(resp.Body, limit+1), timer: idle, timeout: timeout}
	b, err := io.ReadAll(countingReader{r: body, n: &h.src.bytes})
	if err != nil {
		if errors.Is(context.Cause(rctx), errIdle) && h.ctx.Err() == nil {
			return nil, fmt.Errorf("GET %s: nothing received for %v", u.Redacted(), timeout)
		}
		if h.ctx.Err() != nil {
			return nil, h.ctx.Err()
		}
		return nil, fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("GET %s: more than %d MiB", u.Redacted(), limit>>20)
	}
	return b, nil
}

// idleReader pushes back an idle timer on every read that returns data.
type idleReader struct {
	r       io.Reader
	timer   *time.Timer
	timeout time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.timer.Reset(r.timeout)
	}
	return n, err
}

// tsFirstTimestamp returns the earliest of the first DTS (or PTS) of each
// elementary stream in MPEG-TS packets, on the time base readTS puts out:
// where a segment after a discontinuity starts.
func tsFirstTimestamp(b []byte) (time.Duration, bool) {
	seen := map[uint16]bool{}
	var first int64
	found := false
	for i := 0; i+188 <= len(b); i += 188 {
		p := b[i : i+188]
		if p[0] != 0x47 || p[1]&0x40 == 0 { // sync byte, payload_unit_start_indicator
			continue
		}
		pid := uint16(p[1]&0x1f)<<8 | uint16(p[2])
		start := 4
		if p[3]&0x20 != 0 { // adaptation field
			start += 1 + int(p[4])
		}
		if p[3]&0x10 == 0 || start+19 > len(p) || seen[pid] {
			continue
		}
		pes := p[start:]
		if pes[0] != 0 || pes[1] != 0 || pes[2] != 1 || pes[3] < 0xc0 || pes[3] > 0xef {
			continue // not an audio or video PES
		}
		flags := pes[7] >> 6
		if flags&2 == 0 {
			continue
		}
		ts := pesClock(pes[9:14])
		if flags == 3 {
			ts = pesClock(pes[14:19])
		}
		seen[pid] = true
		if !found || ts < first {
			first, found = ts, true
		}
	}
	return tsTicks(first), found
}

func pesClock(b []byte) int64 {
	return int64(b[0]>>1&0x07)<<30 | int64(b[1])<<22 | int64(b[2]>>1)<<15 | int64(b[3])<<7 | int64(b[4]>>1)
}
