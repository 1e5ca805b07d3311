package rtmp

import (
	"encoding/binary"
	"time"
)

// OutChunkSize is the chunk size mediakit announces to every peer. Being
// the same for every connection is what lets media chunks be built once per
// frame and shared by all players.
const OutChunkSize = 65536

// AppendMessage appends msg's body split into chunks of chunkSize: a type 0
// chunk (absolute timestamp, so it depends on no earlier state of the chunk
// stream) followed by type 3 continuations.
func AppendMessage(dst []byte, csid uint32, typ MessageType, streamID uint32, ts time.Duration, body []byte, chunkSize int) []byte {
	ms := timestampMS(ts)
	extended := ms >= 0xffffff
	dst = appendBasicHeader(dst, 0, csid)
	field := ms
	if extended {
		field = 0xffffff
	}
	dst = append(dst, byte(field>>16), byte(field>>8), byte(field),
		byte(len(body)>>16), byte(len(body)>>8), byte(len(body)),
		byte(typ))
	dst = binary.LittleEndian.AppendUint32(dst, streamID)
	if extended {
		dst = binary.BigEndian.AppendUint32(dst, ms)
	}
	for first := true; first || len(body) > 0; first = false {
		if !first {
			dst = appendBasicHeader(dst, 3, csid)
			if extended {
				dst = binary.BigEndian.AppendUint32(dst, ms)
			}
		}
		n := min(len(body), chunkSize)
		dst = append(dst, body[:n]...)
		body = body[n:]
	}
	return dst
}

// MessageSize is the length AppendMessage produces.
func MessageSize(csid uint32, ts time.Duration, bodyLen, chunkSize int) int {
	basic := basicHeaderLen(csid)
	chunks := 1
	if bodyLen > chunkSize {
		chunks = (bodyLen + chunkSize - 1) / chunkSize
	}
	n := basic + 11 + bodyLen + (chunks-1)*basic
	if timestampMS(ts) >= 0xffffff {
		n += 4 * chunks
	}
	return n
}

// timestampMS is ts as an RTMP timestamp. RTMP timestamps are unsigned: a
// negative one (the engine may stamp audio that precedes the first video
// frame slightly below zero) is sent as 0 rather than as 49 days.
func timestampMS(ts time.Duration) uint32 {
	return uint32(max(ts, 0) / time.Millisecond)
}

func basicHeaderLen(csid uint32) int {
	switch {
	case csid < 64:
		return 1
	case csid < 320:
		return 2
	}
	return 3
}

func appendBasicHeader(dst []byte, format byte, csid uint32) []byte {
	switch {
	case csid < 64:
		return append(dst, format<<6|byte(csid))
	case csid < 320:
		return append(dst, format<<6, byte(csid-64))
	}
	v := csid - 64
	return append(dst, format<<6|1, byte(v), byte(v>>8))
}
