// Package flv reads and writes FLV: the file header, tags, and the audio and
// video tag bodies that RTMP carries as message payloads, including Enhanced
// RTMP/FLV (FourCC video and audio). It knows nothing of the network.
package flv

import (
	"encoding/binary"
	"time"
)

// TagType is the type of an FLV tag (and of the matching RTMP message).
type TagType uint8

// Tag types.
const (
	TagAudio  TagType = 8
	TagVideo  TagType = 9
	TagScript TagType = 18
)

// Sizes of the fixed parts of an FLV stream.
const (
	HeaderLen    = 9  // "FLV", version, flags, header length
	TagHeaderLen = 11 // type, data size, timestamp, stream id
	PrevSizeLen  = 4  // PreviousTagSize after every tag
)

// AppendHeader appends the FLV file header and PreviousTagSize0.
func AppendHeader(dst []byte, hasAudio, hasVideo bool) []byte {
	var flags byte
	if hasAudio {
		flags |= 0x04
	}
	if hasVideo {
		flags |= 0x01
	}
	return append(dst, 'F', 'L', 'V', 1, flags, 0, 0, 0, HeaderLen, 0, 0, 0, 0)
}

// AppendTagHeader appends the 11-byte tag header for a body of size bytes.
// The timestamp is in milliseconds and wraps at 2^32 like FLV's.
func AppendTagHeader(dst []byte, typ TagType, size int, ts time.Duration) []byte {
	ms := uint32(ts / time.Millisecond)
	return append(dst,
		byte(typ),
		byte(size>>16), byte(size>>8), byte(size),
		byte(ms>>16), byte(ms>>8), byte(ms), byte(ms>>24),
		0, 0, 0)
}

// AppendPrevSize appends the PreviousTagSize that follows a tag whose body
// is size bytes.
func AppendPrevSize(dst []byte, size int) []byte {
	return binary.BigEndian.AppendUint32(dst, uint32(TagHeaderLen+size))
}

// AppendTag appends a whole tag: header, body and PreviousTagSize.
func AppendTag(dst []byte, typ TagType, ts time.Duration, body []byte) []byte {
	dst = AppendTagHeader(dst, typ, len(body), ts)
	dst = append(dst, body...)
	return AppendPrevSize(dst, len(body))
}
