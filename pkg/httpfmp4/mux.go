package httpfmp4

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/mp4"
	"github.com/mediakit/mediakit/pkg/internal/livehttp"
	"github.com/mediakit/mediakit/pkg/media"
)

// videoTimescale is the timescale of video tracks (the MPEG clock).
const videoTimescale = 90000

// tagLen is the length of the layout tag that precedes a frame's cached
// fragment.
const tagLen = 4

// CanCarry reports whether HTTP-fMP4 carries codec c: H.264 (avc1),
// H.265 (hvc1), AV1 (av01), VP9 (vp09), AAC and MP3 (mp4a) and Opus,
// every codec mediacommon's fMP4 writer has a sample entry for. G.711 is
// dropped (see mp4.FragmentedCarries).
func CanCarry(c media.Codec) bool { return mp4.FragmentedCarries(c) }

// DroppedTrackMessage is the warning logged, once per stream and track
// set, for a track HTTP-fMP4 leaves out.
func DroppedTrackMessage(t *media.Track) string {
	return "httpfmp4: dropping " + t.Codec.String() + " track: fMP4 cannot carry it here"
}

// DropReason is the reason given to DropTrack for a codec HTTP-fMP4
// leaves out.
func DropReason(c media.Codec) string { return mp4.NotCarriedReason(c, true) }

// streamMux turns the frames of one stream into fMP4 fragments, stored
// once per frame (media.EncodingFMP4) and shared by every HTTP-fMP4 and
// WS-fMP4 reader of the stream, and holds the init segment of its track
// set.
//
// Every field of a fragment is a function of the frame and its track set
// rather than of the reader: the track ID and timescale come from the
// track set, the decode time (tfdt) from the frame's DTS on the stream
// timeline (which the engine starts at the stream's first frame and
// keeps monotonic), the sequence number from a counter that only grows.
// So the bytes are the same whichever reader builds them, and a reader
// that joins late gets the timeline of the others. Only sample durations
// need the previous frame: frames are built under mu, in stream order
// (readers take frames in order, and the first to reach a frame builds
// it), and a duration is estimated from the previous frame of its track
// that this muxer built.
type streamMux struct {
	sig    string
	tag    [tagLen]byte // layout tag: identifies fragments built for this track set
	init   []byte       // ftyp+moov
	tracks []*trackState
	video  *trackState // nil without video
	// ignored are the tracks of the set that are not carried, whose
	// frames are skipped quietly.
	ignored []*media.Track
	seq     *atomic.Uint32

	mu      sync.Mutex
	payload []byte // scratch: a payload without redundant NAL units
}

type trackState struct {
	track     *media.Track
	codec     codecs.Codec // of the init segment's sample entry
	id        uint32
	timescale uint32
	// samples is the duration of an audio frame in the timescale (AAC:
	// 1024 or 960; Opus: from each packet); 0 for video.
	samples uint32

	// Under streamMux.mu.
	haveLast bool
	lastDTS  uint64 // video: DTS of the last frame built
	duration uint32 // video: the last estimated frame duration
	next     uint64 // audio: where the last frame built ends
}

// trackSig names the carried tracks and their configuration; readers of
// a stream whose configuration changed get a new muxer.
func trackSig(tracks []*media.Track) string {
	var b bytes.Buffer
	var video, audio bool
	for _, t := range tracks {
		if t == nil || !CanCarry(t.Codec) {
			continue
		}
		if t.Kind() == media.KindVideo {
			if video {
				continue
			}
			video = true
		} else {
			if audio {
				continue
			}
			audio = true
		}
		fmt.Fprintf(&b, "%s:%x:%x:%x:%x:%x:%v:%dx%d:%d:%d;", t.Codec, t.VPS, t.SPS, t.PPS, t.AV1SequenceHeader, t.AACConfig,
			t.VP9, t.Width, t.Height, t.SampleRate, t.Channels)
	}
	return b.String()
}

func newStreamMux(tracks []*media.Track, seq *atomic.Uint32, log *slog.Logger) (*streamMux, error) {
	m := &streamMux{sig: trackSig(tracks), seq: seq}
	h := fnv.New32a()
	h.Write([]byte(m.sig))
	binary.BigEndian.PutUint32(m.tag[:], h.Sum32())

	var video, audio *trackState
	for _, t := range tracks {
		if t == nil {
			continue
		}
		var st *trackState
		switch {
		case !CanCarry(t.Codec):
			// The session's DropTrack warns once per stream.
			log.Debug(DroppedTrackMessage(t), "codec", t.Codec.String())
		case t.Kind() == media.KindVideo && video == nil:
			var err error
			if st, err = newVideoState(t); err != nil {
				// A track without a usable configuration is left
				// out; the others play.
				log.Warn("httpfmp4: track left out", "track", t.String(), "error", err.Error())
			}
			video = st
		case t.Kind() == media.KindAudio && audio == nil:
			var err error
			if st, err = newAudioState(t); err != nil {
				log.Warn("httpfmp4: track left out", "track", t.String(), "error", err.Error())
			}
			audio = st
		}
		if st == nil {
			m.ignored = append(m.ignored, t)
		}
	}
	if video == nil && audio == nil {
		return nil, fmt.Errorf("httpfmp4: no track fMP4 carries (tracks: %v)", tracks)
	}
	// Video first, as ffmpeg orders tracks: IDs are fixed per track set.
	var init fmp4.Init
	var order []*media.Track
	for _, st := range []*trackState{video, audio} {
		if st == nil {
			continue
		}
		st.id = uint32(len(m.tracks) + 1)
		m.tracks = append(m.tracks, st)
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{ID: int(st.id), TimeScale: st.timescale, Codec: st.codec})
		order = append(order, st.track)
	}
	m.video = video
	// MarshalInit: AAC with the publisher's own config (a PCE, implicit
	// HE-AAC), which mediacommon would rebuild without them.
	b, err := mp4.MarshalInit(&init, order)
	if err != nil {
		return nil, fmt.Errorf("httpfmp4: init segment of %v: %w", tracks, err)
	}
	m.init = b
	return m, nil
}

func newVideoState(t *media.Track) (*trackState, error) {
	// hvc1, with the parameter sets in the sample entry: what Safari
	// requires.
	c, err := mp4.SampleEntryCodec(t)
	if err != nil {
		return nil, fmt.Errorf("httpfmp4: %w", err)
	}
	st := &trackState{track: t, timescale: videoTimescale, codec: c}
	fps := t.FPS
	if fps <= 0 || fps > 240 {
		fps = 25
	}
	st.duration = uint32(videoTimescale/fps + 0.5)
	return st, nil
}

func newAudioState(t *media.Track) (*trackState, error) {
	c, err := mp4.SampleEntryCodec(t)
	if err != nil {
		return nil, fmt.Errorf("httpfmp4: %w", err)
	}
	st := &trackState{track: t, timescale: mp4.Timescale(t), codec: c}
	switch t.Codec {
	case media.CodecOpus:
		st.samples = 960
	case media.CodecMP3:
		st.samples = 1152
	default:
		st.samples = 1024
		if c.(*codecs.MPEG4Audio).Config.FrameLengthFlag {
			st.samples = 960
		}
	}
	return st, nil
}

// state returns the muxer's track for t: the same track, or one with the
// same configuration. ok is false when t is not carried; known then
// tells a track left out (a codec fMP4 does not carry here, such as
// G.711 of this or a returning publisher, or a second video track of the
// set) from a track the set does not have (the publisher changed its
// tracks).
func (m *streamMux) state(t *media.Track) (st *trackState, ok, known bool) {
	for _, st := range m.tracks {
		if st.track == t {
			return st, true, true
		}
	}
	if !CanCarry(t.Codec) {
		return nil, false, true
	}
	for _, it := range m.ignored {
		if it == t {
			return nil, false, true
		}
	}
	for _, st := range m.tracks {
		if st.track.SameConfig(t) {
			return st, true, true
		}
	}
	return nil, false, false
}

// startsStream reports whether f may be a session's first fragment: a
// video keyframe, or any audio frame when the set has no video.
func (m *streamMux) startsStream(f *media.Frame) bool {
	if m.video == nil {
		return true
	}
	return f.Key && f.Track.Kind() == media.KindVideo
}

// fragment returns the shared fragment of f, a frame of st, building it
// if no reader has yet. It returns nil when f carries nothing, or when
// its bytes were built for another track set (a reader of the old set
// took the frame while the stream changed tracks).
func (m *streamMux) fragment(f *media.Frame, st *trackState) []byte {
	b := f.Cached(media.EncodingFMP4, func(f *media.Frame) []byte {
		m.mu.Lock()
		defer m.mu.Unlock()
		// Another reader may have built it while this one waited for
		// the lock: Cached then returns its bytes without building.
		return f.Cached(media.EncodingFMP4, func(f *media.Frame) []byte { return m.build(f, st) })
	})
	if len(b) <= tagLen || [tagLen]byte(b[:tagLen]) != m.tag {
		return nil
	}
	return b[tagLen:]
}

// maxVideoGap bounds the DTS step taken as a video frame's duration; a
// longer step is a gap in the stream, across which the estimate stays.
const maxVideoGap = 2 * videoTimescale

// build writes the fragment of f, tagged with the track set; called
// with m.mu held, once per frame.
func (m *streamMux) build(f *media.Frame, st *trackState) []byte {
	if len(f.Payload) == 0 {
		return nil
	}
	dts := ticks(f.DTS, st.timescale)
	s := sample{trackID: st.id, baseTime: dts}
	payload := f.Payload
	if st == m.video {
		if st.haveLast && dts > st.lastDTS && dts-st.lastDTS <= maxVideoGap {
			st.duration = uint32(dts - st.lastDTS)
		}
		st.haveLast, st.lastDTS = true, dts
		s.duration = st.duration
		s.cts = int32(min(max(int64(ticks(f.PTS, st.timescale))-int64(dts), math.MinInt32), math.MaxInt32))
		s.nonSync = !f.Key
		if c := st.track.Codec; c == media.CodecH264 || c == media.CodecH265 {
			payload = m.stripParameterSets(payload, st.track)
		}
		if len(payload) == 0 {
			return nil
		}
	} else {
		n := st.samples
		switch st.track.Codec {
		case media.CodecOpus:
			if d := opus.PacketDuration2(payload); d > 0 && d <= 48000 {
				n = uint32(d)
			}
		case media.CodecMP3:
			// 1152 samples (MPEG-1 layer III) or 576 (MPEG-2/2.5).
			if d := media.MP3FrameDuration(payload); d > 0 {
				n = uint32(ticks(d, st.timescale))
			}
		}
		// Audio fragments follow each other without gaps or overlaps,
		// which the millisecond timestamps of RTMP would make: the
		// next starts where the last ended, unless the DTS moved away
		// by more than a frame (a gap, a new publisher).
		if st.haveLast && absDiff(dts, st.next) <= uint64(n) {
			s.baseTime = st.next
		}
		st.haveLast, st.next = true, s.baseTime+uint64(n)
		s.duration = n
	}
	b := make([]byte, 0, tagLen+fragmentSize(&s, len(payload)))
	b = append(b, m.tag[:]...)
	return appendFragment(b, m.seq.Add(1), &s, payload)
}

// stripParameterSets returns the AVCC payload without access unit
// delimiters and without the parameter sets the init segment already
// has (hvc1 and avc1 keep them in the sample entry). Parameter sets
// that differ from the track's stay in band. It returns payload itself
// when it has nothing to remove.
func (m *streamMux) stripParameterSets(payload []byte, t *media.Track) []byte {
	drop := func(nalu []byte) bool {
		if len(nalu) == 0 {
			return true
		}
		if t.Codec == media.CodecH264 {
			switch nalu[0] & 0x1f {
			case 9:
				return true
			case 7:
				return bytes.Equal(nalu, t.SPS)
			case 8:
				return bytes.Equal(nalu, t.PPS)
			}
			return false
		}
		switch (nalu[0] >> 1) & 0x3f {
		case 35:
			return true
		case 32:
			return bytes.Equal(nalu, t.VPS)
		case 33:
			return bytes.Equal(nalu, t.SPS)
		case 34:
			return bytes.Equal(nalu, t.PPS)
		}
		return false
	}
	any := false
	media.EachNALU(payload, func(nalu []byte) bool {
		any = drop(nalu)
		return !any
	})
	if !any {
		return payload
	}
	out := m.payload[:0]
	media.EachNALU(payload, func(nalu []byte) bool {
		if !drop(nalu) {
			out = media.AppendAVCC(out, nalu)
		}
		return true
	})
	m.payload = out
	return out
}

func absDiff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

// ticks converts a (non-negative) stream time to timescale units,
// rounding to the nearest.
func ticks(d time.Duration, timescale uint32) uint64 {
	if d < 0 {
		d = 0
	}
	sec, rem := uint64(d/time.Second), uint64(d%time.Second)
	return sec*uint64(timescale) + (rem*uint64(timescale)+uint64(time.Second)/2)/uint64(time.Second)
}

// muxes holds the streamMux of each stream with HTTP-fMP4 readers.
type muxes struct {
	shared livehttp.Shared[*streamMux]
	// seq numbers fragments (mfhd) for every stream of the handler: a
	// counter that only grows keeps them increasing within each stream
	// even across muxers that come and go.
	seq atomic.Uint32
}

// acquire returns the stream's muxer for a reader with tracks, creating
// it (or replacing it, when the stream's tracks changed) as needed.
func (ms *muxes) acquire(key engine.Key, tracks []*media.Track, log *slog.Logger) (*streamMux, func(), error) {
	return ms.shared.Acquire(key, trackSig(tracks), func() (*streamMux, error) { return newStreamMux(tracks, &ms.seq, log) })
}
