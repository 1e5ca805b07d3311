package mp4

import (
	"encoding/binary"
	"math"
)

// builder appends big-endian ISO BMFF boxes to a byte slice. A box is
// opened with start (or full), filled with the put methods and closed with
// end, which writes its size. Boxes nest; a builder is reused by resetting b.
type builder struct {
	b []byte
}

// start opens a box of type typ and returns its offset for end.
func (w *builder) start(typ string) int {
	off := len(w.b)
	w.b = append(w.b, 0, 0, 0, 0, typ[0], typ[1], typ[2], typ[3])
	return off
}

// full opens a full box (version and 24-bit flags).
func (w *builder) full(typ string, version byte, flags uint32) int {
	off := w.start(typ)
	w.b = append(w.b, version, byte(flags>>16), byte(flags>>8), byte(flags))
	return off
}

// end closes the box opened at off. Boxes built here stay far below 4 GiB
// (only mdat can be larger, and it gets its own header, see mdatHeader).
func (w *builder) end(off int) {
	binary.BigEndian.PutUint32(w.b[off:], uint32(len(w.b)-off))
}

func (w *builder) u8(v uint8)   { w.b = append(w.b, v) }
func (w *builder) u16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *builder) u24(v uint32) { w.b = append(w.b, byte(v>>16), byte(v>>8), byte(v)) }
func (w *builder) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *builder) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *builder) str(s string) { w.b = append(w.b, s...) }
func (w *builder) bytes(p []byte) {
	w.b = append(w.b, p...)
}
func (w *builder) zeros(n int) {
	for range n {
		w.b = append(w.b, 0)
	}
}

// u32or64 writes v in 32 bits for version 0 boxes or 64 bits for version 1.
func (w *builder) u32or64(version byte, v uint64) {
	if version == 1 {
		w.u64(v)
	} else {
		w.u32(uint32(v))
	}
}

// version returns 1 if any of vs needs 64 bits, else 0.
func version(vs ...uint64) byte {
	for _, v := range vs {
		if v > math.MaxUint32 {
			return 1
		}
	}
	return 0
}

// matrix writes the identity transformation matrix of mvhd and tkhd.
func (w *builder) matrix() {
	for _, v := range [9]uint32{0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000} {
		w.u32(v)
	}
}

// mdatHeader appends the header of an mdat box holding n payload bytes;
// a fragment is limited to 2 GiB, so 32 bits hold its size.
func mdatHeader(dst []byte, n uint64) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(n+8))
	return append(dst, "mdat"...)
}

const mdatHeaderLen = 8
