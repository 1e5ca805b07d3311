// Package mp4 writes MP4 recordings that survive a crash of the process.
//
// A [Writer] writes fragmented MP4 while recording: ftyp and a moov that
// describes the tracks (with mvex) at once, then a moof+mdat fragment per
// keyframe interval of about [Options.FragmentDuration]. A fragment's mdat
// is written first, in one write, and its moof after it, header last, so a
// process killed at any point leaves a fragmented file that ffmpeg and
// players read, lacking at most the fragment being built (the moof's
// place reads as zeros, an empty box that runs to the end of the file).
//
// [Writer.Close] turns the file into a standard progressive MP4 in place,
// without copying media: it appends a moov with complete sample tables
// (co64 chunk offsets once the file passes 4 GiB), then renames the
// first moov and every moof to free, so the file reads
//
//	ftyp free [free mdat]... moov
//
// with every mdat where it was written. The steps are ordered so that the
// file is playable after each of them (see Close).
//
// The box code is written here with a small big-endian builder; the sample
// table kept in memory is about four bytes per sample.
package mp4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"

	"github.com/mediakit/mediakit/pkg/media"
)

// File is what a Writer writes to; an *os.File not opened with O_APPEND
// satisfies it. The writer finds its start with Seek and then writes with
// WriteAt only; Close leaves the offset at the end of the file. If the
// file also has a Sync() error method, Options.Sync uses it.
type File interface {
	io.WriteSeeker
	io.WriterAt
}

// Options tune a Writer. The zero value is usable.
type Options struct {
	// FragmentDuration is the target length of a fragment (default 1 s).
	// With video, a fragment ends at the first keyframe after at least
	// this much media, or after twice this much without a keyframe;
	// audio-only fragments end every FragmentDuration.
	FragmentDuration time.Duration

	// Sync makes the writer fsync the file before and after writing each
	// fragment's moof header and after each step of Close, so that a power
	// loss, not only a crash of the process, loses at most the fragment
	// being built. Without it the order of the writes still protects
	// against a crash of the process (kill -9).
	Sync bool

	// CreationTime is written in mvhd, tkhd and mdhd; zero writes 0.
	CreationTime time.Time

	// padding, a test hook, is the size of a sparse free box written right
	// after ftyp, to push every sample beyond 4 GiB.
	padding int64
	// maxFree, a test hook, lowers the size above which Close writes a
	// 64-bit free box header.
	maxFree uint64
}

// Errors.
var (
	ErrClosed       = errors.New("mp4: writer closed")
	ErrNoTracks     = errors.New("mp4: no track that MP4 recording supports")
	ErrUnknownTrack = errors.New("mp4: frame of a track the writer was not created with")
)

const (
	movieTimescale = 1000
	videoTimescale = 90000

	flagsSync    = 0x02000000 // sample_depends_on 2 (I picture)
	flagsNonSync = 0x01010000 // sample_depends_on 1, sample_is_non_sync_sample
)

// Writer writes one MP4 file. It is not safe for concurrent use.
type Writer struct {
	f       File
	opts    Options
	tracks  []*track
	skipped []*media.Track
	video   bool // some track is video

	start    int64    // file offset of ftyp
	pos      int64    // file offset of the next write
	initMoov int64    // file offset of the fragmented moov
	initHead [16]byte // its first bytes: its header and mvhd's
	moofs    []int64  // file offsets of the moof boxes
	seq      uint32   // moof sequence number

	started   bool
	origin    time.Duration // DTS of the first frame: the file's time zero
	lastDTS   time.Duration
	fragStart time.Duration // media time the current fragment started at
	buffered  int           // complete samples in the current fragment
	frames    int64
	dropped   int64
	duration  time.Duration // set by Close

	buf      []byte // the fragment being written, reused
	err      error  // sticky write error
	closed   bool
	closeErr error

	stage func(string) // test hook: called between finalisation steps
}

// track is the state of one trak.
type track struct {
	m      *media.Track
	id     uint32
	video  bool
	scale  uint32
	config []byte // avcC / hvcC record, or AudioSpecificConfig
	entry  []byte // AV1, VP9, Opus, MP3: the whole sample entry, from mediacommon

	started bool
	shift   time.Duration // added to DTS when the track starts before the origin
	first   uint64        // decode time of the first sample (file timeline)

	pending *media.Frame // last frame, waiting for the next to know its duration
	pendDTS uint64
	pendCTS uint32
	lastDur uint32

	// the current fragment
	frag      []fragSample
	payloads  [][]byte
	fragBytes uint64
	fragDTS   uint64
	offsetPos int // position of trun's data_offset in the fragment buffer

	tab table
}

type fragSample struct {
	size, dur, cts uint32
	sync           bool
}

// NewWriter writes ftyp and a fragmented moov for tracks to f, at f's
// current offset (normally 0), and returns a writer for their frames.
// Tracks MP4 recording does not support (codecs [Carries] refuses, or
// tracks without their parameter sets) are left out; see
// [Writer.Skipped]. NewWriter fails with ErrNoTracks if none is left.
// The caller keeps ownership of f and closes it after Close or Abort.
func NewWriter(f File, tracks []*media.Track, opts Options) (*Writer, error) {
	if opts.FragmentDuration <= 0 {
		opts.FragmentDuration = time.Second
	}
	w := &Writer{f: f, opts: opts}
	for _, m := range tracks {
		if m == nil {
			continue
		}
		t := newTrack(m)
		if t == nil {
			w.skipped = append(w.skipped, m)
			continue
		}
		t.id = uint32(len(w.tracks) + 1)
		w.video = w.video || t.video
		w.tracks = append(w.tracks, t)
	}
	if len(w.tracks) == 0 {
		return nil, ErrNoTracks
	}
	pos, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("mp4: %w", err)
	}
	w.start, w.pos = pos, pos

	b := builder{b: make([]byte, 0, 1024)}
	ftyp := b.start("ftyp")
	b.str("isom")
	b.u32(0x200)
	b.str("isomiso5iso6mp41avc1")
	b.end(ftyp)
	if opts.padding > 0 {
		// A free box with a 64-bit size whose body is a hole in the file.
		b.u32(1)
		b.str("free")
		b.u64(uint64(opts.padding))
		if err := w.append(b.b); err != nil {
			return nil, err
		}
		w.pos += opts.padding - 16 // the next write leaves a hole
		b.b = b.b[:0]
	}
	w.initMoov = w.pos + int64(len(b.b))
	w.appendMoov(&b, false)
	copy(w.initHead[:], b.b[w.initMoov-w.pos:])
	if err := w.append(b.b); err != nil {
		return nil, err
	}
	if err := w.sync(); err != nil {
		return nil, err
	}
	return w, nil
}

// newTrack returns the state of a track MP4 recording supports, or nil.
func newTrack(m *media.Track) *track {
	t := &track{m: m}
	switch m.Codec {
	case media.CodecH264:
		if len(m.SPS) == 0 || len(m.PPS) == 0 {
			return nil
		}
		t.video, t.scale = true, videoTimescale
		t.config = media.AppendAVCConfig(nil, m.SPS, m.PPS)
	case media.CodecH265:
		if len(m.VPS) == 0 || len(m.SPS) == 0 || len(m.PPS) == 0 {
			return nil
		}
		t.video, t.scale = true, videoTimescale
		t.config = media.AppendHEVCConfig(nil, m.VPS, m.SPS, m.PPS)
	case media.CodecAAC:
		if len(m.AACConfig) == 0 || m.SampleRate <= 0 {
			return nil
		}
		t.scale = uint32(m.SampleRate)
		t.config = m.AACConfig
	case media.CodecG711A, media.CodecG711U:
		// One sample per frame, timed in the sample rate: a sample's
		// duration is its number of PCM samples. No decoder configuration.
		if m.SampleRate <= 0 || m.SampleRate > math.MaxUint16 || m.Channels <= 0 || m.Channels > math.MaxUint16 {
			return nil
		}
		t.scale = uint32(m.SampleRate)
	case media.CodecAV1, media.CodecVP9, media.CodecOpus, media.CodecMP3:
		c, err := SampleEntryCodec(m)
		if err != nil {
			return nil
		}
		t.video, t.scale = m.Kind() == media.KindVideo, Timescale(m)
		// The track ID is set later; the entry holds it only in MP3's
		// ES_ID, which readers ignore, so 1 does.
		if t.entry, err = sampleEntry(c, 1, t.scale); err != nil {
			return nil
		}
	default:
		return nil
	}
	return t
}

// Tracks returns the tracks being written, in track ID order.
func (w *Writer) Tracks() []*media.Track {
	out := make([]*media.Track, len(w.tracks))
	for i, t := range w.tracks {
		out[i] = t.m
	}
	return out
}

// Skipped returns the tracks NewWriter left out; their frames are ignored.
func (w *Writer) Skipped() []*media.Track { return w.skipped }

// Frames returns the number of frames accepted so far.
func (w *Writer) Frames() int64 { return w.frames }

// Dropped returns the number of video frames ignored because they came
// before their track's first keyframe.
func (w *Writer) Dropped() int64 { return w.dropped }

// Bytes returns the number of bytes written to the file so far (after
// Close, the size of the finished file). Frames still buffered for the
// current fragment are not counted.
func (w *Writer) Bytes() int64 { return w.pos - w.start }

// FirstDTS returns the DTS of the first frame, the file's time zero.
func (w *Writer) FirstDTS() time.Duration { return w.origin }

// LastDTS returns the largest DTS accepted so far.
func (w *Writer) LastDTS() time.Duration { return w.lastDTS }

// Duration returns the media time recorded: after Close, the duration of
// the movie; before, the time from the first frame to the last DTS seen.
func (w *Writer) Duration() time.Duration {
	if w.closed && w.closeErr == nil && w.duration > 0 {
		return w.duration
	}
	if !w.started {
		return 0
	}
	return w.lastDTS - w.origin
}

// WriteFrame adds one frame. Frames of one track must come in decode
// order; tracks may interleave loosely. Timestamps are made relative to
// the first frame's DTS. Frames of skipped tracks are ignored, frames of
// other unknown tracks fail with ErrUnknownTrack. A write error is sticky.
func (w *Writer) WriteFrame(f *media.Frame) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return ErrClosed
	}
	t, err := w.trackOf(f.Track)
	if t == nil {
		return err
	}
	if t.video && !t.started && !f.Key {
		w.dropped++ // an MP4 track starts with a sync sample
		return nil
	}
	if !w.started {
		w.started, w.origin, w.lastDTS = true, f.DTS, f.DTS
	}
	rel := f.DTS - w.origin
	if !t.started {
		t.started = true
		if rel < 0 {
			// This track starts before the first frame: shift it so that
			// no decode time is negative.
			t.shift = -rel
		}
	}
	rel += t.shift
	if rel < 0 {
		rel = 0
	}
	dts := toTicks(rel, t.scale)
	if t.pending != nil {
		if dts <= t.pendDTS {
			dts = t.pendDTS + 1 // keep decode times increasing
		}
		w.complete(t, clampU32(dts-t.pendDTS))
	} else {
		t.first = dts
	}

	if w.buffered > 0 {
		span, fd := rel-w.fragStart, w.opts.FragmentDuration
		var flush bool
		if w.video {
			flush = (t.video && f.Key && span >= fd) || span >= 2*fd
		} else {
			flush = span >= fd
		}
		if flush {
			if err := w.flush(); err != nil {
				return err
			}
			w.fragStart = rel
		}
	}

	var cts uint32
	if f.PTS > f.DTS {
		if p := toTicks(rel+f.PTS-f.DTS, t.scale); p > dts {
			cts = clampU32(p - dts)
		}
	}
	t.pending, t.pendDTS, t.pendCTS = f, dts, cts
	w.frames++
	if f.DTS > w.lastDTS {
		w.lastDTS = f.DTS
	}
	return nil
}

func clampU32(v uint64) uint32 {
	if v > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(v)
}

// trackOf finds the track of a frame: the same *media.Track, or one with
// the same configuration. It returns nil, nil for a skipped track.
func (w *Writer) trackOf(m *media.Track) (*track, error) {
	if m == nil {
		return nil, errors.New("mp4: frame without a track")
	}
	for _, t := range w.tracks {
		if t.m == m {
			return t, nil
		}
	}
	for _, s := range w.skipped {
		if s == m {
			return nil, nil
		}
	}
	for _, t := range w.tracks {
		if t.m.SameConfig(m) {
			return t, nil
		}
	}
	return nil, fmt.Errorf("%w: %v", ErrUnknownTrack, m)
}

// complete moves the pending sample of t, now that its duration is known,
// into the current fragment and the sample table.
func (w *Writer) complete(t *track, dur uint32) {
	p := t.pending
	s := fragSample{size: uint32(len(p.Payload)), dur: dur, cts: t.pendCTS, sync: !t.video || p.Key}
	if len(t.frag) == 0 {
		t.fragDTS = t.pendDTS
	}
	t.frag = append(t.frag, s)
	t.payloads = append(t.payloads, p.Payload)
	t.fragBytes += uint64(s.size)
	t.tab.add(s.size, s.dur, s.cts, s.sync, t.video)
	t.lastDur = dur
	t.pending = nil
	w.buffered++
}

// flush writes the complete samples as one moof+mdat fragment, in one
// write.
func (w *Writer) flush() error {
	if w.buffered == 0 {
		return nil
	}
	b := builder{b: w.buf[:0]}
	moof := b.start("moof")
	mfhd := b.full("mfhd", 0, 0)
	b.u32(w.seq + 1)
	b.end(mfhd)
	var total uint64
	for _, t := range w.tracks {
		if len(t.frag) == 0 {
			continue
		}
		traf := b.start("traf")
		const baseIsMoof, defaultFlags = 0x020000, 0x000020
		if t.video {
			tfhd := b.full("tfhd", 0, baseIsMoof)
			b.u32(t.id)
			b.end(tfhd)
		} else {
			tfhd := b.full("tfhd", 0, baseIsMoof|defaultFlags)
			b.u32(t.id)
			b.u32(flagsSync)
			b.end(tfhd)
		}
		tfdt := b.full("tfdt", 1, 0)
		b.u64(t.fragDTS)
		b.end(tfdt)

		const dataOffset, duration, size, flags, ctsOffset = 0x1, 0x100, 0x200, 0x400, 0x800
		trunFlags := uint32(dataOffset | duration | size)
		if t.video {
			trunFlags |= flags
		}
		for _, s := range t.frag {
			if s.cts != 0 {
				trunFlags |= ctsOffset
				break
			}
		}
		trun := b.full("trun", 0, trunFlags)
		b.u32(uint32(len(t.frag)))
		t.offsetPos = len(b.b)
		b.u32(0) // data_offset, patched below
		for _, s := range t.frag {
			b.u32(s.dur)
			b.u32(s.size)
			if trunFlags&flags != 0 {
				if s.sync {
					b.u32(flagsSync)
				} else {
					b.u32(flagsNonSync)
				}
			}
			if trunFlags&ctsOffset != 0 {
				b.u32(s.cts)
			}
		}
		b.end(trun)
		b.end(traf)
		total += t.fragBytes
	}
	b.end(moof)

	off := uint64(len(b.b)-moof) + mdatHeaderLen
	if off+total > math.MaxInt32 {
		w.err = errors.New("mp4: fragment larger than 2 GiB")
		return w.err
	}
	for _, t := range w.tracks {
		if len(t.frag) == 0 {
			continue
		}
		putU32(b.b[t.offsetPos:], uint32(off))
		off += t.fragBytes
	}
	b.b = mdatHeader(b.b, total)
	for _, t := range w.tracks {
		for _, p := range t.payloads {
			b.b = append(b.b, p...)
		}
	}
	w.buf = b.b

	// Write the mdat first, then the moof's body, then its header. A crash
	// in between (a kill -9 can cut a large write short, as can a full
	// disk) leaves zeros where the moof header goes: a box of size 0, which
	// readers take as running to the end of the file and skip. A moof cut
	// short instead would make ffmpeg reject the whole file.
	moofPos, moofLen := w.pos, int64(len(b.b))-int64(total)-mdatHeaderLen
	if err := w.writeAt(b.b[moofLen:], moofPos+moofLen); err != nil {
		return err
	}
	if err := w.writeAt(b.b[8:moofLen], moofPos+8); err != nil {
		return err
	}
	if err := w.sync(); err != nil {
		return err
	}
	if err := w.writeAt(b.b[:8], moofPos); err != nil {
		return err
	}
	w.pos += int64(len(b.b))
	w.seq++
	w.moofs = append(w.moofs, moofPos)
	off = uint64(moofPos) + uint64(len(b.b)) - total
	for _, t := range w.tracks {
		if len(t.frag) == 0 {
			continue
		}
		t.tab.chunks = append(t.tab.chunks, chunkInfo{offset: off, count: uint32(len(t.frag))})
		off += t.fragBytes
		t.frag = t.frag[:0]
		clear(t.payloads) // let the frames go
		t.payloads = t.payloads[:0]
		t.fragBytes = 0
	}
	w.buffered = 0
	return w.sync()
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

// append writes p at the end of the file in one write.
func (w *Writer) append(p []byte) error {
	if err := w.writeAt(p, w.pos); err != nil {
		return err
	}
	w.pos += int64(len(p))
	return nil
}

// writeAt writes p at off in one write. Errors are sticky.
func (w *Writer) writeAt(p []byte, off int64) error {
	if _, err := w.f.WriteAt(p, off); err != nil {
		w.err = fmt.Errorf("mp4: write: %w", err)
		return w.err
	}
	return nil
}

// sync fsyncs the file if Options.Sync asks for it and the file can.
func (w *Writer) sync() error {
	if !w.opts.Sync {
		return nil
	}
	s, ok := w.f.(interface{ Sync() error })
	if !ok {
		return nil
	}
	if err := s.Sync(); err != nil {
		w.err = fmt.Errorf("mp4: sync: %w", err)
		return w.err
	}
	return nil
}

// Close writes the buffered frames as a last fragment and finalises the
// file in place into a progressive MP4, in four steps, each leaving a
// playable file:
//
//  1. append the progressive moov (readers still use the first moov and
//     the fragments, and skip a duplicate moov);
//  2. turn the first moov into a free box that covers every fragment (one
//     write): ftyp, free, moov;
//  3. rename every moof, hidden in that free box, to free;
//  4. shrink the free box back to the first moov's size (one write),
//     uncovering the mdats.
//
// With Options.Sync the file is synced after each step. The last sample
// of each track lasts as long as the one before it (G.711: as long as its
// PCM samples). Close does not close the underlying file. Calling Close
// again returns the first call's result.
func (w *Writer) Close() error {
	if w.closed {
		return w.closeErr
	}
	w.closed = true
	w.closeErr = w.finish()
	return w.closeErr
}

func (w *Writer) finish() error {
	if w.err != nil {
		return w.err
	}
	for _, t := range w.tracks {
		if t.pending == nil {
			continue
		}
		dur := t.lastDur
		if dur == 0 || isG711(t.m.Codec) {
			dur = defaultDuration(t) // G.711: exact, from its size
		}
		w.complete(t, dur)
	}
	if err := w.flush(); err != nil {
		return err
	}

	// 1. Append the progressive moov. Readers still take the first moov,
	// so the file stays a fragmented MP4 until step 2.
	moovPos := w.pos
	b := builder{b: w.buf[:0]}
	w.appendMoov(&b, true)
	w.buf = nil
	if err := w.append(b.b); err != nil {
		return err
	}
	if err := w.sync(); err != nil {
		return err
	}
	w.hook("moov")

	// 2. In one write, turn the fragmented moov into a free box spanning
	// every fragment up to the new moov: the file reads ftyp, free, moov,
	// a progressive MP4 whose chunk offsets point into the free box. No
	// reader sees a moof before the moov (ffmpeg refuses that).
	orig := w.initHead
	span := uint64(moovPos - w.initMoov)
	var hdr []byte
	if span <= w.maxFree() {
		hdr = binary.BigEndian.AppendUint32(nil, uint32(span))
		hdr = append(hdr, "free"...)
	} else {
		// A 64-bit size overwrites the header of mvhd, the first child.
		hdr = binary.BigEndian.AppendUint32(nil, 1)
		hdr = append(hdr, "free"...)
		hdr = binary.BigEndian.AppendUint64(hdr, span)
	}
	if err := w.writeAt(hdr, w.initMoov); err != nil {
		return err
	}
	if err := w.sync(); err != nil {
		return err
	}
	w.hook("init")

	// 3. Rename every moof, hidden inside that free box, to free.
	for _, off := range w.moofs {
		if err := w.writeAt([]byte("free"), off+4); err != nil {
			return err
		}
	}
	if err := w.sync(); err != nil {
		return err
	}
	w.hook("moofs")

	// 4. Shrink the free box back to the old moov, uncovering the mdats:
	// ftyp, free, [free, mdat]..., moov.
	copy(orig[4:8], "free")
	if err := w.writeAt(orig[:len(hdr)], w.initMoov); err != nil {
		return err
	}
	if err := w.sync(); err != nil {
		return err
	}
	w.duration = fromTicks(w.movieDuration(), movieTimescale)
	if _, err := w.f.Seek(w.pos, io.SeekStart); err != nil {
		return fmt.Errorf("mp4: %w", err)
	}
	return nil
}

// maxFree is the largest size step 2 of the finalisation writes in 32 bits.
func (w *Writer) maxFree() uint64 {
	if w.opts.maxFree > 0 {
		return w.opts.maxFree
	}
	return math.MaxUint32
}

func (w *Writer) hook(stage string) {
	if w.stage != nil {
		w.stage(stage)
	}
}

// Abort stops the writer without finalising: buffered frames not yet in a
// fragment are dropped and the file stays a fragmented MP4 of the
// fragments already written. It does not close the underlying file.
func (w *Writer) Abort() {
	if w.closed {
		return
	}
	w.closed = true
	w.closeErr = ErrClosed
	for _, t := range w.tracks {
		t.pending = nil
		clear(t.payloads)
	}
	w.buf = nil
}

// defaultDuration is the duration of a track's only sample, t.pending.
func defaultDuration(t *track) uint32 {
	if t.video {
		if t.m.FPS > 0 {
			return uint32(math.Round(float64(t.scale) / t.m.FPS))
		}
		return t.scale / 25
	}
	if isG711(t.m.Codec) {
		// A byte per sample and channel.
		return max(1, uint32(len(t.pending.Payload)/t.m.Channels))
	}
	switch t.m.Codec {
	case media.CodecOpus:
		if n := opus.PacketDuration2(t.pending.Payload); n > 0 {
			return uint32(n) // 48 kHz ticks
		}
		return 960
	case media.CodecMP3:
		if d := media.MP3FrameDuration(t.pending.Payload); d > 0 {
			return uint32(toTicks(d, t.scale))
		}
		return 1152
	}
	return 1024 // an AAC frame
}

func isG711(c media.Codec) bool { return c == media.CodecG711A || c == media.CodecG711U }
