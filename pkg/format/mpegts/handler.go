package mpegts

import (
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// Handler gets what Demuxer.Run reads, on Run's goroutine, in the order
// of the input. Timestamps are on one timeline for every stream: the 33-bit
// clock unwrapped, the first timestamp read kept as it is. Buffers are
// only valid during the call. An error ends Run with that error.
type Handler interface {
	// Video gets an H.264 or H.265 (codec) access unit in Annex-B, with
	// 4-byte start codes and without its access unit delimiter.
	Video(codec media.Codec, pts, dts time.Duration, annexB []byte) error
	// AAC gets one raw AAC access unit and the AudioSpecificConfig of its
	// stream. The units of one PES packet are stamped 1024 samples apart.
	AAC(pts time.Duration, asc, au []byte) error
	// Opus gets one Opus packet. The packets of one PES packet are
	// stamped by the durations their TOC bytes give.
	Opus(pts time.Duration, packet []byte) error
}

// MP3Handler is a Handler that also takes MPEG-1/2 audio (MP3): Run hands
// it one whole frame (with its header) per call, the frames of one PES
// packet stamped media.MP3FrameDuration apart. A Handler without it gets
// no MP3: the stream is dropped.
type MP3Handler interface {
	Handler
	MP3(pts time.Duration, frame []byte) error
}
