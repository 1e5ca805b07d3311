package httpfmp4

import (
	"log/slog"
	"net"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// encoder produces one reader's stream as fMP4: the init segment of the
// stream's track set, then the shared, once-built fragment of each frame
// from the first keyframe on. Nothing is this session's own.
type encoder struct {
	mux    *streamMux
	reader *engine.Reader
	log    *slog.Logger
	begun  bool // the init segment went out
	ended  bool
	// reported are the tracks already handed to DropTrack.
	reported map[*media.Track]bool
}

func newEncoder(m *streamMux, r *engine.Reader, log *slog.Logger) *encoder {
	return &encoder{mux: m, reader: r, log: log}
}

// Append queues the fragments of frames, after the init segment.
func (e *encoder) Append(bufs net.Buffers, frames []*media.Frame) net.Buffers {
	for _, f := range frames {
		if e.ended {
			break
		}
		st, ok, known := e.mux.state(f.Track)
		if !ok {
			if !known {
				e.tracksChanged(f.Track)
			} else {
				e.dropped(f.Track)
			}
			continue
		}
		b := e.mux.fragment(f, st)
		if b == nil {
			continue
		}
		if !e.begun {
			if !e.mux.startsStream(f) {
				continue
			}
			e.begun = true
			bufs = append(bufs, e.mux.init)
		}
		bufs = append(bufs, b)
	}
	return bufs
}

// dropped reports a track fMP4 does not carry (once per track and
// session; the engine logs it once per stream).
func (e *encoder) dropped(t *media.Track) {
	if CanCarry(t.Codec) || e.reported[t] {
		return
	}
	if e.reported == nil {
		e.reported = map[*media.Track]bool{}
	}
	e.reported[t] = true
	e.reader.DropTrack(OutputName, t, DropReason(t.Codec))
}

// tracksChanged ends the session when the publisher changed its tracks:
// the init segment no longer describes the frames, and players (ffmpeg,
// a <video> element) do not take a second one in the middle of a
// stream. The player reconnects and gets the new track set's.
func (e *encoder) tracksChanged(t *media.Track) {
	e.ended = true
	e.log.Info("fmp4 tracks changed: ending the session for the player to reconnect", "track", t.String())
	e.reader.Close()
}
