package remux

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// maxMoov bounds the moov Faststart loads (its sample tables take about
// four bytes per sample: 256 MiB is days of video).
const maxMoov = 256 << 20

var errFaststart = errors.New("faststart: not a progressive MP4 with ftyp first and moov last")

// Faststart rewrites the progressive MP4 at path so that its moov comes
// right after ftyp (players start before the whole file is there). The
// media is copied, not loaded: memory is the moov plus a copy buffer.
// Chunk offsets are moved by the moov's size. It returns the new size.
func Faststart(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	type box struct {
		typ       string
		off, size int64
	}
	var boxes []box
	for off := int64(0); off < size; {
		var h [16]byte
		if _, err := f.ReadAt(h[:8], off); err != nil {
			return 0, fmt.Errorf("%w: %v", errFaststart, err)
		}
		n := int64(binary.BigEndian.Uint32(h[:4]))
		typ := string(h[4:8])
		switch n {
		case 1:
			if _, err := f.ReadAt(h[8:16], off+8); err != nil {
				return 0, fmt.Errorf("%w: %v", errFaststart, err)
			}
			u := binary.BigEndian.Uint64(h[8:16])
			if u > math.MaxInt64 {
				return 0, errFaststart
			}
			n = int64(u)
		case 0:
			n = size - off
		}
		if n < 8 || off+n > size {
			return 0, errFaststart
		}
		boxes = append(boxes, box{typ, off, n})
		off += n
	}
	if len(boxes) < 2 || boxes[0].typ != "ftyp" {
		return 0, errFaststart
	}
	moovAt := -1
	for i, b := range boxes {
		if b.typ == "moov" {
			moovAt = i
		}
	}
	if moovAt < 0 || boxes[moovAt].size > maxMoov {
		return 0, errFaststart
	}
	if moovAt == 1 {
		return size, nil // already first
	}
	mv := boxes[moovAt]
	moov := make([]byte, mv.size)
	if _, err := f.ReadAt(moov, mv.off); err != nil {
		return 0, err
	}
	if err := shiftChunkOffsets(moov, mv.size); err != nil {
		return 0, err
	}
	tmp := path + ".faststart.tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	ok := false
	defer func() {
		if !ok {
			out.Close()
			os.Remove(tmp)
		}
	}()
	ftyp := boxes[0]
	if _, err := io.Copy(out, io.NewSectionReader(f, 0, ftyp.size)); err != nil {
		return 0, err
	}
	if _, err := out.Write(moov); err != nil {
		return 0, err
	}
	// Everything between ftyp and moov (the mdats), then what followed moov.
	if _, err := io.Copy(out, io.NewSectionReader(f, ftyp.size, mv.off-ftyp.size)); err != nil {
		return 0, err
	}
	if end := mv.off + mv.size; end < size {
		if _, err := io.Copy(out, io.NewSectionReader(f, end, size-end)); err != nil {
			return 0, err
		}
	}
	if err := out.Close(); err != nil {
		return 0, err
	}
	ok = true
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return 0, err
	}
	return size, nil
}

// shiftChunkOffsets adds delta to every stco and co64 entry in moov.
func shiftChunkOffsets(moov []byte, delta int64) error {
	return walk(moov[8:], func(typ string, body []byte) error {
		switch typ {
		case "stco", "co64":
			if len(body) < 8 {
				return errFaststart
			}
			n := int(binary.BigEndian.Uint32(body[4:8]))
			w := 4
			if typ == "co64" {
				w = 8
			}
			if n < 0 || n > (len(body)-8)/w {
				return errFaststart
			}
			for i := range n {
				e := body[8+i*w:]
				if w == 4 {
					v := int64(binary.BigEndian.Uint32(e)) + delta
					if v > math.MaxUint32 {
						return errors.New("faststart: chunk offsets would pass 4 GiB in a 32-bit stco")
					}
					binary.BigEndian.PutUint32(e, uint32(v))
				} else {
					binary.BigEndian.PutUint64(e, binary.BigEndian.Uint64(e)+uint64(delta))
				}
			}
		}
		return nil
	})
}

// walk calls fn for each box in b, descending into the containers on
// the way to the chunk offset tables.
func walk(b []byte, fn func(typ string, body []byte) error) error {
	for len(b) >= 8 {
		n := uint64(binary.BigEndian.Uint32(b))
		typ := string(b[4:8])
		hdr := uint64(8)
		if n == 1 {
			if len(b) < 16 {
				return errFaststart
			}
			n, hdr = binary.BigEndian.Uint64(b[8:]), 16
		} else if n == 0 {
			n = uint64(len(b))
		}
		if n < hdr || n > uint64(len(b)) {
			return errFaststart
		}
		body := b[hdr:n]
		switch typ {
		case "trak", "mdia", "minf", "stbl":
			if err := walk(body, fn); err != nil {
				return err
			}
		default:
			if err := fn(typ, body); err != nil {
				return err
			}
		}
		b = b[n:]
	}
	return nil
}
