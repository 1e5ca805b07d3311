package rtpsend

import (
	"fmt"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// maxBatch is how many bytes of packets a sink gathers before a write:
// a GOP cache burst goes out in a few writes, a live frame in one.
const maxBatch = 256 << 10

// CountsAsViewer: a stream being cascaded is watched, as ZLMediaKit counts
// an RTP sender as a reader, so on_stream_none_reader does not end it.
func (s *sender) CountsAsViewer() bool { return true }

// Run is the sender as an engine sink: it packs every frame and writes
// the packets to the link until the stream ends, the link fails (a peer
// that accepts nothing within the write timeout included) or the sender
// is stopped, and stops the sender with that cause.
func (s *sender) Run(r *engine.Reader) {
	defer close(s.sinkDone)
	s.onStop(r.Close) // a stop unblocks Next at once
	p, left, err := newPacker(s.o, s.ssrc, r.Tracks())
	if err != nil {
		s.stop(cause{ErrCodeOther, err.Error()})
		return
	}
	var others []*media.Track
	for _, t := range left {
		if why := dropReason(s.o, t); why != "" {
			r.DropTrack("rtp", t, why)
		} else {
			others = append(others, t)
		}
	}
	if len(others) > 0 {
		s.log.Info("rtp sender leaves tracks out", "type", s.o.Format.String(), "tracks", fmt.Sprint(others))
	}
	frames := make([]*media.Frame, 0, 64)
	var batch []byte
	warned := false
	for {
		got, rerr := r.Next(frames[:0])
		for _, f := range got {
			var perr error
			if batch, perr = p.pack(batch, f); perr != nil && !warned {
				warned = true // once per sender: the next frames likely fail alike
				s.log.Warn("rtp sender drops frames it cannot pack", "track", f.Track.String(), "error", perr.Error())
			}
			if len(batch) >= maxBatch {
				if !s.send(r, batch) {
					return
				}
				batch = batch[:0]
			}
		}
		clear(got)
		if len(batch) > 0 {
			if !s.send(r, batch) {
				return
			}
			batch = batch[:0]
		}
		if rerr != nil {
			s.stop(readerCause(rerr))
			return
		}
	}
}

// send writes a batch; false when the link failed and the sender stopped.
func (s *sender) send(r *engine.Reader, batch []byte) bool {
	n, err := s.link.write(batch)
	s.meter.add(n)
	r.AddBytesOut(n)
	if err != nil {
		s.stop(netCause("rtpsend: send to "+s.link.peer(), err))
		return false
	}
	return true
}
