package probe

import (
	"errors"
	"io"
)

// bufReadSeeker is an io.ReadSeeker over an io.ReaderAt that reads through
// one buffer and keeps the position itself. An MP4 is read a box header
// (8 or 16 bytes) at a time with a seek before each box, which straight on
// an *os.File is a syscall each (a 60 MB fragmented MP4 took 100k reads
// and 80k lseeks); here a Seek costs nothing, and a read that falls in
// the buffer costs a copy. Hint bounds a refill to the bytes the reader
// will use: a moof, not the mdat after it.
type bufReadSeeker struct {
	r     io.ReaderAt
	size  int64
	pos   int64
	hint  int64 // end of the useful bytes; refills stop there
	buf   []byte
	start int64 // file offset of buf[0]
	n     int   // valid bytes in buf
}

// mp4BufSize is the most one refill reads: a moov's tables take a few
// refills, a moof (a one-second fragment's headers) one.
const mp4BufSize = 64 << 10

func newBufReadSeeker(r io.ReaderAt, size int64) *bufReadSeeker {
	return &bufReadSeeker{r: r, size: size, buf: make([]byte, mp4BufSize)}
}

var errNegativeSeek = errors.New("seek to a negative offset")

func (b *bufReadSeeker) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += b.pos
	case io.SeekEnd:
		off += b.size
	}
	if off < 0 {
		return b.pos, errNegativeSeek
	}
	b.pos = off
	return off, nil
}

func (b *bufReadSeeker) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.pos >= b.size {
		return 0, io.EOF
	}
	if b.pos < b.start || b.pos >= b.start+int64(b.n) {
		if len(p) >= len(b.buf) {
			// large reads skip the buffer
			n, err := b.r.ReadAt(p[:min(int64(len(p)), b.size-b.pos)], b.pos)
			b.pos += int64(n)
			if n > 0 {
				err = nil
			}
			return n, err
		}
		want := int64(len(b.buf))
		if b.hint > b.pos {
			want = max(min(want, b.hint-b.pos), int64(len(p)))
		}
		n, err := b.r.ReadAt(b.buf[:min(want, b.size-b.pos)], b.pos)
		b.start, b.n = b.pos, n
		if n == 0 {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
	}
	n := copy(p, b.buf[b.pos-b.start:b.n])
	b.pos += int64(n)
	return n, nil
}

// Hint tells that the reads until the next Hint stay before end.
func (b *bufReadSeeker) Hint(end int64) { b.hint = end }
