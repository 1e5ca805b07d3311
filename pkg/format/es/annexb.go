package es

import "bytes"

var startCode = []byte{0, 0, 1}

// splitAnnexB calls fn for each NAL unit of an Annex-B buffer, without its
// start code and trailing zero bytes (the leading zero of a 4-byte start
// code, trailing_zero_8bits: a NAL unit never ends with a zero byte).
// It returns false if buf holds no start code, and how many non-zero
// bytes came before the first one (a unit cut at its start).
func splitAnnexB(buf []byte, fn func(nalu []byte)) (ok bool, leading int) {
	i := bytes.Index(buf, startCode)
	if i < 0 {
		return false, 0
	}
	leading = len(bytes.TrimRight(buf[:i], "\x00"))
	buf = buf[i+len(startCode):]
	for {
		end := bytes.Index(buf, startCode)
		n := buf
		if end >= 0 {
			n = buf[:end]
		}
		if n = bytes.TrimRight(n, "\x00"); len(n) > 0 {
			fn(n)
		}
		if end < 0 {
			return true, leading
		}
		buf = buf[end+len(startCode):]
	}
}
