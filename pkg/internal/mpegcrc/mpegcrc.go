// Package mpegcrc computes the CRC_32 of ISO/IEC 13818-1 annex A, which
// protects MPEG-TS tables (PAT, PMT) and the MPEG-PS stream map. hash/crc32
// only computes reflected CRCs; this one is not reflected.
package mpegcrc

var table = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04C11DB7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// Checksum is CRC-32/MPEG-2: initial value all ones, no final XOR, so a
// section followed by its CRC sums to zero.
func Checksum(b []byte) uint32 {
	c := ^uint32(0)
	for _, v := range b {
		c = c<<8 ^ table[byte(c>>24)^v]
	}
	return c
}

// Append appends b's checksum to dst, most significant byte first.
func Append(dst, b []byte) []byte {
	c := Checksum(b)
	return append(dst, byte(c>>24), byte(c>>16), byte(c>>8), byte(c))
}
