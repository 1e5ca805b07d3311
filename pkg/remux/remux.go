// Package remux changes the container of media files without
// transcoding: FLV, MPEG-TS, MP4 (progressive or fragmented), MPEG-PS and
// HLS playlists in; FLV, MPEG-TS, MP4, fragmented MP4 and HLS out. Inputs
// are read with pkg/source as fast as they read, straight into a
// container writer: the reader waits for the writer, nothing is dropped
// and nothing is held beyond a fragment or segment, so memory stays flat
// however long the file. Timestamps, composition offsets, keyframe flags
// and codec configuration are carried as read.
package remux

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mediakit/mediakit/internal/urlscheme"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/source"
)

// Output formats.
const (
	FormatFLV    = "flv"
	FormatMPEGTS = "mpegts"
	FormatMP4    = "mp4"
	FormatFMP4   = "fmp4"
	FormatHLS    = "hls"
)

// Formats lists the output formats, for help and completion.
var Formats = []string{FormatFLV, FormatMPEGTS, FormatMP4, FormatFMP4, FormatHLS}

// Errors.
var (
	// ErrUsage wraps mistakes in the options (exit 2 for the command).
	ErrUsage = errors.New("usage")
	// errNothingCarried: no frame of a codec the output carries came.
	errNothingCarried = errors.New("no frame of a codec the output container carries")
	// errSkipped: a writer left out a frame it cannot start with (video
	// before its first keyframe); a warning counts them.
	errSkipped = errors.New("frame skipped")
	// errDurationDone ends reading once Options.Duration of media is out.
	errDurationDone = errors.New("duration reached")
)

// maxPlaylistFile bounds a local playlist: a day of 2 s segments takes
// about 2 MiB.
const maxPlaylistFile = 16 << 20

// HLSSegmentDuration is the target duration of HLS output segments.
const HLSSegmentDuration = 2 * time.Second

// Options is one remux.
type Options struct {
	Inputs    []string // paths, URLs, or "-" for Stdin
	Output    string   // path, or "-" for Stdout
	Format    string   // "" chooses by Output's extension
	Concat    bool     // several inputs into one output
	Faststart bool     // MP4: moov before the media
	Stdin     io.Reader
	Stdout    io.Writer
	Log       *slog.Logger
	// Progress, when set, is called every few hundred frames with the
	// input bytes read so far and their total (-1 when unknown).
	Progress func(read, total int64)
	// Clips, when set, has one entry per input (an input that is a
	// playlist counts as one): the part of it to keep.
	Clips []Clip
	// Duration, when positive, ends the output once this much media
	// (by decode time, from the first frame) is written; it is what makes
	// a live HLS playlist (one without EXT-X-ENDLIST) a remux input.
	Duration time.Duration
}

// Track is what one output track got.
type Track struct {
	Kind   string `json:"kind"`
	Codec  string `json:"codec"`
	Frames int64  `json:"frames"`
}

// Result sums up a remux.
type Result struct {
	Inputs   []string      `json:"input"`
	Output   string        `json:"output"`
	Format   string        `json:"format"`
	Tracks   []Track       `json:"tracks"`
	Frames   int64         `json:"frames"`
	Duration time.Duration `json:"-"`
	Bytes    int64         `json:"bytes"`
	Dropped  []string      `json:"dropped_tracks"`
	// Warnings name what was lost: the unreadable rest of a truncated
	// input, damaged MPEG-TS or MPEG-PS packets dropped or mended.
	Warnings []string `json:"warnings"`
}

// FormatFor is the output format: format when set, else by output's
// extension.
func FormatFor(output, format string) (string, error) {
	if format != "" {
		f := strings.ToLower(format)
		if f == "ts" {
			f = FormatMPEGTS
		}
		if !slices.Contains(Formats, f) {
			return "", fmt.Errorf("%w: unknown --format %q (want %s)", ErrUsage, format, strings.Join(Formats, ", "))
		}
		return f, nil
	}
	if output == "-" {
		return "", fmt.Errorf("%w: writing to stdout needs --format flv, mpegts or fmp4", ErrUsage)
	}
	switch strings.ToLower(filepath.Ext(output)) {
	case ".flv":
		return FormatFLV, nil
	case ".ts", ".m2ts", ".mts":
		return FormatMPEGTS, nil
	case ".mp4", ".m4v", ".mov":
		return FormatMP4, nil
	case ".m4s", ".fmp4":
		return FormatFMP4, nil
	case ".m3u8":
		return FormatHLS, nil
	}
	return "", fmt.Errorf("%w: cannot tell the container of %q from its extension (.flv, .ts, .mp4, .m3u8); use --format", ErrUsage, output)
}

// Check validates opts without reading anything; Run calls it.
func Check(opts Options) (format string, err error) {
	if len(opts.Inputs) == 0 || opts.Output == "" {
		return "", fmt.Errorf("%w: need IN... OUT", ErrUsage)
	}
	if len(opts.Inputs) > 1 && !opts.Concat {
		return "", fmt.Errorf("%w: %d inputs: add --concat to join them into one output", ErrUsage, len(opts.Inputs))
	}
	format, err = FormatFor(opts.Output, opts.Format)
	if err != nil {
		return "", err
	}
	if opts.Output == "-" && (format == FormatMP4 || format == FormatHLS) {
		return "", fmt.Errorf("%w: %s cannot be written to stdout (it is finalised in place); use --format flv, mpegts or fmp4", ErrUsage, format)
	}
	if opts.Duration < 0 {
		return "", fmt.Errorf("%w: --duration %v is negative", ErrUsage, opts.Duration)
	}
	if opts.Faststart && format != FormatMP4 {
		return "", fmt.Errorf("%w: --faststart applies to --format mp4 only", ErrUsage)
	}
	stdin := 0
	for _, in := range opts.Inputs {
		if in == "-" {
			stdin++
		}
		if in != "-" && in == opts.Output {
			return "", fmt.Errorf("%w: input and output are the same file %q", ErrUsage, in)
		}
	}
	if stdin > 1 {
		return "", fmt.Errorf("%w: stdin given more than once", ErrUsage)
	}
	return format, nil
}

// Run remuxes opts.Inputs into opts.Output. An input cut short keeps
// what was read, with a warning in Result.Warnings; nothing readable at
// all is an error.
func Run(ctx context.Context, opts Options) (Result, error) {
	format, err := Check(opts)
	res := Result{Inputs: opts.Inputs, Output: opts.Output, Format: format, Dropped: []string{}, Warnings: []string{}, Tracks: []Track{}}
	if err != nil {
		return res, err
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	p := &pipe{log: opts.Log, progress: opts.Progress, counts: map[string]*Track{}, dropped: map[string]bool{},
		lastDTS: map[*media.Track]time.Duration{}, duration: opts.Duration}
	p.w = newWriter(format, opts)
	p.rebase = opts.Clips != nil

	var srcs []source.Source
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	if opts.Clips != nil && len(opts.Clips) != len(opts.Inputs) {
		return res, fmt.Errorf("%w: %d clips for %d inputs", ErrUsage, len(opts.Clips), len(opts.Inputs))
	}
	var clips []*Clip // per source
	for i, in := range opts.Inputs {
		ss, cs, err := openInput(in, opts)
		closers = append(closers, cs...)
		if err != nil {
			return res, err
		}
		srcs = append(srcs, ss...)
		if opts.Clips != nil && len(ss) != 1 {
			return res, fmt.Errorf("%w: %s: a clip of a playlist", ErrUsage, in)
		}
		for range ss {
			if opts.Clips != nil {
				clips = append(clips, &opts.Clips[i])
			} else {
				clips = append(clips, nil)
			}
		}
	}
	for _, s := range srcs {
		if s.Size() > 0 && p.total >= 0 {
			p.total += s.Size()
		} else {
			p.total = -1
		}
	}
	for i, src := range srcs {
		p.cur, p.inputStarted = src, false
		before := p.frames
		var sink flv.FrameSink = p
		if clips[i] != nil {
			sink = &clipper{next: p, clip: *clips[i]}
		}
		rerr := src.Run(ctx, sink)
		if errors.Is(rerr, errClipDone) || errors.Is(rerr, errDurationDone) {
			rerr = nil
		}
		p.done += src.BytesRead()
		if dm, ok := src.(source.Damaged); ok {
			for _, d := range dm.Damage() {
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %s", src, d))
			}
		}
		if p.err != nil { // the output failed
			p.w.Abort()
			return p.fill(res), fmt.Errorf("remux: write %s: %w", opts.Output, p.err)
		}
		if rerr != nil {
			if ctx.Err() != nil {
				p.w.Abort()
				return p.fill(res), ctx.Err()
			}
			if errors.Is(rerr, source.ErrLive) {
				p.w.Abort()
				removeOutput(opts.Output, format, p.w)
				return p.fill(res), fmt.Errorf("remux: %s is a live playlist (no EXT-X-ENDLIST); use --duration or mediakit record", src)
			}
			if p.frames == 0 && i == len(srcs)-1 {
				p.w.Abort()
				removeOutput(opts.Output, format, p.w)
				return p.fill(res), fmt.Errorf("remux: %w", rerr)
			}
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: read stopped after %d frames, the rest is dropped: %v", src, p.frames-before, rerr))
		}
		if p.durationDone {
			break
		}
	}
	if p.frames == 0 {
		p.w.Abort()
		removeOutput(opts.Output, format, p.w)
		if len(p.dropped) > 0 {
			return p.fill(res), fmt.Errorf("remux: %s: %w (dropped: %s)", opts.Output, errNothingCarried, strings.Join(sortedKeys(p.dropped), ", "))
		}
		return p.fill(res), fmt.Errorf("remux: %s: no media frame read", strings.Join(opts.Inputs, ", "))
	}
	if err := p.w.Close(); err != nil {
		return p.fill(res), fmt.Errorf("remux: write %s: %w", opts.Output, err)
	}
	if opts.Progress != nil {
		opts.Progress(p.done, p.total)
	}
	res = p.fill(res)
	if p.skipped > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d video frames before the first keyframe left out", p.skipped))
	}
	if p.fixed > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d frames had a decode time at or before the previous frame's of their track; moved 1 ms after it", p.fixed))
	}
	return res, nil
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// removeOutput removes an output file that got nothing.
func removeOutput(out, format string, w writer) {
	if out == "-" || format == FormatHLS {
		return
	}
	if w.Bytes() == 0 || format == FormatMP4 {
		os.Remove(out)
	}
}

func newWriter(format string, opts Options) writer {
	o := output{path: opts.Output, stdout: opts.Stdout}
	switch format {
	case FormatFLV:
		return &flvWriter{out: o}
	case FormatMPEGTS:
		return &tsWriter{out: o, target: time.Second}
	case FormatHLS:
		return &tsWriter{out: o, target: HLSSegmentDuration, playlist: opts.Output, stem: stemOf(opts.Output)}
	case FormatFMP4:
		return &fmp4Writer{out: o}
	}
	return &mp4Writer{path: opts.Output, faststart: opts.Faststart}
}

// openInput opens one input: "-" is stdin (FLV, MPEG-TS, MPEG-PS or
// fragmented MP4 by its first bytes); a local .m3u8 is its segments one
// after the other; FLV and MP4 files and URLs are pkg/source's; other
// files (.ts, .ps, .mpg, any extension) are recognised by their first
// bytes and read through a buffer (the MPEG-TS demuxer reads a packet at
// a time).
func openInput(in string, opts Options) ([]source.Source, []io.Closer, error) {
	// Without a duration, an input must end by itself.
	sopts := source.Options{Log: opts.Log, RequireEnd: opts.Duration <= 0}
	one := func(s source.Source, err error) ([]source.Source, []io.Closer, error) {
		if err != nil {
			return nil, nil, err
		}
		return []source.Source{s}, nil, nil
	}
	if in == "-" {
		if opts.Stdin == nil {
			return nil, nil, fmt.Errorf("remux: no stdin")
		}
		return one(source.OpenReader("stdin", opts.Stdin, -1, sopts), nil)
	}
	if _, isURL := urlscheme.Of(in); isURL && !strings.HasPrefix(strings.ToLower(in), "file:") {
		return one(source.Open(in, sopts))
	}
	switch strings.ToLower(filepath.Ext(in)) {
	case ".flv", ".mp4", ".m4v", ".mov":
		return one(source.Open(in, sopts))
	case ".m3u8", ".m3u":
		return openPlaylist(in, sopts)
	}
	f, fi, err := openRegular(in)
	if err != nil {
		return nil, nil, err
	}
	return []source.Source{source.OpenReader(in, f, fi.Size(), sopts)}, []io.Closer{f}, nil
}

// openRegular opens path, which must be a regular file once symbolic
// links are followed: a FIFO would block the open, a device (/dev/zero)
// never end.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("remux: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("remux: %s: not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("remux: %w", err)
	}
	// what was opened, which may not be what was looked at
	if fi, err = f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("remux: %s: not a regular file", path)
	}
	return f, fi, nil
}

// readPlaylist reads a local playlist of at most maxPlaylistFile bytes
// (however much it grows while it is read).
func readPlaylist(path string) ([]byte, error) {
	f, fi, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tooLarge := fmt.Errorf("remux: %s: playlist larger than %d MiB", path, maxPlaylistFile>>20)
	if fi.Size() > maxPlaylistFile {
		return nil, tooLarge
	}
	var b bytes.Buffer
	b.Grow(int(fi.Size()) + bytes.MinRead)
	if _, err := b.ReadFrom(io.LimitReader(f, maxPlaylistFile+1)); err != nil {
		return nil, fmt.Errorf("remux: read %s: %w", path, err)
	}
	if b.Len() > maxPlaylistFile {
		return nil, tooLarge
	}
	return b.Bytes(), nil
}

// openPlaylist reads a local HLS media playlist of MPEG-TS or fMP4
// segments (a recording): its segments one after the other, each opened
// when reached, one source per run of segments between discontinuities
// or changes of init segment (the timeline of each next run continues
// after the previous one's, like the inputs of --concat). fMP4 segments
// are read after their init segment.
func openPlaylist(path string, sopts source.Options) ([]source.Source, []io.Closer, error) {
	b, err := readPlaylist(path)
	if err != nil {
		return nil, nil, err
	}
	segs, err := source.ParseMediaPlaylist(b)
	if err != nil {
		return nil, nil, fmt.Errorf("remux: %s: %w", path, err)
	}
	if len(segs) == 0 {
		return nil, nil, fmt.Errorf("remux: %s: playlist lists no segment", path)
	}
	dir := filepath.Dir(path)
	// file is the path of a segment or init segment, a regular file
	// beside the playlist.
	file := func(uri, what string) (string, int64, error) {
		if _, isURL := urlscheme.Of(uri); isURL || filepath.IsAbs(uri) || strings.Contains(uri, "..") {
			return "", 0, fmt.Errorf("remux: %s: %s %q is not a file beside the playlist", path, what, uri)
		}
		p := filepath.Join(dir, filepath.FromSlash(uri))
		fi, err := os.Stat(p)
		if err != nil {
			return "", 0, fmt.Errorf("remux: %s: %w", path, err)
		}
		if !fi.Mode().IsRegular() {
			return "", 0, fmt.Errorf("remux: %s: %s %s is not a regular file", path, what, uri)
		}
		return p, fi.Size(), nil
	}
	var srcs []source.Source
	var closers []io.Closer
	var files []string
	var total int64
	first, n := "", 0 // the run's first segment, and its segments
	flush := func() {
		if len(files) == 0 {
			return
		}
		r := &filesReader{files: files}
		name := path
		if n < len(segs) {
			name = fmt.Sprintf("%s (from %s)", path, first)
		}
		srcs = append(srcs, source.OpenReader(name, r, total, sopts))
		closers = append(closers, r)
		files, total, n = nil, 0, 0
	}
	init := ""
	for i, s := range segs {
		p, size, err := file(s.URI, "segment")
		if err != nil {
			return nil, nil, err
		}
		if i > 0 && (s.Discontinuity || s.Init != init) {
			flush()
		}
		if len(files) == 0 {
			first = filepath.Base(p)
			if s.Init != "" {
				ip, isize, err := file(s.Init, "init segment")
				if err != nil {
					return nil, nil, err
				}
				files, total = append(files, ip), isize
			}
		}
		init = s.Init
		total += size
		files = append(files, p)
		n++
	}
	flush()
	return srcs, closers, nil
}

// filesReader reads files one after the other, one open at a time.
type filesReader struct {
	files []string
	f     *os.File
}

func (r *filesReader) Read(p []byte) (int, error) {
	for {
		if r.f == nil {
			if len(r.files) == 0 {
				return 0, io.EOF
			}
			f, err := os.Open(r.files[0])
			if err != nil {
				return 0, err
			}
			r.f, r.files = f, r.files[1:]
		}
		n, err := r.f.Read(p)
		if errors.Is(err, io.EOF) {
			r.f.Close()
			r.f = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (r *filesReader) Close() error {
	if r.f != nil {
		return r.f.Close()
	}
	return nil
}

// pipe is the flv.FrameSink every input writes into: it moves each
// next input's timeline after the previous one's, counts, and writes.
type pipe struct {
	w        writer
	log      *slog.Logger
	progress func(read, total int64)
	cur      source.Source
	done     int64 // bytes of finished inputs
	total    int64

	tracks       []*media.Track
	known        []*media.Track
	lastDTS      map[*media.Track]time.Duration
	fixed        int64 // DTS moved forward
	skipped      int64 // frames a writer could not start with
	inputStarted bool
	// rebase starts the output's time at 0 (a clip starts mid-input).
	rebase bool
	// duration: Options.Duration; durationDone once it is reached.
	duration     time.Duration
	durationDone bool
	offset       time.Duration
	started      bool
	first, last  time.Duration // output DTS range
	lastDur      time.Duration // last video (else audio) DTS step
	lastKind     [3]time.Duration
	frames       int64
	counts       map[string]*Track
	order        []string
	dropped      map[string]bool
	err          error
}

func (p *pipe) SetTracks(tracks []*media.Track) error {
	p.tracks = make([]*media.Track, 0, len(tracks))
	for _, t := range tracks {
		if t != nil {
			p.tracks = append(p.tracks, p.canonical(t))
		}
	}
	return nil
}

// canonical is the track the output already has for t's configuration
// (each input of a concatenation, or an input after a discontinuity,
// declares its own *media.Track), else t, remembered. AAC tracks match
// on codec, rate and channels: the same stream read from FLV, MPEG-TS or
// MP4 carries AudioSpecificConfigs that differ in trailing bytes.
func (p *pipe) canonical(t *media.Track) *media.Track {
	for _, c := range p.known {
		if c == t {
			return c
		}
	}
	for _, c := range p.known {
		if c.SameConfig(t) || (t.Codec == media.CodecAAC && c.Codec == t.Codec &&
			c.SampleRate == t.SampleRate && c.Channels == t.Channels && sameAOT(c.AACConfig, t.AACConfig)) {
			return c
		}
	}
	p.known = append(p.known, t)
	return t
}

// sameAOT reports whether two AudioSpecificConfigs start with the same
// object type and frequency index (their first 13 bits).
func sameAOT(a, b []byte) bool {
	return len(a) >= 2 && len(b) >= 2 && a[0] == b[0] && a[1]&0xF8 == b[1]&0xF8
}

func (p *pipe) SetMetadata(media.Metadata) {}

func (p *pipe) WriteFrame(f *media.Frame) error {
	if p.err != nil {
		return p.err
	}
	if p.durationDone {
		return errDurationDone
	}
	if !p.inputStarted {
		p.inputStarted = true
		if !p.started && p.rebase {
			p.offset = -f.DTS
		}
		if p.started {
			step := p.lastDur
			if step <= 0 || step >= time.Second {
				step = 40 * time.Millisecond
			}
			p.offset = p.last + step - f.DTS
		}
	}
	t := p.canonical(f.Track)
	dts, pts := f.DTS+p.offset, f.PTS+p.offset
	if p.duration > 0 && p.started && dts-p.first >= p.duration {
		p.durationDone = true
		return errDurationDone
	}
	// Decode times of a track must advance (every container needs it;
	// writers cut fragments and segments by them, so time that stands
	// still would grow one without bound): a DTS at or before the
	// track's last, which only broken input has, is moved a millisecond
	// after it.
	if last, ok := p.lastDTS[t]; ok && dts <= last {
		dts = last + time.Millisecond
		pts = max(pts, dts)
		p.fixed++
	}
	p.lastDTS[t] = dts
	if dts != f.DTS || pts != f.PTS || t != f.Track {
		f = &media.Frame{Track: t, DTS: dts, PTS: pts, Key: f.Key, Payload: f.Payload}
	}
	written, err := p.w.WriteFrame(f, p.tracks)
	if errors.Is(err, errSkipped) {
		p.skipped++
		return nil
	}
	if err != nil {
		p.err = err
		return err
	}
	k := f.Track.Kind()
	key := k.String() + " " + f.Track.Codec.String()
	if !written {
		if !p.dropped[key] {
			p.dropped[key] = true
			p.log.Warn("track dropped: the output container cannot carry its codec", "codec", f.Track.Codec.String())
		}
		return nil
	}
	if !p.started {
		p.started, p.first, p.last = true, f.DTS, f.DTS
	}
	if int(k) < len(p.lastKind) {
		if d := f.DTS - p.lastKind[k]; d > 0 && (k == media.KindVideo || p.lastDur == 0 || !p.hasVideo()) {
			p.lastDur = d
		}
		p.lastKind[k] = f.DTS
	}
	p.first = min(p.first, f.DTS)
	p.last = max(p.last, f.DTS)
	c := p.counts[key]
	if c == nil {
		c = &Track{Kind: k.String(), Codec: f.Track.Codec.String()}
		p.counts[key] = c
		p.order = append(p.order, key)
	}
	c.Frames++
	p.frames++
	if p.progress != nil && (p.frames%512 == 0 || p.frames == 1) {
		p.progress(p.done+p.cur.BytesRead(), p.total)
	}
	return nil
}

func (p *pipe) hasVideo() bool {
	for _, c := range p.counts {
		if c.Kind == media.KindVideo.String() {
			return true
		}
	}
	return false
}

func (p *pipe) fill(r Result) Result {
	for _, k := range p.order {
		r.Tracks = append(r.Tracks, *p.counts[k])
	}
	slices.SortStableFunc(r.Tracks, func(a, b Track) int { // video first
		return strings.Compare(b.Kind, a.Kind)
	})
	r.Frames = p.frames
	if p.started {
		r.Duration = p.last - p.first + max(p.lastDur, 0)
	}
	r.Bytes = p.w.Bytes()
	r.Dropped = append(r.Dropped, sortedKeys(p.dropped)...)
	return r
}
