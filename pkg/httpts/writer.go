package httpts

import (
	"net"

	"github.com/mediakit/mediakit/pkg/media"
)

// encoder produces one reader's stream as MPEG-TS. The packets of each
// frame are the shared, once-built bytes of the stream's streamMux; only
// PAT and PMT (when the first frame lacks them) are this session's own.
type encoder struct {
	mux   *streamMux
	begun bool // the first packets (PAT, PMT, keyframe) went out
}

// Append queues the packets of frames, from the first frame that may
// start the stream.
func (e *encoder) Append(bufs net.Buffers, frames []*media.Frame) net.Buffers {
	for _, f := range frames {
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

// startsStream reports whether f may be a session's first frame.
func (e *encoder) startsStream(f *media.Frame) bool {
	if !e.mux.hasVideo() {
		return true
	}
	return f.Key && f.Track.Kind() == media.KindVideo
}
