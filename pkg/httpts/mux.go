package httpts

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/hls"
	"github.com/mediakit/mediakit/pkg/internal/livehttp"
	"github.com/mediakit/mediakit/pkg/media"
)

const tsPacketSize = 188

// streamMux turns the frames of one stream into MPEG-TS packets, stored
// once per frame (media.EncodingTS) and shared by every HTTP-TS and
// WS-TS reader of the stream.
//
// Continuity counters are per PID and run across frames, so a frame's
// packets depend on the frames packetised before it. One streamMux per
// stream holds the muxer (mediacommon's, as pkg/hls uses), and frames
// are built under its mutex: readers take frames in stream order, so the
// first reader to reach a frame builds it right after the frame before
// it, and a second reader arriving meanwhile waits and then finds the
// bytes built. Every reader therefore writes the same packets, and the
// counters are continuous except where no reader took a frame at all
// (no readers, or frames every reader skipped): a player that joins sees
// at most one jump per PID at its start, which players tolerate.
type streamMux struct {
	mu     sync.Mutex
	mux    mpegts.Writer
	out    bytes.Buffer
	video  *trackState
	audio  *trackState
	tables []byte // PAT and PMT, for a session whose first frame lacks them
	// started turns true with the first video keyframe (or, without
	// video, the first audio frame): mediacommon makes the track of the
	// first frame written the PCR track, which must be the video.
	started bool

	nalus [][]byte
	aus   [1][]byte
}

type trackState struct {
	codec  media.Codec
	aacCfg []byte
	ts     *mpegts.Track
}

// canCarry reports whether HTTP-TS carries codec c: H.264, H.265 and AAC.
func canCarry(c media.Codec) bool { return hls.CanCarry(c) }

// trackSig names the carried codecs of tracks; readers of a stream whose
// tracks changed codec get a new muxer.
func trackSig(tracks []*media.Track) string {
	var b bytes.Buffer
	for _, t := range tracks {
		if t != nil && canCarry(t.Codec) {
			fmt.Fprintf(&b, "%s:%x;", t.Codec, t.AACConfig)
		}
	}
	return b.String()
}

func newStreamMux(tracks []*media.Track, log *slog.Logger) (*streamMux, error) {
	m := &streamMux{}
	for _, t := range tracks {
		if t == nil {
			continue
		}
		switch {
		case (t.Codec == media.CodecH264 || t.Codec == media.CodecH265) && m.video == nil:
			st := &trackState{codec: t.Codec}
			if t.Codec == media.CodecH264 {
				st.ts = &mpegts.Track{Codec: &codecs.H264{}}
			} else {
				st.ts = &mpegts.Track{Codec: &codecs.H265{}}
			}
			m.video = st
		case t.Codec == media.CodecAAC && m.audio == nil:
			var conf mpeg4audio.AudioSpecificConfig
			if err := conf.Unmarshal(t.AACConfig); err != nil {
				return nil, fmt.Errorf("httpts: AAC AudioSpecificConfig: %w", err)
			}
			m.audio = &trackState{codec: t.Codec, aacCfg: t.AACConfig,
				ts: &mpegts.Track{Codec: &codecs.MPEG4Audio{Config: conf}}}
		case !canCarry(t.Codec):
			log.Warn("httpts: dropping "+t.Codec.String()+" track: MPEG-TS cannot carry it", "codec", t.Codec.String())
		}
	}
	if m.video == nil && m.audio == nil {
		return nil, fmt.Errorf("httpts: no H.264, H.265 or AAC track (tracks: %v)", tracks)
	}
	// Video first: PID 256 is video, 257 audio, and WriteTables names the
	// first track the PCR track.
	for _, st := range []*trackState{m.video, m.audio} {
		if st != nil {
			m.mux.Tracks = append(m.mux.Tracks, st.ts)
		}
	}
	m.mux.W = &m.out
	if err := m.mux.Initialize(); err != nil {
		return nil, fmt.Errorf("httpts: %w", err)
	}
	if _, err := m.mux.WriteTables(); err != nil {
		return nil, fmt.Errorf("httpts: %w", err)
	}
	m.tables = bytes.Clone(m.out.Bytes())
	m.out.Reset()
	return m, nil
}

// frameBytes returns the shared MPEG-TS packets of f, building them if no
// reader has yet. Frames the muxer cannot carry give nil.
func (m *streamMux) frameBytes(f *media.Frame) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return f.Cached(media.EncodingTS, m.build)
}

// stateFor maps a frame's track onto a TS track: by kind, with the same
// codec (and AAC configuration); new parameter sets ride in keyframes.
func (m *streamMux) stateFor(t *media.Track) *trackState {
	var st *trackState
	switch t.Kind() {
	case media.KindVideo:
		st = m.video
	case media.KindAudio:
		st = m.audio
	}
	if st == nil || st.codec != t.Codec {
		return nil
	}
	if t.Codec == media.CodecAAC && !bytes.Equal(t.AACConfig, st.aacCfg) {
		return nil
	}
	return st
}

// build packetises one frame; called with m.mu held.
func (m *streamMux) build(f *media.Frame) []byte {
	if f.Track == nil {
		return nil
	}
	st := m.stateFor(f.Track)
	if st == nil {
		return nil
	}
	if !m.started {
		if m.video != nil && (st != m.video || !f.Key) {
			return nil // nothing decodes before the first keyframe
		}
		m.started = true
	}
	m.out.Reset()
	pts, dts := ticks(f.PTS), ticks(f.DTS)
	var err error
	switch st.codec {
	case media.CodecH264, media.CodecH265:
		au, n := media.AppendAccessUnit(append(m.nalus[:0], media.AccessUnitDelimiter(st.codec)), f)
		m.nalus = au
		if n == 0 {
			return nil
		}
		if st.codec == media.CodecH264 {
			err = m.mux.WriteH264(st.ts, pts, dts, au)
		} else {
			err = m.mux.WriteH265(st.ts, pts, dts, au)
		}
		clear(m.nalus)
	case media.CodecAAC:
		if len(f.Payload) == 0 {
			return nil
		}
		m.aus[0] = f.Payload
		err = m.mux.WriteMPEG4Audio(st.ts, pts, m.aus[:])
		m.aus[0] = nil
	}
	if err != nil || m.out.Len() == 0 {
		return nil
	}
	return bytes.Clone(m.out.Bytes())
}

// ticks converts a stream time to the 90 kHz MPEG-TS clock with the same
// offset as HLS (hls.TimestampOffset), keeping PCR = DTS-100ms positive.
func ticks(d time.Duration) int64 {
	d += hls.TimestampOffset
	return int64(d/time.Millisecond)*90 + (int64(d%time.Millisecond)*90+int64(time.Millisecond)/2)/int64(time.Millisecond)
}

// muxes holds the streamMux of each stream with HTTP-TS readers.
type muxes struct {
	shared livehttp.Shared[*streamMux]
}

// acquire returns the stream's muxer for a reader with tracks, creating
// it (or replacing it, when the stream's codecs changed) as needed.
func (ms *muxes) acquire(key engine.Key, tracks []*media.Track, log *slog.Logger) (*streamMux, func(), error) {
	return ms.shared.Acquire(key, trackSig(tracks), func() (*streamMux, error) { return newStreamMux(tracks, log) })
}

// startsWithPAT reports whether b begins with a PAT packet.
func startsWithPAT(b []byte) bool {
	return len(b) >= tsPacketSize && b[0] == 0x47 && b[1]&0x1f == 0 && b[2] == 0
}
