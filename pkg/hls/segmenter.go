package hls

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/mediakit/mediakit/pkg/media"
)

// TimestampOffset is added to every PTS/DTS written to MPEG-TS. The stream
// timeline starts at 0, and the muxer stamps PCR = DTS - 100 ms, so an
// offset keeps PCR and the timestamps of B-frames and of audio that precedes
// the first keyframe comfortably positive. The 33-bit 90 kHz clock wraps
// after about 26.5 hours; players handle the wrap.
const TimestampOffset = 10 * time.Second

// maxHeld bounds the audio frames held back while waiting for a video
// keyframe (besides the target-duration bound).
const maxHeld = 1024

// Errors returned by NewSegmenter and WriteFrame.
var (
	// ErrNoTracks: none of the tracks can be carried in MPEG-TS.
	ErrNoTracks = errors.New("hls: no H.264, H.265, AAC, MP3 or Opus track")
	// ErrTrackChanged: a frame's codec (or AAC configuration) differs from
	// the track the segmenter was built for, or the frame is of a track
	// it can carry but was not built with (a kind it has no track for);
	// build a new Segmenter (see SetNextSeq) to continue the sequence.
	ErrTrackChanged = errors.New("hls: track codec changed")
)

// Segment is one MPEG-TS media segment. It is immutable once handed to the
// onSegment callback: Data is never modified afterwards and may be shared by
// any number of readers.
type Segment struct {
	Seq uint64
	// Start is the DTS (stream timeline) of the segment's first frame: the
	// video keyframe it starts with, or its first audio frame.
	Start time.Duration
	// Duration runs to the next segment's Start; for a segment closed by
	// Flush or by a discontinuity, to its last DTS plus one frame.
	Duration time.Duration
	// Discontinuity marks the first segment after a publisher came back
	// (its first frame carried media.Frame.Discontinuity).
	Discontinuity bool
	// Data is the MPEG-TS: PAT, PMT, then (with video) a keyframe.
	Data    []byte
	Created time.Time
}

// Segmenter cuts a stream of frames into MPEG-TS segments. It is not safe
// for concurrent use: one goroutine writes frames, and onSegment is called
// synchronously from WriteFrame or Flush.
//
// A new segment starts at the first video keyframe at least target after
// the current segment's start (without video: at the first audio frame at
// least target after it), and at every frame marked Discontinuity. Every
// segment starts with PAT and PMT and, when the stream has video, with a
// keyframe carrying its parameter sets, so it decodes on its own. Video
// frames before the first keyframe (of the stream or after a
// discontinuity) cannot be decoded and are dropped; audio that arrives
// while waiting for that keyframe is held and written right after it, so
// no audio is lost. If no keyframe comes within target, or the video
// stalls for target, audio alone is segmented until the next keyframe.
type Segmenter struct {
	target    time.Duration
	onSegment func(*Segment)

	mux       *tsMuxer
	out       tsSink
	video     *trackState
	audio     *trackState
	excluded  []*media.Track
	onDropped func(*media.Track) // told of each excluded track CanCarry refuses
	dropped   uint64

	nextSeq  uint64
	nextDisc bool

	open        bool
	segStart    time.Duration
	segDisc     bool
	segHasVideo bool
	held        []*media.Frame
}

type trackState struct {
	decl  *media.Track
	alt   *media.Track // last accepted replacement track of the same config
	ts    *tsTrack
	codec media.Codec
	conf  *mpeg4audio.AudioSpecificConfig // AAC

	inSeg        bool // a frame of this track was written to the current segment
	lastDTS      time.Duration
	delta        time.Duration // last DTS increment: the estimated frame duration
	defaultDelta time.Duration
	seen         bool
}

// CanCarry reports whether MPEG-TS (HLS, HTTP-TS, TS files) carries codec
// c here: H.264, H.265, AAC, MP3 and Opus. G.711, AV1 and VP9 are left out
// (see DropReason).
func CanCarry(c media.Codec) bool {
	switch c {
	case media.CodecH264, media.CodecH265, media.CodecAAC, media.CodecMP3, media.CodecOpus:
		return true
	}
	return false
}

// DropReason says why MPEG-TS leaves out a track of codec c, for
// engine.Reader.DropTrack; "" when it carries c.
func DropReason(c media.Codec) string {
	switch {
	case CanCarry(c):
		return ""
	case c == media.CodecG711A || c == media.CodecG711U:
		return "MPEG-TS has no G.711 mapping that players read"
	case c == media.CodecAV1 || c == media.CodecVP9:
		return "MPEG-TS has no " + c.String() + " mapping that players read (use fMP4 HLS or HTTP-fMP4)"
	}
	return "MPEG-TS cannot carry " + c.String()
}

// NewSegmenter returns a segmenter for tracks that calls onSegment with
// each finished segment. H.264, H.265, AAC, MP3 and Opus tracks (the first
// of each kind) are muxed; other tracks (G.711, AV1, VP9) are left out of the
// MPEG-TS and reported by OnDroppedTrack, so that the caller can say so
// once (StreamSegmenter does).
func NewSegmenter(tracks []*media.Track, target time.Duration, onSegment func(*Segment)) (*Segmenter, error) {
	if target <= 0 {
		return nil, fmt.Errorf("hls: segment target duration %v must be positive", target)
	}
	if onSegment == nil {
		return nil, errors.New("hls: nil onSegment")
	}
	s := &Segmenter{target: target, onSegment: onSegment}
	for _, t := range tracks {
		if t == nil {
			continue
		}
		switch {
		case (t.Codec == media.CodecH264 || t.Codec == media.CodecH265) && s.video == nil:
			st := &trackState{decl: t, codec: t.Codec}
			if t.FPS > 0 && t.FPS < 1000 {
				st.defaultDelta = time.Duration(float64(time.Second) / t.FPS)
			}
			s.video = st
		case (t.Codec == media.CodecMP3 || t.Codec == media.CodecOpus) && s.audio == nil:
			st := &trackState{decl: t, codec: t.Codec, defaultDelta: 20 * time.Millisecond}
			if t.Codec == media.CodecMP3 && t.SampleRate > 0 {
				samples := 1152
				if mp3LowRate(t.SampleRate) {
					samples = 576
				}
				st.defaultDelta = time.Duration(int64(time.Second) * int64(samples) / int64(t.SampleRate))
			}
			s.audio = st
		case t.Codec == media.CodecAAC && s.audio == nil:
			var conf mpeg4audio.AudioSpecificConfig
			if err := conf.Unmarshal(t.AACConfig); err != nil {
				return nil, fmt.Errorf("hls: AAC AudioSpecificConfig: %w", err)
			}
			st := &trackState{decl: t, codec: t.Codec, conf: &conf}
			if rate := conf.SampleRate; rate > 0 {
				st.defaultDelta = time.Duration(int64(time.Second) * 1024 / int64(rate))
			}
			s.audio = st
		default:
			s.exclude(t)
		}
	}
	if s.video == nil && s.audio == nil {
		return nil, fmt.Errorf("%w (tracks: %v)", ErrNoTracks, tracks)
	}
	s.out.init()
	s.mux = newTSMuxer(&s.out)
	// Video first: PID 256 is video, 257 audio.
	for _, st := range []*trackState{s.video, s.audio} {
		if st == nil {
			continue
		}
		var ts *tsTrack
		var err error
		switch st.codec {
		case media.CodecMP3:
			ts = s.mux.addMP3Track(st.decl.SampleRate)
		case media.CodecOpus:
			ts, err = s.mux.addOpusTrack(st.decl.Channels)
		default:
			ts, err = s.mux.addTrack(st.codec, st.conf)
		}
		if err != nil {
			return nil, fmt.Errorf("hls: %w", err)
		}
		st.ts = ts
	}
	return s, nil
}

// OnDroppedTrack makes the segmenter call fn for each track whose frames
// it drops because MPEG-TS HLS cannot carry its codec (see CanCarry),
// once per track: at once for those given to NewSegmenter, then from
// WriteFrame for each one first met there (a track the publisher
// declared later). A caller that rebuilds its segmenter (after
// ErrTrackChanged) sees the same tracks again and keeps its own record of
// what it has said.
func (s *Segmenter) OnDroppedTrack(fn func(*media.Track)) {
	s.onDropped = fn
	if fn != nil {
		for _, t := range s.excluded {
			if !CanCarry(t.Codec) {
				fn(t)
			}
		}
	}
}

// exclude leaves t out of the MPEG-TS.
func (s *Segmenter) exclude(t *media.Track) {
	s.excluded = append(s.excluded, t)
	if s.onDropped != nil && !CanCarry(t.Codec) { // not a second track of a kind
		s.onDropped(t)
	}
}

// Dropped counts the video frames dropped because they preceded the first
// keyframe of the stream or of a discontinuity, and held audio discarded.
func (s *Segmenter) Dropped() uint64 { return s.dropped }

// NextSeq is the sequence number the next segment will get.
func (s *Segmenter) NextSeq() uint64 { return s.nextSeq }

// SetNextSeq sets the sequence number of the next segment and whether it
// is marked Discontinuity; for a Segmenter that continues the playlist of
// a previous one (after ErrTrackChanged, say). Call it before the next
// segment starts.
func (s *Segmenter) SetNextSeq(seq uint64, discontinuity bool) {
	s.nextSeq = seq
	s.nextDisc = discontinuity
}

// WriteFrame adds one frame. Frames must come in decode order with DTS
// never going backwards. The frame is not retained after it has been
// muxed (held audio is retained until the next keyframe).
func (s *Segmenter) WriteFrame(f *media.Frame) error {
	if f == nil || f.Track == nil {
		return errors.New("hls: frame without track")
	}
	st, err := s.stateFor(f.Track)
	if err != nil {
		return err
	}
	if f.Discontinuity {
		// Even on a frame of an excluded track: the publisher came back.
		s.finish()
		s.nextDisc = true
	}
	if st == nil {
		return nil
	}

	if !s.open {
		if s.video == nil {
			s.openSegment(f.DTS)
			return s.write(st, f)
		}
		// Wait for a video keyframe; hold audio meanwhile.
		if st == s.video {
			if !f.Key {
				s.dropped++
				return nil
			}
			s.openSegment(f.DTS)
			if err := s.write(st, f); err != nil {
				return err
			}
			return s.writeHeld()
		}
		if len(s.held) == 0 || (f.DTS-s.held[0].DTS < s.target && len(s.held) < maxHeld) {
			s.held = append(s.held, f)
			return nil
		}
		// No keyframe within target: the held audio starts a segment, and
		// f is handled as a frame of that segment.
		s.openSegment(s.held[0].DTS)
		if err := s.writeHeld(); err != nil {
			return err
		}
	}

	if st == s.video {
		if !s.segHasVideo && !f.Key {
			// An audio-led segment: video has not started yet.
			s.dropped++
			return nil
		}
		if f.Key && f.DTS > s.segStart && (!s.segHasVideo || f.DTS-s.segStart >= s.target) {
			s.cut(f.DTS)
		}
	} else if f.DTS-s.segStart >= s.target {
		// Audio cuts when the segment has no video, or when the video
		// stalled for a whole target duration (not merely a long GOP).
		if !s.segHasVideo || f.DTS-s.video.lastDTS >= s.target {
			s.cut(f.DTS)
		}
	}
	return s.write(st, f)
}

// Flush closes and emits the current segment, if any, including audio held
// while waiting for a keyframe. The next frame starts a new segment (with
// video, at a keyframe).
func (s *Segmenter) Flush() {
	s.finish()
}

// stateFor maps a frame's track to the state of the TS track carrying it;
// nil for tracks left out.
func (s *Segmenter) stateFor(t *media.Track) (*trackState, error) {
	var st *trackState
	switch {
	case s.video != nil && (t == s.video.decl || t == s.video.alt):
		return s.video, nil
	case s.audio != nil && (t == s.audio.decl || t == s.audio.alt):
		return s.audio, nil
	case slicesContains(s.excluded, t):
		return nil, nil
	case t.Kind() == media.KindVideo:
		st = s.video
	case t.Kind() == media.KindAudio:
		st = s.audio
	}
	if st == nil {
		if CanCarry(t.Codec) {
			// A track of a kind this muxer has no PID for (declared after
			// the segmenter started): only a new muxer can add it.
			return nil, fmt.Errorf("%w: %s track added", ErrTrackChanged, t.Codec)
		}
		s.exclude(t)
		return nil, nil
	}
	if t.Codec != st.codec {
		return nil, fmt.Errorf("%w: %s to %s", ErrTrackChanged, st.codec, t.Codec)
	}
	if t.Codec == media.CodecAAC && !bytes.Equal(t.AACConfig, st.decl.AACConfig) {
		return nil, fmt.Errorf("%w: AAC configuration %x to %x", ErrTrackChanged, st.decl.AACConfig, t.AACConfig)
	}
	if t.Codec == media.CodecMP3 && mp3LowRate(t.SampleRate) != mp3LowRate(st.decl.SampleRate) {
		return nil, fmt.Errorf("%w: MP3 at %d Hz to %d Hz", ErrTrackChanged, st.decl.SampleRate, t.SampleRate)
	}
	if t.Codec == media.CodecOpus && t.Channels != st.decl.Channels {
		return nil, fmt.Errorf("%w: Opus of %d channels to %d", ErrTrackChanged, st.decl.Channels, t.Channels)
	}
	// Same codec with new parameter sets: keyframes carry the new ones.
	st.alt = t
	return st, nil
}

func slicesContains(ts []*media.Track, t *media.Track) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// finish emits the open segment (ending at its last frame plus one frame
// duration) and any held audio as a segment of its own.
func (s *Segmenter) finish() {
	if !s.open && len(s.held) > 0 {
		s.openSegment(s.held[0].DTS)
		if err := s.writeHeld(); err != nil {
			s.dropped += uint64(len(s.held))
			s.held = s.held[:0]
		}
	}
	if !s.open {
		return
	}
	end := s.segStart
	for _, st := range []*trackState{s.video, s.audio} {
		if st == nil || !st.inSeg {
			continue
		}
		if st == s.audio && s.segHasVideo {
			continue // with video, the segment's timeline is the video's
		}
		d := st.delta
		if d == 0 {
			d = st.defaultDelta
		}
		if e := st.lastDTS + d; e > end {
			end = e
		}
	}
	s.closeSegment(end - s.segStart)
}

// cut closes the current segment at next, the start of the next one.
func (s *Segmenter) cut(next time.Duration) {
	s.closeSegment(next - s.segStart)
	s.openSegment(next)
}

func (s *Segmenter) openSegment(start time.Duration) {
	s.open = true
	s.segStart = start
	s.segDisc = s.nextDisc
	s.nextDisc = false
	s.segHasVideo = false
	for _, st := range []*trackState{s.video, s.audio} {
		if st != nil {
			st.inSeg = false
		}
	}
	s.out.begin()
}

func (s *Segmenter) closeSegment(d time.Duration) {
	if d < 0 {
		d = 0
	}
	seg := &Segment{
		Seq:           s.nextSeq,
		Start:         s.segStart,
		Duration:      d,
		Discontinuity: s.segDisc,
		Data:          s.out.take(),
		Created:       time.Now(),
	}
	s.nextSeq++
	s.open = false
	s.onSegment(seg)
}

func (s *Segmenter) writeHeld() error {
	held := s.held
	s.held = s.held[:0]
	for i, f := range held {
		if err := s.write(s.audio, f); err != nil {
			clear(held[i:])
			return err
		}
	}
	clear(held)
	return nil
}

// ticks converts a stream time to the 90 kHz MPEG-TS clock, offset, rounded
// to the nearest tick (exact for whole milliseconds).
func ticks(d time.Duration) int64 {
	d += TimestampOffset
	return int64(d/time.Millisecond)*90 + (int64(d%time.Millisecond)*90+int64(time.Millisecond)/2)/int64(time.Millisecond)
}

func (s *Segmenter) write(st *trackState, f *media.Frame) error {
	wrote, err := s.mux.writeFrame(st.ts, f, ticks(f.PTS), ticks(f.DTS))
	if !wrote && err == nil {
		if st == s.video {
			s.dropped++
		}
		return nil
	}
	if st == s.video {
		s.segHasVideo = true
	}
	if err != nil {
		return fmt.Errorf("hls: mux %s frame at %v: %w", st.codec, f.DTS, err)
	}
	if st.seen && f.DTS > st.lastDTS {
		st.delta = f.DTS - st.lastDTS
	}
	st.seen, st.inSeg, st.lastDTS = true, true, f.DTS
	return nil
}
