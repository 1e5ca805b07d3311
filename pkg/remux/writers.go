package remux

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/format/mp4"
	"github.com/mediakit/mediakit/pkg/hls"
	"github.com/mediakit/mediakit/pkg/media"
)

// writer is one output container, fed synchronously: a slow disk slows
// the reading down, nothing is dropped.
type writer interface {
	// WriteFrame writes f; tracks are the input's current tracks.
	// written is false when f's codec is not carried (see dropped).
	WriteFrame(f *media.Frame, tracks []*media.Track) (written bool, err error)
	// Close finishes the output (flush, finalise, playlist).
	Close() error
	// Abort stops after a failure, leaving what is written.
	Abort()
	Bytes() int64
}

// countWriter counts what reaches w.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// output is a file created at the first frame, or stdout.
type output struct {
	path   string // "-" for stdout
	stdout io.Writer
	f      *os.File
	cw     *countWriter
	bw     *bufio.Writer
}

func (o *output) open() error {
	if o.bw != nil {
		return nil
	}
	var w io.Writer
	if o.path == "-" {
		w = o.stdout
	} else {
		f, err := createFile(o.path)
		if err != nil {
			return err
		}
		o.f, w = f, f
	}
	o.cw = &countWriter{w: w}
	o.bw = bufio.NewWriterSize(o.cw, 256<<10)
	return nil
}

func (o *output) close() error {
	if o.bw == nil {
		return nil
	}
	err := o.bw.Flush()
	if o.f != nil {
		if cerr := o.f.Close(); err == nil {
			err = cerr
		}
		o.f = nil
	}
	return err
}

func (o *output) bytes() int64 {
	if o.cw == nil {
		return 0
	}
	return o.cw.n
}

func createFile(path string) (*os.File, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
}

// --- FLV ---

type flvWriter struct {
	out          output
	video, audio *media.Track
	started      bool
	origin       time.Duration // DTS of the first frame: the file's 0
	hdr, body    []byte
}

func (w *flvWriter) current(t *media.Track) **media.Track {
	if t.Kind() == media.KindVideo {
		return &w.video
	}
	return &w.audio
}

func (w *flvWriter) WriteFrame(f *media.Frame, tracks []*media.Track) (bool, error) {
	if !flv.SupportsCodec(f.Track.Codec) {
		return false, nil
	}
	if !w.started {
		if err := w.out.open(); err != nil {
			return false, err
		}
		w.started = true
		for _, t := range append(append([]*media.Track(nil), tracks...), f.Track) {
			if cur := w.current(t); *cur == nil && flv.SupportsCodec(t.Codec) {
				*cur = t
			}
		}
		var ts []*media.Track
		for _, t := range []*media.Track{w.video, w.audio} {
			if t != nil {
				ts = append(ts, t)
			}
		}
		w.origin = f.DTS
		head, _, _ := flv.AppendStart(nil, ts, nil, 0)
		if _, err := w.out.bw.Write(head); err != nil {
			return false, err
		}
	}
	if cur := w.current(f.Track); f.Track != *cur {
		if *cur == nil || !f.Track.SameConfig(*cur) {
			if _, err := w.out.bw.Write(flv.AppendSequenceHeaderTag(nil, f.Track, max(f.DTS-w.origin, 0))); err != nil {
				return false, err
			}
		}
		*cur = f.Track
	}
	// The tag, built in reused buffers, on a timeline starting at 0
	// as FLV files do.
	ts := max(f.DTS-w.origin, 0)
	if f.Track.Kind() == media.KindVideo {
		w.body = flv.AppendVideoBody(w.body[:0], f)
	} else {
		w.body = flv.AppendAudioBody(w.body[:0], f)
	}
	w.hdr = flv.AppendTagHeader(w.hdr[:0], flv.FrameTagType(f), len(w.body), ts)
	w.body = flv.AppendPrevSize(w.body, len(w.body))
	if _, err := w.out.bw.Write(w.hdr); err != nil {
		return false, err
	}
	if _, err := w.out.bw.Write(w.body); err != nil {
		return false, err
	}
	return true, nil
}

func (w *flvWriter) Close() error { return w.out.close() }
func (w *flvWriter) Abort()       { _ = w.out.close() }
func (w *flvWriter) Bytes() int64 { return w.out.bytes() }

// --- MPEG-TS and HLS: the HLS segmenter ---

// tsWriter writes the segmenter's segments back to back (one continuous
// transport stream), or, with dir set, as HLS segment files and a
// playlist.
type tsWriter struct {
	out      output
	target   time.Duration
	seg      *hls.StreamSegmenter
	err      error
	playlist string // HLS: the playlist path; segments beside it
	stem     string
	segs     []*hls.Segment // HLS: listed segments, without their data
	hlsBytes int64
}

func (w *tsWriter) WriteFrame(f *media.Frame, tracks []*media.Track) (bool, error) {
	if w.seg == nil {
		seg, err := hls.NewStreamSegmenter(tracks, w.target, w.onSegment, nil)
		if err != nil {
			return false, err
		}
		w.seg = seg
	}
	if err := w.seg.WriteFrame(f, tracks); err != nil {
		return false, err
	}
	return hls.CanCarry(f.Track.Codec), w.err
}

func (w *tsWriter) segmentName(seq uint64) string {
	return fmt.Sprintf("%s-%d.ts", w.stem, seq)
}

func (w *tsWriter) onSegment(s *hls.Segment) {
	if w.err != nil {
		return
	}
	if w.playlist != "" {
		dir := filepath.Dir(w.playlist)
		if len(w.segs) == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				w.err = err
				return
			}
		}
		p := filepath.Join(dir, w.segmentName(s.Seq))
		if err := os.WriteFile(p, s.Data, 0o644); err != nil {
			w.err = err
			return
		}
		w.hlsBytes += int64(len(s.Data))
		c := *s
		c.Data = nil
		w.segs = append(w.segs, &c)
		return
	}
	if err := w.out.open(); err != nil {
		w.err = err
		return
	}
	if _, err := w.out.bw.Write(s.Data); err != nil {
		w.err = err
	}
}

func (w *tsWriter) Close() error {
	if w.seg != nil {
		w.seg.Flush()
	}
	if w.err != nil {
		_ = w.out.close()
		return w.err
	}
	if w.playlist != "" {
		if len(w.segs) == 0 {
			return errNothingCarried
		}
		pl := hls.EndedPlaylist(w.segs, w.target, w.segmentName)
		tmp := w.playlist + ".tmp"
		if err := os.WriteFile(tmp, pl, 0o644); err != nil {
			return err
		}
		w.hlsBytes += int64(len(pl))
		return os.Rename(tmp, w.playlist)
	}
	return w.out.close()
}

func (w *tsWriter) Abort() { _ = w.out.close() }

func (w *tsWriter) Bytes() int64 {
	if w.playlist != "" {
		return w.hlsBytes
	}
	return w.out.bytes()
}

// --- progressive MP4: pkg/format/mp4, finalised in place ---

type mp4Writer struct {
	path      string
	faststart bool
	f         *os.File
	w         *mp4.Writer
	size      int64
}

// mp4Carries: H.264, H.265, AV1, VP9, AAC, MP3, Opus and G.711 (see
// mp4.Carries).
func mp4Carries(c media.Codec) bool { return mp4.Carries(c) }

func (w *mp4Writer) WriteFrame(f *media.Frame, tracks []*media.Track) (bool, error) {
	if !mp4Carries(f.Track.Codec) {
		return false, nil
	}
	if w.w == nil {
		file, err := createFile(w.path)
		if err != nil {
			return false, err
		}
		mw, err := mp4.NewWriter(file, withTrack(tracks, f.Track), mp4.Options{FragmentDuration: 2 * time.Second})
		if err != nil {
			file.Close()
			return false, err
		}
		w.f, w.w = file, mw
	}
	dropped := w.w.Dropped()
	if err := w.w.WriteFrame(f); err != nil {
		return false, fmt.Errorf("%w (MP4 cannot change a track's codec configuration within a file)", err)
	}
	if w.w.Dropped() != dropped {
		return false, errSkipped // video before its first keyframe
	}
	return true, nil
}

func (w *mp4Writer) Close() error {
	if w.w == nil {
		return nil
	}
	err := w.w.Close()
	if err == nil {
		var fi os.FileInfo
		if fi, err = w.f.Stat(); err == nil {
			w.size = fi.Size()
		}
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil && w.faststart {
		var n int64
		n, err = Faststart(w.path)
		if err == nil {
			w.size = n
		}
	}
	return err
}

func (w *mp4Writer) Abort() {
	if w.w != nil {
		w.w.Abort()
		w.f.Close()
	}
}

func (w *mp4Writer) Bytes() int64 {
	if w.size > 0 {
		return w.size
	}
	if w.w == nil {
		return 0
	}
	return w.w.Bytes()
}

// withTrack returns tracks with t in (replacing the track of its kind
// that is not t, if t is not among them).
func withTrack(tracks []*media.Track, t *media.Track) []*media.Track {
	out := []*media.Track{t}
	for _, o := range tracks {
		if o != nil && o != t && o.Kind() != t.Kind() {
			out = append(out, o)
		}
	}
	if t.Kind() == media.KindAudio && len(out) > 1 {
		out[0], out[1] = out[1], out[0] // video first
	}
	return out
}

// --- fragmented MP4: mediacommon's fmp4, streamable ---

type fmp4Track struct {
	m       *media.Track
	id      int
	scale   uint32
	video   bool
	started bool
	pending *media.Frame
	pendDTS uint64
	lastDur uint32
	base    uint64 // decode time of the first sample of samples
	samples []*fmp4.Sample
}

type fmp4Writer struct {
	out       output
	tracks    []*fmp4Track
	origin    time.Duration
	started   bool
	fragStart time.Duration
	buffered  int
	bytes     int // payload bytes buffered
	seq       uint32
	video     bool
	buf       seekablebuffer.Buffer
}

// Bounds of one fMP4 fragment besides its duration.
const (
	maxFragmentBytes   = 32 << 20
	maxFragmentSamples = 4096
)

// fmp4Carries: what mediacommon's fMP4 writer has a sample entry for
// (see mp4.FragmentedCarries); G.711 is dropped.
func fmp4Carries(c media.Codec) bool { return mp4.FragmentedCarries(c) }

func (w *fmp4Writer) init(tracks []*media.Track) error {
	var init fmp4.Init
	var haveV, haveA bool
	codecOf := map[*fmp4Track]codecs.Codec{}
	for _, t := range tracks {
		if t == nil || !fmp4Carries(t.Codec) {
			continue
		}
		st := &fmp4Track{m: t, video: t.Kind() == media.KindVideo}
		if (st.video && haveV) || (!st.video && haveA) {
			continue
		}
		c, err := mp4.SampleEntryCodec(t)
		if err != nil {
			return fmt.Errorf("fmp4: %w", err)
		}
		if st.video {
			haveV = true
		} else {
			haveA = true
		}
		st.scale = mp4.Timescale(t)
		codecOf[st] = c
		w.video = w.video || st.video
		w.tracks = append(w.tracks, st)
	}
	// video first
	if len(w.tracks) == 2 && !w.tracks[0].video {
		w.tracks[0], w.tracks[1] = w.tracks[1], w.tracks[0]
	}
	for i, st := range w.tracks {
		st.id = i + 1
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{ID: st.id, TimeScale: st.scale, Codec: codecOf[st]})
	}
	if len(w.tracks) == 0 {
		return errNothingCarried
	}
	order := make([]*media.Track, len(w.tracks))
	for i, st := range w.tracks {
		order[i] = st.m
	}
	// MarshalInit: AAC with the input's own config (a PCE, implicit
	// HE-AAC), which mediacommon would rebuild without them.
	b, err := mp4.MarshalInit(&init, order)
	if err != nil {
		return fmt.Errorf("fmp4: %w", err)
	}
	if err := w.out.open(); err != nil {
		return err
	}
	_, err = w.out.bw.Write(b)
	return err
}

func (w *fmp4Writer) trackOf(t *media.Track) *fmp4Track {
	for _, st := range w.tracks {
		if st.m == t {
			return st
		}
	}
	for _, st := range w.tracks {
		if st.m.SameConfig(t) {
			return st
		}
	}
	return nil
}

func ticksOf(d time.Duration, scale uint32) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64(d/time.Second)*uint64(scale) + uint64(d%time.Second)*uint64(scale)/uint64(time.Second)
}

func (w *fmp4Writer) WriteFrame(f *media.Frame, tracks []*media.Track) (bool, error) {
	if !fmp4Carries(f.Track.Codec) {
		return false, nil
	}
	if w.tracks == nil {
		if err := w.init(withTrack(tracks, f.Track)); err != nil {
			return false, err
		}
	}
	st := w.trackOf(f.Track)
	if st == nil {
		return false, fmt.Errorf("fmp4: track %v not in the output (fMP4 cannot change a track's codec configuration within a file)", f.Track)
	}
	if st.video && !st.started && !f.Key {
		return false, errSkipped // a track starts with a sync sample
	}
	if !w.started {
		w.started, w.origin = true, f.DTS
	}
	rel := f.DTS - w.origin
	dts := ticksOf(rel, st.scale)
	if st.pending != nil {
		if dts <= st.pendDTS {
			dts = st.pendDTS + 1
		}
		w.complete(st, uint32(min(dts-st.pendDTS, 1<<32-1)))
	}
	if w.buffered > 0 {
		span := rel - w.fragStart
		// Bounded also in bytes and samples: timestamps that do not
		// advance must not grow a fragment without end.
		flush := span >= 2*time.Second || w.bytes >= maxFragmentBytes || w.buffered >= maxFragmentSamples
		if w.video {
			flush = flush || (st.video && f.Key && span >= time.Second)
		} else {
			flush = flush || span >= time.Second
		}
		if flush {
			if err := w.flush(); err != nil {
				return false, err
			}
			w.fragStart = rel
		}
	}
	st.started = true
	st.pending, st.pendDTS = f, dts
	return true, nil
}

func (w *fmp4Writer) complete(st *fmp4Track, dur uint32) {
	p := st.pending
	if len(st.samples) == 0 {
		st.base = st.pendDTS
	}
	var cts int32
	if d := p.PTS - p.DTS; d != 0 {
		if d > 0 {
			cts = int32(ticksOf(d, st.scale))
		} else {
			cts = -int32(ticksOf(-d, st.scale))
		}
	}
	w.bytes += len(p.Payload)
	st.samples = append(st.samples, &fmp4.Sample{
		Duration: dur, PTSOffset: cts, IsNonSyncSample: st.video && !p.Key, Payload: p.Payload,
	})
	st.lastDur = dur
	st.pending = nil
	w.buffered++
}

func (w *fmp4Writer) flush() error {
	if w.buffered == 0 {
		return nil
	}
	w.seq++
	part := fmp4.Part{SequenceNumber: w.seq}
	for _, st := range w.tracks {
		if len(st.samples) > 0 {
			part.Tracks = append(part.Tracks, &fmp4.PartTrack{ID: st.id, BaseTime: st.base, Samples: st.samples})
		}
	}
	w.buf.Reset()
	if err := part.Marshal(&w.buf); err != nil {
		return fmt.Errorf("fmp4: fragment: %w", err)
	}
	for _, st := range w.tracks {
		clear(st.samples)
		st.samples = st.samples[:0]
	}
	w.buffered, w.bytes = 0, 0
	_, err := w.out.bw.Write(w.buf.Bytes())
	return err
}

func (w *fmp4Writer) Close() error {
	for _, st := range w.tracks {
		if st.pending == nil {
			continue
		}
		dur := st.lastDur
		if dur == 0 {
			if st.video {
				fps := st.m.FPS
				if fps <= 0 || fps > 240 {
					fps = 25
				}
				dur = uint32(90000/fps + 0.5)
			} else {
				dur = audioFrameTicks(st)
			}
		}
		w.complete(st, dur)
	}
	if err := w.flush(); err != nil {
		_ = w.out.close()
		return err
	}
	return w.out.close()
}

func (w *fmp4Writer) Abort()       { _ = w.out.close() }
func (w *fmp4Writer) Bytes() int64 { return w.out.bytes() }

// audioFrameTicks is the duration of the pending frame of an audio track
// that has no previous frame to measure it by.
func audioFrameTicks(st *fmp4Track) uint32 {
	p := st.pending.Payload
	switch st.m.Codec {
	case media.CodecOpus:
		if n := opus.PacketDuration2(p); n > 0 {
			return uint32(n)
		}
		return 960
	case media.CodecMP3:
		if d := media.MP3FrameDuration(p); d > 0 {
			return uint32(ticksOf(d, st.scale))
		}
		return 1152
	}
	return 1024
}

// stemOf is a playlist's name without its extension.
func stemOf(path string) string {
	b := filepath.Base(path)
	return strings.TrimSuffix(b, filepath.Ext(b))
}
