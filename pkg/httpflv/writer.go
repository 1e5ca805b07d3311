package httpflv

import (
	"net"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

// encoder produces one reader's stream as FLV. Frame tags are the shared,
// once-built bytes of each frame; only the initial tags and sequence
// headers are this session's own.
type encoder struct {
	reader       *engine.Reader
	started      bool
	video, audio *media.Track
	extra        []byte // session-only tags: header, metadata, sequence headers
	opening      flv.Opening
}

func newEncoder(r *engine.Reader) *encoder { return &encoder{reader: r} }

// Append queues the frames' tags, after the start of the stream in the
// first batch.
func (e *encoder) Append(bufs net.Buffers, frames []*media.Frame) net.Buffers {
	e.extra = e.extra[:0]
	if !e.started {
		e.started = true
		bufs = e.appendStart(bufs, frames)
	}
	return e.appendFrames(bufs, frames)
}

// appendStart queues the FLV header, the onMetaData tag and the sequence
// headers of the stream's tracks (flv.AppendStart), stamped with the
// opening's start (flv.Opening).
func (e *encoder) appendStart(bufs net.Buffers, frames []*media.Frame) net.Buffers {
	e.opening = flv.NewOpening(frames)
	e.extra, e.video, e.audio = flv.AppendStart(e.extra[:0], e.reader.Tracks(), e.reader.Metadata(), e.opening.Start)
	return append(bufs, e.extra)
}

// seqHeaderSize is the room sequence headers need in this batch.
func (e *encoder) seqHeaderSize(frames []*media.Frame) int {
	n := 0
	for _, f := range frames {
		if t := f.Track; t != e.video && t != e.audio {
			n += flv.TagHeaderLen + flv.PrevSizeLen + len(flv.SequenceHeaderBody(t))
		}
	}
	return n
}

// appendFrames queues the frames, each preceded by a sequence header when
// its track's configuration is new to this session.
func (e *encoder) appendFrames(bufs net.Buffers, frames []*media.Frame) net.Buffers {
	if need := len(e.extra) + e.seqHeaderSize(frames); cap(e.extra) < need {
		// Grow before slicing: slices of extra already queued must stay
		// valid, so extra never reallocates below.
		grown := make([]byte, len(e.extra), need)
		copy(grown, e.extra)
		if len(e.extra) > 0 {
			bufs[len(bufs)-1] = grown
		}
		e.extra = grown
	}
	for _, f := range frames {
		t := f.Track
		if !flv.SupportsCodec(t.Codec) {
			// Left out, reported once per stream; the other tracks play
			// on. WebSocket-FLV sessions report as http-flv too: the
			// encoder is not told which transport it serves.
			e.reader.DropTrack("http-flv", t, "FLV cannot carry "+t.Codec.String())
			continue
		}
		if !e.opening.Keep(f) {
			continue
		}
		cur := &e.audio
		if t.Kind() == media.KindVideo {
			cur = &e.video
		}
		if t != *cur {
			*cur = t
			start := len(e.extra)
			e.extra = flv.AppendSequenceHeaderTag(e.extra, t, f.DTS)
			if len(e.extra) > start {
				bufs = append(bufs, e.extra[start:])
			}
		}
		bufs = append(bufs, flv.FrameTag(f))
	}
	return bufs
}
