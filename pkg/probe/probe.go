// Package probe finds what a media file or live URL holds: its
// container, duration and bitrate, and per track the codec, profile,
// resolution, frame rate and sample rate, with ffprobe's names and
// values; with Options.Frames it also measures frames, GOPs, timestamp
// gaps and bitrate over time. Tracks come from pkg/source (FLV, MPEG-TS,
// MPEG-PS, MP4, rtmp://, rtsp://, HTTP-FLV/TS, HLS); durations as ffprobe
// computes them, from bounded reads (see Probe).
package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mediakit/mediakit/internal/urlscheme"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/source"
)

// Defaults.
const (
	DefaultTimeout  = 10 * time.Second
	DefaultDuration = 10 * time.Second
)

// ErrNoTracks: the input held no audio or video track mediakit knows.
var ErrNoTracks = errors.New("no audio or video track found")

// Options tune a probe.
type Options struct {
	// Timeout bounds a network input: connecting and waiting for its
	// tracks. Default DefaultTimeout.
	Timeout time.Duration
	// Frames reads every frame of a file (or Duration of a live input)
	// and fills Stream.Frames.
	Frames bool
	// Duration is how long a live input is sampled with Frames. Default
	// DefaultDuration.
	Duration time.Duration
	// Log gets the sources' warnings; nil discards them.
	Log *slog.Logger
}

// Report is what a probe found.
type Report struct {
	Filename       string
	FormatName     string // ffprobe's format_name
	FormatLongName string
	Live           bool
	Duration       float64 // seconds; < 0 unknown
	Size           int64   // bytes; < 0 unknown
	BitRate        int64   // bits per second; 0 unknown
	Streams        []Stream
}

// Stream is one track.
type Stream struct {
	Index         int
	Track         *media.Track
	CodecType     string // "video", "audio"
	CodecName     string
	CodecLongName string
	Profile       string
	Width, Height int
	FrameRate     string // r_frame_rate
	AvgFrameRate  string // avg_frame_rate
	SampleRate    int
	Channels      int
	ChannelLayout string
	BitRate       int64   // 0 unknown
	Duration      float64 // seconds; < 0 unknown
	Frames        *FrameStats
}

type container uint8

const (
	cFLV container = iota + 1
	cTS
	cMP4
	cPS
	cHLS
	cRTMP
	cRTSP
)

var formatNames = map[container][2]string{
	cFLV:  {"flv", "FLV (Flash Video)"},
	cTS:   {"mpegts", "MPEG-TS (MPEG-2 Transport Stream)"},
	cMP4:  {"mov,mp4,m4a,3gp,3g2,mj2", "QuickTime / MOV"},
	cPS:   {"mpeg", "MPEG-PS (MPEG-2 Program Stream)"},
	cHLS:  {"hls", "Apple HTTP Live Streaming"},
	cRTMP: {"flv", "FLV (Flash Video)"},
	cRTSP: {"rtsp", "RTSP input"},
}

// sniff tells a local file's container by its first bytes.
func sniff(b []byte) container {
	switch source.DetectContainer(b) {
	case source.ContainerFLV:
		return cFLV
	case source.ContainerMP4:
		return cMP4
	case source.ContainerPS:
		return cPS
	case source.ContainerMPEGTS:
		return cTS
	}
	return 0
}

// Probe examines input, a local file or a URL. Durations follow ffprobe:
// an FLV file's is onMetaData's duration, else the timestamp of its last
// tag (read through the trailing PreviousTagSize); an MPEG-TS or MPEG-PS
// file's is the last PTS plus one frame minus the first PTS, from the
// PES headers of its first and last 2 MiB; an MP4's is the movie header's
// (else the longest track's), from the moov and fragment headers only.
// Only as much of the media is read as it takes to know every track,
// unless opts.Frames asks for every frame.
func Probe(ctx context.Context, input string, opts Options) (*Report, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Duration <= 0 {
		opts.Duration = DefaultDuration
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if input == "" {
		return nil, errors.New("probe: empty input")
	}
	if scheme, isURL := urlscheme.Of(input); isURL && !strings.EqualFold(scheme, "file") {
		return probeURL(ctx, input, strings.ToLower(scheme), opts)
	}
	return probeFile(ctx, input, opts)
}

func probeURL(ctx context.Context, input, scheme string, opts Options) (*Report, error) {
	src, err := source.Open(input, source.Options{ReadTimeout: opts.Timeout, StartTimeout: opts.Timeout, Log: opts.Log})
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	c := cRTMP
	switch scheme {
	case "rtsp", "rtsps":
		c = cRTSP
	case "http", "https":
		p := strings.ToLower(input)
		if i := strings.IndexAny(p, "?#"); i >= 0 {
			p = p[:i]
		}
		switch {
		case strings.HasSuffix(p, ".ts"):
			c = cTS
		case strings.HasSuffix(p, ".m3u8"):
			c = cHLS
		default:
			c = cFLV
		}
	}
	limit := opts.Timeout
	if opts.Frames {
		limit += opts.Duration
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	col := newCollector(opts.Frames)
	runCtx := ctx
	if opts.Frames {
		// sample for opts.Duration from the first tracks
		var stop context.CancelFunc
		runCtx, stop = context.WithCancel(ctx)
		defer stop()
		col.onTracks = func() { time.AfterFunc(opts.Duration, stop) }
	} else {
		var stop context.CancelFunc
		runCtx, stop = context.WithCancel(ctx)
		defer stop()
		col.onTracks = stop
	}
	err = src.Run(runCtx, col)
	r := &Report{Filename: src.String(), Live: true, Duration: -1, Size: -1}
	r.FormatName, r.FormatLongName = formatNames[c][0], formatNames[c][1]
	if err := col.finish(r, err, src.String()); err != nil {
		if ctx.Err() != nil && err == ctx.Err() {
			return nil, fmt.Errorf("probe: %s: no tracks within %s", src.String(), limit)
		}
		return nil, err
	}
	return r, nil
}

var extFormats = map[string]container{
	".flv": cFLV, ".ts": cTS, ".m2ts": cTS, ".mts": cTS,
	".mp4": cMP4, ".m4v": cMP4, ".mov": cMP4, ".m4a": cMP4,
	".mpg": cPS, ".mpeg": cPS, ".ps": cPS, ".vob": cPS,
}

func probeFile(ctx context.Context, input string, opts Options) (*Report, error) {
	path := strings.TrimPrefix(input, "file://")
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("probe: %s: not a regular file", input)
	}
	var head [512]byte
	n, _ := io.ReadFull(f, head[:])
	c := sniff(head[:n])
	if c == 0 {
		c = extFormats[strings.ToLower(filepath.Ext(path))]
	}
	if c == 0 {
		return nil, fmt.Errorf("probe: %s: not an FLV, MPEG-TS, MP4 or MPEG-PS file", input)
	}
	r := &Report{Filename: input, Duration: -1, Size: fi.Size()}
	r.FormatName, r.FormatLongName = formatNames[c][0], formatNames[c][1]
	col := newCollector(opts.Frames)
	if c == cTS || c == cPS {
		col.window = analyzeSeconds * time.Second
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	if !opts.Frames {
		col.onTracks = stop
	}
	var src source.Source
	if c == cPS {
		// pkg/source reads a program stream from any reader (remux's
		// path for .mpg files): every codec its demuxer carries
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("probe: %s: %w", input, err)
		}
		src = source.OpenReader(input, f, r.Size, source.Options{Log: opts.Log})
	} else {
		// pkg/source picks the container by extension: give it a name
		// that has the right one when the file's does not.
		name := path
		if extFormats[strings.ToLower(filepath.Ext(path))] != c {
			name, err = linkWithExt(path, c)
			if err != nil {
				return nil, fmt.Errorf("probe: %s: %w", input, err)
			}
			defer os.RemoveAll(filepath.Dir(name))
		}
		if src, err = source.Open(name, source.Options{Log: opts.Log}); err != nil {
			return nil, fmt.Errorf("probe: %s: %w", input, err)
		}
	}
	runErr := src.Run(runCtx, col)
	if runErr != nil && ctx.Err() == nil && runCtx.Err() != nil {
		runErr = nil // stopped once the tracks were known
	}
	if err := col.finish(r, runErr, input); err != nil {
		return nil, err
	}
	if err := fileDurations(f, c, r, col); err != nil {
		return nil, fmt.Errorf("probe: %s: %w", input, err)
	}
	if r.Duration > 0 && r.Size > 0 {
		r.BitRate = int64(float64(r.Size) * 8 / r.Duration)
	}
	return r, nil
}

func linkWithExt(path string, c container) (string, error) {
	ext := map[container]string{cFLV: ".flv", cTS: ".ts", cMP4: ".mp4"}[c]
	dir, err := os.MkdirTemp("", "mediakit-probe-")
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	name := filepath.Join(dir, "input"+ext)
	return name, os.Symlink(abs, name)
}

// fileDurations fills the format's and the streams' durations and
// bitrates from container headers and timestamps; an MPEG-TS or -PS
// audio stream's bit_rate is ffprobe's: its codec's (G.711), or its
// parser's mean over the first frames (AAC, MP3; see esBitRate), here of
// the first audio stream in the head window.
func fileDurations(f *os.File, c container, r *Report, col *collector) error {
	switch c {
	case cFLV:
		if d, ok := col.md.Number("duration"); ok && d > 0 {
			r.Duration = d
		} else if ts := flvLastTimestamp(f, r.Size); ts > 0 {
			r.Duration = float64(ts) / 1000
		}
		for i := range r.Streams {
			key := "audiodatarate"
			if r.Streams[i].CodecType == "video" {
				key = "videodatarate"
			}
			if v, ok := col.md.Number(key); ok && v > 0 {
				r.Streams[i].BitRate = int64(v * 1024)
			}
		}
	case cTS, cPS:
		head, tail, err := headTail(f, r.Size)
		if err != nil {
			return err
		}
		scan := scanTS
		if c == cPS {
			scan = scanPS
		}
		var s spans
		es := newAudioES()
		scan(head, &s, true, es)
		scan(tail, &s, false, nil)
		r.Duration = spanDuration(s, frameDurations(r.Streams))
		audio := 0
		for i := range r.Streams {
			st := &r.Streams[i]
			if st.CodecType != "audio" {
				continue
			}
			switch st.Track.Codec {
			case media.CodecG711A, media.CodecG711U:
				// ffprobe's bit rate of PCM: 8 bits a sample
				st.BitRate = int64(st.SampleRate * 8 * st.Channels)
			case media.CodecAAC, media.CodecMP3:
				if audio == 0 {
					st.BitRate = esBitRate(es.data, st.Track.Codec)
				}
			}
			audio++
		}
	case cMP4:
		return mp4Durations(f, r)
	}
	return nil
}

// frameDurations is one frame's duration per kind (video, audio).
func frameDurations(streams []Stream) [2]float64 {
	var d [2]float64
	for _, s := range streams {
		t := s.Track
		switch {
		case t.Kind() == media.KindVideo && t.FPS > 0:
			d[0] = 1 / t.FPS
		case t.Codec == media.CodecAAC && t.SampleRate > 0:
			d[1] = 1024 / float64(t.SampleRate)
		case t.Codec == media.CodecMP3 && t.SampleRate > 0:
			d[1] = 1152 / float64(t.SampleRate)
		}
	}
	return d
}

// mp4Durations fills durations and bitrates from the MP4's headers, as
// ffprobe computes them: a stream's duration is its edit list's (else
// mdhd's, else its fragments'), its bit_rate its bytes over that; the
// format's duration is mvhd's, else the longest stream's.
func mp4Durations(f *os.File, r *Report) error {
	info, err := readMP4Info(f, r.Size)
	if err != nil {
		return err
	}
	longest := -1.0
	// the n-th video (audio) stream is the n-th vide (soun) trak: pkg/source
	// declares them in trak order, leaving out codecs it does not carry
	used := make([]bool, len(info.tracks))
	for i := range r.Streams {
		st := &r.Streams[i]
		handler := map[string]string{"video": "vide", "audio": "soun"}[st.CodecType]
		var t *mp4Track
		for j, c := range info.tracks {
			if !used[j] && c.handler == handler {
				t, used[j] = c, true
				break
			}
		}
		if t == nil || t.timescale == 0 {
			continue
		}
		secs := float64(t.duration) / float64(t.timescale)
		if t.editDur > 0 && info.timescale > 0 {
			secs = float64(t.editDur) / float64(info.timescale)
		}
		if t.duration == 0 && t.editDur == 0 {
			secs = float64(t.fragEnd) / float64(t.timescale)
		}
		st.Duration = secs
		if st.CodecType == "video" {
			mp4FrameRates(st, t)
		}
		if secs > 0 {
			st.BitRate = int64(float64(t.sampleSize+t.fragSize) * 8 / secs)
		}
		longest = max(longest, secs)
	}
	if info.timescale > 0 && info.duration > 0 {
		r.Duration = float64(info.duration) / float64(info.timescale)
	} else {
		r.Duration = longest
	}
	return nil
}

// mp4FrameRates sets a video stream's frame rates from its trak as
// ffmpeg's mov demuxer does: r_frame_rate is the timescale over the first
// stts delta when every sample (but maybe the last) has that delta, else
// the codec's (a fragmented file's most common sample duration when the
// codec declares none, as ffmpeg's estimate from timestamps finds);
// avg_frame_rate is the sample count over their total duration.
func mp4FrameRates(st *Stream, t *mp4Track) {
	switch {
	case t.sttsDelta0 > 0 && (t.sttsEntries == 1 || t.sttsEntries == 2 && t.sttsCnt1 == 1):
		st.FrameRate = reduce(uint64(t.timescale), uint64(t.sttsDelta0))
	case st.FrameRate == "0/0" && t.sttsEntries == 0 && t.fragDelta() > 0:
		st.FrameRate = reduce(uint64(t.timescale), uint64(t.fragDelta()))
	}
	if hi, num := bits.Mul64(uint64(t.timescale), t.frames); hi == 0 && t.frames > 0 && t.frameDur > 0 {
		// (hi != 0: counts of a hostile file past 2^64; no average.)
		st.AvgFrameRate = reduce(num, t.frameDur)
	} else {
		st.AvgFrameRate = st.FrameRate
	}
}

// errStop ends a read once the tracks are known.
var errStop = errors.New("probe: enough")

// collector is the flv.FrameSink a probe reads into.
type collector struct {
	mu       sync.Mutex
	frames   bool
	tracks   []*media.Track
	md       media.Metadata
	stats    []*trackStats
	onTracks func()
	done     bool

	// window, when set, is how far into the media a probe looks for a
	// kind of track the first SetTracks lacks: an elementary-stream
	// ingest (MPEG-TS without the stream in its PMT, MPEG-PS) declares
	// what it found in its first second and adds a track found later,
	// and ffprobe's analysis reads 5 s.
	window  time.Duration
	waiting bool
	first   time.Duration // DTS of the first frame while waiting
	waited  int           // frames seen while waiting
	told    bool          // onTracks was called
}

// maxWaitFrames bounds the frames read while waiting, should timestamps
// not advance.
const maxWaitFrames = 4096

func newCollector(frames bool) *collector { return &collector{frames: frames} }

// SetTracks keeps the first track of each kind (a later configuration of
// it is a change ffprobe does not report) and adds kinds not seen before.
func (c *collector) SetTracks(tracks []*media.Track) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	first := c.tracks == nil
	merged := make([]*media.Track, 0, len(tracks))
	stats := make([]*trackStats, 0, len(tracks))
	have := map[media.Kind]bool{}
	for _, t := range tracks {
		i := slices.IndexFunc(c.tracks, func(o *media.Track) bool { return o.Kind() == t.Kind() })
		if i >= 0 {
			merged, stats = append(merged, c.tracks[i]), append(stats, c.stats[i])
		} else {
			merged, stats = append(merged, t), append(stats, newTrackStats(t))
		}
		have[t.Kind()] = true
	}
	for i, t := range c.tracks { // kinds the new list lacks
		if !have[t.Kind()] {
			merged, stats = append(merged, t), append(stats, c.stats[i])
		}
	}
	c.tracks, c.stats = merged, stats
	complete := slices.ContainsFunc(c.tracks, func(t *media.Track) bool { return t.Kind() == media.KindVideo }) &&
		slices.ContainsFunc(c.tracks, func(t *media.Track) bool { return t.Kind() == media.KindAudio })
	switch {
	case first && c.window > 0 && !complete:
		c.waiting = true
	case complete:
		c.waiting = false
	}
	if c.waiting {
		return nil
	}
	return c.settled()
}

// settled is called once the tracks are known: it tells onTracks, and
// without frame statistics stops the read.
func (c *collector) settled() error {
	if !c.told {
		c.told = true
		if c.onTracks != nil {
			c.onTracks()
		}
	}
	if !c.frames {
		c.done = true
		return errStop
	}
	return nil
}

func (c *collector) SetMetadata(md media.Metadata) {
	c.mu.Lock()
	c.md = md
	c.mu.Unlock()
}

func (c *collector) WriteFrame(f *media.Frame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.waiting {
		if c.waited == 0 {
			c.first = f.DTS
		}
		c.waited++
		if d := f.DTS - c.first; d >= c.window || d <= -c.window || c.waited >= maxWaitFrames {
			c.waiting = false
			if err := c.settled(); err != nil {
				return err
			}
		}
	}
	if !c.frames {
		if c.waiting {
			return nil
		}
		return errStop
	}
	for i, t := range c.tracks {
		if t == f.Track || (t.Kind() == f.Track.Kind()) {
			c.stats[i].add(f)
			return nil
		}
	}
	return nil
}

// finish turns what was collected into r's streams; runErr is the read's
// outcome, which matters only when no track was found.
func (c *collector) finish(r *Report, runErr error, input string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.tracks) == 0 {
		if runErr != nil && !errors.Is(runErr, errStop) {
			if strings.HasPrefix(runErr.Error(), "source:") || strings.HasPrefix(runErr.Error(), "probe:") {
				return runErr
			}
			return fmt.Errorf("probe: %s: %w", input, runErr)
		}
		return fmt.Errorf("probe: %s: %w", input, ErrNoTracks)
	}
	for i, t := range c.tracks {
		s := Stream{Index: i, Track: t, CodecName: t.Codec.String(), CodecLongName: codecLongName(t.Codec),
			Profile: profileName(t), Duration: -1}
		switch t.Kind() {
		case media.KindVideo:
			s.CodecType = "video"
			s.Width, s.Height = t.Width, t.Height
			s.FrameRate = rational(t.FPS)
			s.AvgFrameRate = s.FrameRate
		case media.KindAudio:
			s.CodecType = "audio"
			s.SampleRate, s.Channels = t.SampleRate, t.Channels
			s.ChannelLayout = channelLayout(t.Channels)
			s.FrameRate, s.AvgFrameRate = "0/0", "0/0"
		}
		if c.frames {
			s.Frames = c.stats[i].result()
			if s.FrameRate == "0/0" && s.CodecType == "video" && s.Frames.MeasuredFPS > 0 {
				s.FrameRate = rational(s.Frames.MeasuredFPS)
				s.AvgFrameRate = s.FrameRate
			}
		}
		r.Streams = append(r.Streams, s)
	}
	return nil
}
