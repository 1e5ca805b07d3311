package httpts

import (
	"log/slog"
	"net"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/hls"
	"github.com/mediakit/mediakit/pkg/media"
)

// encoder produces one reader's stream as MPEG-TS. The packets of each
// frame are the shared, once-built bytes of the stream's streamMux; only
// PAT and PMT (when the first frame lacks them) are this session's own.
type encoder struct {
	mux    *streamMux
	reader *engine.Reader
	log    *slog.Logger
	// set are the tracks the session started with: a frame of one the
	// muxer leaves out (a second audio track) is skipped quietly.
	set   map[*media.Track]bool
	begun bool // the first packets (PAT, PMT, keyframe) went out
	ended bool
	// reported are the tracks already handed to DropTrack.
	reported map[*media.Track]bool
}

func newEncoder(m *streamMux, r *engine.Reader, log *slog.Logger) *encoder {
	e := &encoder{mux: m, reader: r, log: log, set: map[*media.Track]bool{}, reported: map[*media.Track]bool{}}
	for _, t := range r.Tracks() {
		if t != nil {
			e.set[t] = true
			e.reported[t] = !canCarry(t.Codec) // by reportDrops
		}
	}
	return e
}

// Append queues the packets of frames, from the first frame that may
// start the stream.
func (e *encoder) Append(bufs net.Buffers, frames []*media.Frame) net.Buffers {
	for _, f := range frames {
		if e.ended {
			break
		}
		if f.Track == nil {
			continue
		}
		if !canCarry(f.Track.Codec) {
			e.dropped(f.Track)
			continue
		}
		if !e.mux.w.Carries(f.Track) {
			if !e.set[f.Track] {
				e.tracksChanged(f.Track)
			}
			continue
		}
		b := e.mux.frameBytes(f)
		if len(b) == 0 {
			continue
		}
		if !e.begun {
			// The stream starts at a keyframe (or, without video,
			// an audio frame), after PAT and PMT.
			if !e.startsStream(f) {
				continue
			}
			e.begun = true
			if !startsWithPAT(b) {
				bufs = append(bufs, e.mux.tables)
			}
		}
		bufs = append(bufs, b)
	}
	return bufs
}

// dropped reports a track that appeared in the stream and that MPEG-TS
// does not carry (once per track and session; the engine logs it once
// per stream).
func (e *encoder) dropped(t *media.Track) {
	if e.reported[t] {
		return
	}
	e.reported[t] = true
	e.reader.DropTrack(outputName, t, hls.DropReason(t.Codec))
}

// tracksChanged ends the session when the publisher changed its tracks
// to ones the session's program tables do not describe (another codec,
// another AAC configuration, a track that appeared): players do not take
// new PAT/PMT for it in the middle of a stream. The player reconnects and
// gets the new track set's muxer.
func (e *encoder) tracksChanged(t *media.Track) {
	e.ended = true
	e.log.Info("ts tracks changed: ending the session for the player to reconnect", "track", t.String())
	e.reader.Close()
}

// startsStream reports whether f may be a session's first frame.
func (e *encoder) startsStream(f *media.Frame) bool {
	if !e.mux.hasVideo() {
		return true
	}
	return f.Key && f.Track.Kind() == media.KindVideo
}
