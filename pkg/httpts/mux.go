package httpts

import (
	"bytes"
	"fmt"
	"sync"

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
// stream holds the muxer (pkg/hls's, as live HLS uses), and frames
// are built under its mutex: readers take frames in stream order, so the
// first reader to reach a frame builds it right after the frame before
// it, and a second reader arriving meanwhile waits and then finds the
// bytes built. Every reader therefore writes the same packets, and the
// counters are continuous except where no reader took a frame at all
// (no readers, or frames every reader skipped): a player that joins sees
// at most one jump per PID at its start, which players tolerate.
type streamMux struct {
	mu     sync.Mutex
	w      *hls.TSWriter
	out    bytes.Buffer
	tables []byte // PAT and PMT, for a session whose first frame lacks them
	// started turns true with the first video keyframe (or, without
	// video, the first audio frame): the muxer makes the track of the
	// first frame written the PCR track, which must be the video.
	started bool
}

// canCarry reports whether HTTP-TS carries codec c: H.264, H.265, AAC,
// MP3 and Opus, as HLS.
func canCarry(c media.Codec) bool { return hls.CanCarry(c) }

// trackSig names the carried codecs of tracks and what the program
// tables say of them; readers of a stream whose tracks changed get a new
// muxer.
func trackSig(tracks []*media.Track) string {
	var b bytes.Buffer
	for _, t := range tracks {
		if t != nil && canCarry(t.Codec) {
			fmt.Fprintf(&b, "%s:%x:%t:%d;", t.Codec, t.AACConfig, t.SampleRate > 0 && t.SampleRate < 32000, t.Channels)
		}
	}
	return b.String()
}

func newStreamMux(tracks []*media.Track) (*streamMux, error) {
	m := &streamMux{}
	w, err := hls.NewTSWriter(&m.out, tracks)
	if err != nil {
		return nil, fmt.Errorf("httpts: %w", err)
	}
	m.w = w
	// Video first: PID 256 is video, 257 audio, and the tables name the
	// first track the PCR track.
	if err := w.WriteTables(); err != nil {
		return nil, fmt.Errorf("httpts: %w", err)
	}
	m.tables = bytes.Clone(m.out.Bytes())
	m.out.Reset()
	return m, nil
}

// reportDrops tells the engine of each track of r HTTP-TS cannot carry
// (it logs once per stream, output and codec).
func reportDrops(r *engine.Reader) {
	for _, t := range r.Tracks() {
		if t != nil && !canCarry(t.Codec) {
			r.DropTrack(outputName, t, hls.DropReason(t.Codec))
		}
	}
}

// outputName is HTTP-TS's name in drop reports, for HTTP and WebSocket.
const outputName = "http-ts"

// frameBytes returns the shared MPEG-TS packets of f, building them if no
// reader has yet. Frames the muxer cannot carry give nil.
func (m *streamMux) frameBytes(f *media.Frame) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return f.Cached(media.EncodingTS, m.build)
}

// hasVideo reports whether the stream's MPEG-TS has video.
func (m *streamMux) hasVideo() bool { return m.w.Video() != nil }

// build packetises one frame; called with m.mu held.
func (m *streamMux) build(f *media.Frame) []byte {
	if f.Track == nil || !m.w.Carries(f.Track) {
		return nil
	}
	if !m.started {
		if m.hasVideo() && (f.Track.Kind() != media.KindVideo || !f.Key) {
			return nil // nothing decodes before the first keyframe
		}
		m.started = true
	}
	m.out.Reset()
	wrote, err := m.w.WriteFrame(f)
	if !wrote || err != nil || m.out.Len() == 0 {
		return nil
	}
	return bytes.Clone(m.out.Bytes())
}

// muxes holds the streamMux of each stream with HTTP-TS readers.
type muxes struct {
	shared livehttp.Shared[*streamMux]
}

// acquire returns the stream's muxer for a reader with tracks, creating
// it (or replacing it, when the stream's codecs changed) as needed.
func (ms *muxes) acquire(key engine.Key, tracks []*media.Track) (*streamMux, func(), error) {
	return ms.shared.Acquire(key, trackSig(tracks), func() (*streamMux, error) { return newStreamMux(tracks) })
}

// startsWithPAT reports whether b begins with a PAT packet.
func startsWithPAT(b []byte) bool {
	return len(b) >= tsPacketSize && b[0] == 0x47 && b[1]&0x1f == 0 && b[2] == 0
}
