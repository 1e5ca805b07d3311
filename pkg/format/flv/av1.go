package flv

import (
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
)

// AV1 OBU types mediakit looks at.
const (
	obuSequenceHeader    = 1
	obuTemporalDelimiter = 2
)

// eachOBU walks AV1 OBUs in the low-overhead format and calls fn with
// each whole OBU (header, size field, payload) and its type. An OBU
// without a size field runs to the end of b.
func eachOBU(b []byte, fn func(obu []byte, typ uint8) bool) error {
	for len(b) > 0 {
		h := b[0]
		if h&0x80 != 0 {
			return errors.New("av1: OBU forbidden bit set")
		}
		hdr := 1
		if h&0x04 != 0 { // extension header
			hdr = 2
		}
		if len(b) < hdr {
			return errors.New("av1: OBU header cut")
		}
		end := len(b)
		if h&0x02 != 0 {
			var size av1.LEB128
			n, err := size.Unmarshal(b[hdr:])
			if err != nil {
				return fmt.Errorf("av1: OBU size: %w", err)
			}
			if uint64(size) > uint64(len(b)-hdr-n) {
				return fmt.Errorf("av1: OBU of %d bytes is cut at %d", size, len(b)-hdr-n)
			}
			end = hdr + n + int(size)
		}
		if !fn(b[:end], (h>>3)&0x0f) {
			return nil
		}
		b = b[end:]
	}
	return nil
}

// withSizeField returns obu with its size field, as av1C's configOBUs and
// mediakit's AV1 tracks keep it.
func withSizeField(obu []byte) []byte {
	if len(obu) == 0 || obu[0]&0x02 != 0 {
		return obu
	}
	hdr := 1
	if obu[0]&0x04 != 0 {
		hdr = 2
	}
	if len(obu) < hdr {
		return obu
	}
	size := av1.LEB128(len(obu) - hdr)
	out := make([]byte, hdr+size.MarshalSize()+int(size))
	copy(out, obu[:hdr])
	out[0] |= 0x02
	n := size.MarshalTo(out[hdr:])
	copy(out[hdr+n:], obu[hdr:])
	return out
}

// av1SequenceHeader returns the first sequence header OBU of b (with its
// size field), or nil.
func av1SequenceHeader(b []byte) []byte {
	var seq []byte
	_ = eachOBU(b, func(obu []byte, typ uint8) bool {
		if typ == obuSequenceHeader {
			seq = withSizeField(obu)
			return false
		}
		return true
	})
	return seq
}

// parseAV1Config returns the sequence header OBU of an
// AV1CodecConfigurationRecord (av1C), or nil when its configOBUs hold
// none (the first keyframe then brings it).
func parseAV1Config(rec []byte) ([]byte, error) {
	if len(rec) < 4 {
		return nil, fmt.Errorf("flv: av1C of %d bytes is too short", len(rec))
	}
	if rec[0] != 0x81 {
		return nil, fmt.Errorf("flv: av1C marker/version %#x is not 0x81", rec[0])
	}
	return av1SequenceHeader(rec[4:]), nil
}

// appendAV1Config appends the av1C record built from a sequence header OBU.
func appendAV1Config(dst, seq []byte) []byte {
	var h av1.SequenceHeader
	_ = h.Unmarshal(seq) // the track was built from it, so it parses
	b1 := h.SeqProfile << 5
	var tier bool
	if len(h.SeqLevelIdx) > 0 {
		b1 |= h.SeqLevelIdx[0] & 0x1f
		tier = h.SeqTier[0]
	}
	c := h.ColorConfig
	var b2 byte
	for i, f := range []bool{tier, c.HighBitDepth, c.TwelveBit, c.MonoChrome, c.SubsamplingX, c.SubsamplingY} {
		if f {
			b2 |= 0x80 >> i
		}
	}
	b2 |= byte(c.ChromaSamplePosition) & 0x03
	dst = append(dst, 0x81, b1, b2, 0)
	return append(dst, withSizeField(seq)...)
}

// av1Frame returns a temporal unit in mediakit's payload form: temporal
// delimiters removed (Enhanced RTMP senders may keep them), every OBU with
// its size field. It allocates only when it has to change something.
func av1Frame(tu []byte) ([]byte, error) {
	change := false
	if err := eachOBU(tu, func(obu []byte, typ uint8) bool {
		change = typ == obuTemporalDelimiter || obu[0]&0x02 == 0
		return !change
	}); err != nil {
		return nil, err
	}
	if !change {
		return tu, nil
	}
	out := make([]byte, 0, len(tu))
	_ = eachOBU(tu, func(obu []byte, typ uint8) bool {
		if typ != obuTemporalDelimiter {
			out = append(out, withSizeField(obu)...)
		}
		return true
	})
	return out, nil
}
