package media

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
)

// AV1 payloads: media.Frame holds an AV1 temporal unit in the
// low-overhead bitstream format (every OBU with its size field), as MP4
// and FLV store it; RTP carries OBU elements, usually without size
// fields. These convert between the two and find the sequence header.

// AV1LowOverhead joins the OBUs of an RTP temporal unit (OBU elements,
// whose size fields RFC-style senders leave out) into the payload form
// of media.Frame: every OBU with its size field, without temporal
// delimiters (and without tile list OBUs, which RTP must not carry
// either).
func AV1LowOverhead(obus [][]byte) ([]byte, error) {
	size := 0
	for _, o := range obus {
		size += len(o) + 8
	}
	out := make([]byte, 0, size)
	for _, o := range obus {
		if len(o) == 0 {
			continue
		}
		if o[0]&0x80 != 0 {
			return nil, errors.New("av1: OBU with the forbidden bit set")
		}
		typ := av1.OBUType(o[0] >> 3 & 0x0f)
		if typ == av1.OBUTypeTemporalDelimiter || typ == 8 { // 8: tile list
			continue
		}
		hdr := 1
		if o[0]&0x04 != 0 {
			hdr = 2
		}
		if len(o) < hdr {
			return nil, errors.New("av1: OBU shorter than its header")
		}
		if o[0]&0x02 != 0 { // already has its size field: check it
			n, l := leb128(o[hdr:])
			if l == 0 || uint64(len(o)-hdr-l) != n {
				return nil, errors.New("av1: OBU size field does not match its element")
			}
			out = append(out, o...)
			continue
		}
		out = append(out, o[0]|0x02)
		out = append(out, o[1:hdr]...)
		out = appendLEB128(out, uint64(len(o)-hdr))
		out = append(out, o[hdr:]...)
	}
	if len(out) == 0 {
		return nil, errors.New("av1: empty temporal unit")
	}
	return out, nil
}

// AV1OBUs splits a payload of the low-overhead form into OBU elements
// for RTP, without their size fields (as the AV1 RTP payload format
// recommends), dropping temporal delimiters. The elements are new
// slices; tu is not modified.
func AV1OBUs(tu []byte) ([][]byte, error) {
	var out [][]byte
	for len(tu) > 0 {
		h := tu[0]
		if h&0x80 != 0 {
			return nil, errors.New("av1: OBU with the forbidden bit set")
		}
		hdr := 1
		if h&0x04 != 0 {
			hdr = 2
		}
		if len(tu) < hdr {
			return nil, errors.New("av1: truncated OBU header")
		}
		if h&0x02 == 0 {
			return nil, errors.New("av1: OBU without its size field")
		}
		n, l := leb128(tu[hdr:])
		if l == 0 || n > uint64(len(tu)-hdr-l) {
			return nil, fmt.Errorf("av1: OBU size %d beyond the %d bytes left", n, len(tu)-hdr-l)
		}
		body := tu[hdr+l : hdr+l+int(n)]
		if av1.OBUType(h>>3&0x0f) != av1.OBUTypeTemporalDelimiter {
			o := make([]byte, 0, hdr+len(body))
			o = append(o, h&^0x02)
			o = append(o, tu[1:hdr]...)
			out = append(out, append(o, body...))
		}
		tu = tu[hdr+l+int(n):]
	}
	return out, nil
}

// AV1SequenceHeaderOf returns the sequence header OBU (with its size
// field) of a low-overhead temporal unit, nil if it holds none.
func AV1SequenceHeaderOf(tu []byte) []byte {
	for len(tu) > 0 {
		h := tu[0]
		hdr := 1
		if h&0x04 != 0 {
			hdr = 2
		}
		if h&0x02 == 0 || len(tu) < hdr {
			return nil
		}
		n, l := leb128(tu[hdr:])
		if l == 0 || n > uint64(len(tu)-hdr-l) {
			return nil
		}
		end := hdr + l + int(n)
		if av1.OBUType(h>>3&0x0f) == av1.OBUTypeSequenceHeader {
			return bytes.Clone(tu[:end])
		}
		tu = tu[end:]
	}
	return nil
}

// leb128 decodes an AV1 leb128 value (at most 8 bytes), returning it and
// its length, or a length of 0 if b does not hold one.
func leb128(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < 8 && i < len(b); i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}

func appendLEB128(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}
