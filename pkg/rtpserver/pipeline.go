package rtpserver

import (
	"log/slog"

	pionrtp "github.com/pion/rtp"

	"github.com/mediakit/mediakit/pkg/format/flv"
)

// Pipeline turns the packets of one RTP stream, in sequence order, into
// tracks and frames for a publisher.
type Pipeline interface {
	// Packet handles the next packet; lost counts packets missing just
	// before it (the pipeline resynchronises and waits for a keyframe).
	Packet(p *pionrtp.Packet, lost int)
	// Close flushes what is held; the publisher is closed by the caller.
	Close()
	// Describe names the payload kind and the codecs found so far.
	Describe() (payload string, codecs []string)
}

// PipelineOptions configure one stream's pipeline.
type PipelineOptions struct {
	Sink      flv.FrameSink
	OnlyTrack int
	Payload   string // forced kind; "" detects it
	Log       *slog.Logger
	// Batched, if set, is for a pipeline that writes every frame to Sink
	// inside Packet, on the caller's goroutine, to call (there, once it
	// knows): the stream may then wake its players once per read of its
	// socket rather than per frame. A pipeline that writes from a
	// goroutine of its own (MPEG-TS) must not.
	Batched func()
}

func (r *Registry) pipeline(o PipelineOptions) Pipeline {
	if r.NewPipeline != nil {
		return r.NewPipeline(o)
	}
	return newMediaPipeline(o)
}
