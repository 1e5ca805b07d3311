package rtpsend

import (
	"fmt"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// packer turns frames into RTP packets in one Format.
type packer interface {
	// pack appends the packets of f to dst in batch form (see
	// packetWriter). Frames the format leaves out append nothing.
	pack(dst []byte, f *media.Frame) ([]byte, error)
}

// newPacker returns the packer of o's format for a stream of tracks, and
// the tracks it leaves out. ErrNoTrack: it would send nothing.
func newPacker(o Options, ssrc uint32, tracks []*media.Track) (packer, []*media.Track, error) {
	var p packer
	var used []*media.Track
	var err error
	switch o.Format {
	case FormatES:
		p, used, err = newESPacker(o, ssrc, tracks)
	case FormatTS:
		p, used, err = newTSPacker(o, ssrc, tracks)
	default:
		p, used, err = newPSPacker(o, ssrc, tracks)
	}
	if err != nil {
		return nil, nil, err
	}
	var left []*media.Track
	for _, t := range tracks {
		if !containsTrack(used, t) {
			left = append(left, t)
		}
	}
	return p, left, nil
}

// dropReason says why o's format cannot carry t, "" when it can (a
// track it carries may still be left out: ES sends one track, OnlyAudio
// no video).
func dropReason(o Options, t *media.Track) string {
	switch o.Format {
	case FormatES:
		if !esCarries(t.Codec) {
			return "the RTP elementary-stream sender has no payload format for " + t.Codec.String()
		}
	case FormatTS:
		if !tsCarries(t, false) {
			return "MPEG-TS has no " + t.Codec.String() + " mapping that players read"
		}
	default:
		return psDropReason(t.Codec)
	}
	return ""
}

func containsTrack(ts []*media.Track, t *media.Track) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// noTrack is ErrNoTrack naming what the stream has.
func noTrack(f Format, onlyAudio bool, tracks []*media.Track) error {
	what := f.String()
	if onlyAudio {
		what += " audio"
	}
	return fmt.Errorf("%w as %s: the stream has %v", ErrNoTrack, what, tracks)
}

// clock90k is a stream time on the 90 kHz clock of MPEG and of RTP video,
// as a 33-bit MPEG timestamp.
func clock90k(d time.Duration) int64 {
	const maxTS = 1<<33 - 1
	return ticks(d, 90000) & maxTS
}
