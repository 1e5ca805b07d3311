package source

import (
	"errors"
	"io"
)

// Read-ahead of MP4 samples. A sample read with a read of the file each
// costs a system call per frame (hundreds of thousands in a long file);
// samples mostly follow each other in the file, one run per track
// (interleaved chunks, or a fragment's track runs), so reads that carry
// on where a previous one ended are served from a window per run.
const (
	mp4Window  = 256 << 10
	mp4Windows = 2
)

// mp4Reads is an io.ReaderAt over an MP4 file with read-ahead windows. A
// read that continues the last one through a window refills it; others
// read the file directly. What the windows read beyond twice the file's
// size (samples of a hostile file that jump about) is not read ahead.
type mp4Reads struct {
	r      io.ReaderAt
	win    [mp4Windows]window
	lru    int   // the window to reuse next
	budget int64 // bytes the windows may still read
}

type window struct {
	buf []byte
	off int64 // file offset of buf
	end int64 // where the last read through this window ended
}

func newMP4Reads(r io.ReaderAt, size int64) *mp4Reads {
	return &mp4Reads{r: r, budget: 2*size + mp4Window}
}

func (m *mp4Reads) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	end := off + int64(len(p))
	for i := range m.win {
		w := &m.win[i]
		if off >= w.off && end <= w.off+int64(len(w.buf)) {
			copy(p, w.buf[off-w.off:])
			w.end = end
			m.lru = 1 - i
			return len(p), nil
		}
	}
	for i := range m.win {
		w := &m.win[i]
		if off != w.end || len(p) >= mp4Window || m.budget <= 0 {
			continue
		}
		if w.buf == nil {
			w.buf = make([]byte, mp4Window)
		}
		n, err := m.r.ReadAt(w.buf[:cap(w.buf)], off)
		m.budget -= int64(n)
		if n < len(p) { // the end of the file, or a failing read
			c := copy(p, w.buf[:n])
			w.buf, w.end = w.buf[:0], off+int64(c)
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return c, err
		}
		w.buf, w.off = w.buf[:n], off
		copy(p, w.buf)
		w.end = end
		m.lru = 1 - i
		return len(p), nil
	}
	// A jump: read directly, and let the least recently used window
	// follow on from here.
	n, err := m.r.ReadAt(p, off)
	w := &m.win[m.lru]
	w.end = off + int64(n)
	m.lru = 1 - m.lru
	return n, err
}

// filePart is bytes of a file from off, read with the file's offsets:
// a box read whole, for a parser that would read it a few bytes at a
// time.
type filePart struct {
	b   []byte
	off int64
	pos int64
}

func (f *filePart) Read(p []byte) (int, error) {
	if f.pos < f.off || f.pos >= f.off+int64(len(f.b)) {
		return 0, io.EOF
	}
	n := copy(p, f.b[f.pos-f.off:])
	f.pos += int64(n)
	return n, nil
}

func (f *filePart) ReadAt(p []byte, off int64) (int, error) {
	if off < f.off || off > f.off+int64(len(f.b)) {
		return 0, io.EOF
	}
	n := copy(p, f.b[off-f.off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *filePart) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += f.pos
	case io.SeekEnd:
		off += f.off + int64(len(f.b))
	}
	if off < 0 {
		return 0, errors.New("negative position")
	}
	f.pos = off
	return off, nil
}
