package flv

import (
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// Opening keeps the timestamps of an FLV stream that joins a live stream
// from going back. Its Start stamps the sequence headers the stream opens
// with (AppendStart): the lowest DTS of the first batch of frames, as a
// reader joining at a keyframe may get audio stamped a little before it.
// Audio stamped before Start that comes later (a publisher whose audio
// lags its video, as ffmpeg's RTSP muxer sends AAC) is left out until the
// first audio frame is kept. Players (pkg/httpflv) and FLV files
// (pkg/sink) use it alike.
type Opening struct {
	Start     time.Duration
	audioKept bool
}

// NewOpening starts an Opening at the lowest DTS of the frames FLV
// carries among first (0 if none).
func NewOpening(first []*media.Frame) Opening {
	var o Opening
	found := false
	for _, f := range first {
		if SupportsCodec(f.Track.Codec) && (!found || f.DTS < o.Start) {
			o.Start, found = f.DTS, true
		}
	}
	return o
}

// Keep reports whether f goes into the stream: false for audio stamped
// before Start until a first audio frame was kept.
func (o *Opening) Keep(f *media.Frame) bool {
	if f.Track.Kind() == media.KindVideo || o.audioKept {
		return true
	}
	if f.DTS < o.Start {
		return false
	}
	o.audioKept = true
	return true
}
