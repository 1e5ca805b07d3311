package ps

import (
	"errors"
	"fmt"

	"github.com/mediakit/mediakit/pkg/internal/mpegcrc"
)

// Program stream map (ISO/IEC 13818-1 §2.5.4).

const (
	psmFixedLen = 6 // start code and program_stream_map_length
	// psmMinLength is the smallest program_stream_map_length: the flag
	// bytes, both loop lengths and the CRC.
	psmMinLength = 10
	// psmMaxLength is the largest program_stream_map_length the standard
	// allows (§2.5.4.2). A larger value is a false start code or garbage,
	// and believing it would swallow the frames that follow.
	psmMaxLength = 0x3FA
)

var errPSMShort = errors.New("loop overruns the map")

// parsePSM reads the streams of a complete PSM (start code included). The
// CRC is not checked: cameras in the field get it wrong, and the map is
// read only as far as its own lengths are consistent.
func parsePSM(b []byte) ([]Stream, error) {
	if len(b) < psmFixedLen+psmMinLength {
		return nil, fmt.Errorf("ps: PSM: %d bytes: %w", len(b), errPSMShort)
	}
	end := min(psmFixedLen+(int(b[4])<<8|int(b[5])), len(b))
	i := psmFixedLen + 2
	infoLen := int(b[i])<<8 | int(b[i+1])
	i += 2 + infoLen
	if i+2 > end {
		return nil, fmt.Errorf("ps: PSM: program_stream_info_length %d: %w", infoLen, errPSMShort)
	}
	mapLen := int(b[i])<<8 | int(b[i+1])
	i += 2
	// The CRC follows the loop; cameras that omit it or miscount the loop
	// still get their entries read up to the end of the map.
	loopEnd := min(i+mapLen, end)
	var streams []Stream
	for i+4 <= loopEnd {
		typ, id := StreamType(b[i]), b[i+1]
		infoLen := int(b[i+2])<<8 | int(b[i+3])
		i += 4 + infoLen
		if i > loopEnd {
			return streams, fmt.Errorf("ps: PSM: stream 0x%02x: elementary_stream_info_length %d: %w", id, infoLen, errPSMShort)
		}
		streams = append(streams, Stream{ID: id, Type: typ})
	}
	return streams, nil
}

// appendPSM appends a PSM declaring streams, with no descriptors.
func appendPSM(dst []byte, streams []Stream, version byte) []byte {
	start := len(dst)
	n := psmMinLength + 4*len(streams)
	dst = append(dst, 0, 0, 1, codePSM, byte(n>>8), byte(n),
		0x80|0x60|version&0x1F, // current_next_indicator, reserved, version
		0xFF,                   // reserved, marker
		0, 0,                   // program_stream_info_length
		byte(4*len(streams)>>8), byte(4*len(streams)),
	)
	for _, s := range streams {
		dst = append(dst, byte(s.Type), s.ID, 0, 0)
	}
	return mpegcrc.Append(dst, dst[start:])
}
