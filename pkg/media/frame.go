package media

import (
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"
)

// Encoding names a per-protocol byte form of a frame or track that is built
// once and shared by every reader of that protocol.
type Encoding uint8

// Encodings.
const (
	EncodingFLV  Encoding = iota // FLV tag: header, body, previous-tag-size
	EncodingRTMP                 // RTMP chunks of the FLV tag body
	EncodingTS                   // MPEG-TS packets
	EncodingRTP                  // RTP packets of RTSP (payloads and markers, no headers)
	EncodingFMP4                 // fMP4 fragment (moof+mdat) of HTTP-fMP4, with a muxer tag
	numEncodings
)

// Frame is one access unit. Once handed to the engine it is immutable and
// shared by every reader.
type Frame struct {
	Track *Track
	DTS   time.Duration
	PTS   time.Duration
	// Key marks a video random access point (IDR / IRAP). Audio frames are
	// always Key.
	Key bool
	// Discontinuity marks the first frame after a publisher came back.
	Discontinuity bool

	// Payload holds the access unit as MP4 samples store it:
	//   - H.264/H.265: the NAL units, each prefixed by its 4-byte
	//     big-endian length (AVCC form, as FLV and MP4 store them);
	//   - AV1: one temporal unit in the low-overhead bitstream format
	//     (every OBU with its size field, no temporal delimiter);
	//   - VP9: one frame (or superframe);
	//   - audio: one raw codec frame: AAC without ADTS, one MP3 frame
	//     with its header, one Opus packet, G.711 samples.
	Payload []byte

	// TagRoom, when an ingest sets it, is an allocation that holds the
	// frame's FLV tag body (Payload at its end) with free room for the
	// tag header before it and the tag size after it: what an RTMP
	// message was read into. The FLV encoder may fill the room once
	// (ClaimTagRoom) and use it as the frame's tag instead of a copy.
	TagRoom []byte

	roomClaimed atomic.Bool
	cache       encodedCache
}

// ClaimTagRoom returns TagRoom to the first caller and nil to every other,
// so that the room is written by one goroutine only.
func (f *Frame) ClaimTagRoom() []byte {
	if f.TagRoom == nil || !f.roomClaimed.CompareAndSwap(false, true) {
		return nil
	}
	return f.TagRoom
}

// Cached returns the bytes of this frame in encoding enc, building them with
// build on first use. Safe for concurrent use; build must be pure but for
// writing the frame's TagRoom after ClaimTagRoom. TagRoom is never
// reassigned once the frame is shared, so the cache may point at it.
func (f *Frame) Cached(enc Encoding, build func(*Frame) []byte) []byte {
	return f.cache.get(enc, func() []byte { return build(f) }, &f.TagRoom)
}

// CTS is the composition offset PTS-DTS.
func (f *Frame) CTS() time.Duration { return f.PTS - f.DTS }

// NALUs calls fn for each NAL unit of a video payload, stopping early when fn
// returns false. A truncated length prefix ends the iteration.
func (f *Frame) NALUs(fn func(nalu []byte) bool) {
	EachNALU(f.Payload, fn)
}

// EachNALU walks an AVCC buffer with 4-byte length prefixes.
func EachNALU(avcc []byte, fn func(nalu []byte) bool) {
	for len(avcc) >= 4 {
		n := binary.BigEndian.Uint32(avcc)
		avcc = avcc[4:]
		if uint64(n) > uint64(len(avcc)) {
			return
		}
		if !fn(avcc[:n]) {
			return
		}
		avcc = avcc[n:]
	}
}

// AppendAVCC appends nalus to dst in AVCC form (4-byte length prefixes).
func AppendAVCC(dst []byte, nalus ...[]byte) []byte {
	for _, n := range nalus {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(n)))
		dst = append(dst, n...)
	}
	return dst
}

// IsRandomAccess reports whether a video payload holds a random access
// point: an IDR slice (H.264) or an IRAP picture (H.265) in AVCC, a
// temporal unit that carries a sequence header (AV1, low-overhead
// bitstream format, as MP4 and FLV store it) or a VP9 keyframe. Some
// encoders do not set FLV's keyframe flag, so ingest checks the payload.
func IsRandomAccess(c Codec, avcc []byte) bool {
	switch c {
	case CodecAV1:
		return AV1SequenceHeaderOf(avcc) != nil
	case CodecVP9:
		return vp9.IsRandomAccess(avcc)
	}
	found := false
	EachNALU(avcc, func(nalu []byte) bool {
		if len(nalu) == 0 {
			return true
		}
		switch c {
		case CodecH264:
			found = nalu[0]&0x1f == 5
		case CodecH265:
			typ := (nalu[0] >> 1) & 0x3f
			found = typ >= 16 && typ <= 23
		}
		return !found
	})
	return found
}
