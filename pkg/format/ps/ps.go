// Package ps reads and writes MPEG program streams (ISO/IEC 13818-1 §2.5),
// the container GB28181 cameras send over RTP.
//
// The Demuxer takes the program stream in arbitrary pieces (RTP payloads in
// order) and returns one Frame per access unit. It is written for what
// cameras in the field send rather than for the letter of the standard:
// MPEG-1 and MPEG-2 pack headers, a program stream map on every keyframe,
// on the first one only or never, frames split over many PES packets, and
// every NAL unit of a keyframe in its own PES. Its memory is bounded
// whatever the input says, and it never panics.
//
// # Frame boundaries
//
// For H.264 and H.265 the access units are found in the elementary stream
// itself (H.264 §7.4.1.2.3, H.265 §7.4.2.4.4), because that is the only
// rule that holds both for cameras and for general muxers such as
// ffmpeg's, which cut 2 KiB PES packets without regard to frames. Once the
// current access unit holds a slice, a new one starts at:
//
//   - an access unit delimiter, a parameter set or another prefix unit, or
//     the first slice of a picture (first_mb_in_slice 0,
//     first_slice_segment_in_pic_flag 1);
//   - the start of a PES packet whose payload begins with a start code and
//     whose PTS, not yet given to an access unit, differs from the current
//     one's: cameras mark their frames that way even when the slice header
//     cannot (first slice lost, arbitrary slice order);
//   - a prefix SEI, but only when its PES packet has such a PTS: cameras
//     also send SEI after the slices, with the frame's own PTS or none.
//
// An access unit takes the PTS and DTS of the PES packet in which its
// first byte lies, if that packet's have not been given to an earlier one
// (ISO/IEC 13818-1 §2.4.3.7: a PTS belongs to the first access unit that
// commences in the packet); otherwise it has none (PTS -1), as when ffmpeg
// puts two small frames in one packet.
//
// So a keyframe sent as SPS, PPS, SEI and IDR in four PES packets with the
// same PTS is one Frame; a frame split into several PES packets of which
// only the first carries a PTS is one Frame; and ffmpeg's program streams
// give exactly ffprobe's frames.
//
// Every other stream (AAC, G.711, MPEG audio, video of other codecs) is
// framed by PES timestamps alone: a frame ends where a PES packet of the
// same stream carries a different PTS. PES packets without a PTS, or with
// the same one, continue the frame; so an AAC Frame holds all the ADTS
// frames of its PES packets, and audio frames that share a PTS are one.
//
// A frame is emitted once the first bytes of the next one have arrived,
// at Flush, or at a program end code: the demuxer holds back one frame
// per stream. Reset drops those, as nothing says they were complete.
package ps

import (
	"errors"
	"fmt"
)

// StreamType is a PSM stream_type (ISO/IEC 13818-1 table 2-34) with the
// values GB28181 uses.
type StreamType uint8

// Stream types. GB28181 (2016) names H.264, H.265, MPEG-4 video, SVAC,
// AAC, G.711, G.722.1, G.723.1 and G.729; the demuxer frames H.264 and
// H.265 by their NAL units and all others by PES timestamps.
const (
	StreamUnknown    StreamType = 0
	StreamMPEG1Video StreamType = 0x01
	StreamMPEG2Video StreamType = 0x02
	StreamMPEG1Audio StreamType = 0x03 // ISO/IEC 11172-3
	StreamMPEG2Audio StreamType = 0x04 // ISO/IEC 13818-3
	StreamAAC        StreamType = 0x0F // ADTS
	StreamMPEG4Video StreamType = 0x10
	StreamH264       StreamType = 0x1B
	StreamH265       StreamType = 0x24
	StreamSVACVideo  StreamType = 0x80
	StreamG711A      StreamType = 0x90
	StreamG711U      StreamType = 0x91
	StreamG7221      StreamType = 0x92
	StreamG7231      StreamType = 0x93
	StreamG729       StreamType = 0x99
	StreamSVACAudio  StreamType = 0x9B
	// StreamOpus is not in GB28181; ZLMediaKit (ireader's media-server,
	// STREAM_AUDIO_OPUS) writes it, one Opus packet per PES.
	StreamOpus StreamType = 0x9C
)

var streamTypeNames = map[StreamType]string{
	StreamMPEG1Video: "MPEG-1 video",
	StreamMPEG2Video: "MPEG-2 video",
	StreamMPEG1Audio: "MPEG-1 audio",
	StreamMPEG2Audio: "MPEG-2 audio",
	StreamAAC:        "AAC",
	StreamMPEG4Video: "MPEG-4 video",
	StreamH264:       "H.264",
	StreamH265:       "H.265",
	StreamSVACVideo:  "SVAC video",
	StreamG711A:      "G.711A",
	StreamG711U:      "G.711U",
	StreamG7221:      "G.722.1",
	StreamG7231:      "G.723.1",
	StreamG729:       "G.729",
	StreamSVACAudio:  "SVAC audio",
	StreamOpus:       "Opus",
}

// String returns the codec name, or the value in hex for other types.
func (t StreamType) String() string {
	if t == StreamUnknown {
		return "unknown"
	}
	if s, ok := streamTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("0x%02x", uint8(t))
}

// Supported reports whether the rest of mediakit can carry the codec:
// H.264, H.265, AAC, MPEG audio (MP3), G.711 and Opus. Other types are
// demuxed all the same.
func (t StreamType) Supported() bool {
	switch t {
	case StreamH264, StreamH265, StreamAAC, StreamMPEG1Audio, StreamMPEG2Audio, StreamG711A, StreamG711U, StreamOpus:
		return true
	}
	return false
}

// nalCodec reports whether frames of t are found by NAL unit syntax.
func (t StreamType) nalCodec() bool { return t == StreamH264 || t == StreamH265 }

// Stream is one elementary stream of a program stream: its PES stream_id
// (0xE0-0xEF video, 0xC0-0xDF audio) and its codec.
type Stream struct {
	ID   byte
	Type StreamType
}

// IsVideoID reports whether id is a video stream_id (0xE0-0xEF).
func IsVideoID(id byte) bool { return id >= 0xE0 && id <= 0xEF }

// IsAudioID reports whether id is an audio stream_id (0xC0-0xDF).
func IsAudioID(id byte) bool { return id >= 0xC0 && id <= 0xDF }

// Frame is one access unit of one elementary stream.
type Frame struct {
	StreamID byte // PES stream_id (0xE0-0xEF video, 0xC0-0xDF audio)
	// Type comes from the PSM; without one it is guessed from the payload:
	// H.264 or H.265 by the first NAL header, AAC by an ADTS header, MPEG
	// audio by two frame headers, and other audio is G.711A.
	Type StreamType
	// PTS and DTS are 90 kHz, the 33-bit values as carried. DTS == PTS
	// when the PES had no DTS; both are -1 if the frame had no PTS.
	PTS, DTS int64
	// Key is set by the Demuxer for H.264 IDR and H.265 IRAP pictures and
	// for every audio frame. The Muxer treats it like its key argument.
	Key bool
	// Data is the access unit: Annex-B for video (start codes kept), ADTS
	// frame(s) for AAC, raw samples for G.711. A Frame from the Demuxer
	// owns Data (the demuxer does not reuse it) unless the Demuxer
	// borrows (Demuxer.Borrow).
	Data []byte
}

// DefaultMaxFrameSize is the largest frame the Demuxer assembles unless
// told otherwise.
const DefaultMaxFrameSize = 8 << 20

// ErrFrameTooLarge is returned (wrapped) by Demuxer.Write when a frame
// grew over the demuxer's MaxFrameSize and was dropped.
var ErrFrameTooLarge = errors.New("frame too large")

// maxTS is the largest 33-bit timestamp.
const maxTS = 1<<33 - 1
