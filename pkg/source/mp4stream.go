package source

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// maxStreamMdat bounds an mdat box of a fragmented MP4 stream, which is
// held whole until its samples are out: a fragment, or an HLS segment.
const maxStreamMdat = maxSegmentSize

// errMP4Tables: a stream's moov has sample tables, whose samples may be
// anywhere in the file.
var errMP4Tables = errors.New("an MP4 with sample tables (not fragmented) needs seeking: give it as a file")

// readMP4Stream reads a fragmented MP4 stream from r: stdin, or the
// init and media segments of an HLS playlist one after the other. Boxes
// are read in order, each moof and the mdat after it held whole (at most
// maxMoofSize and maxStreamMdat bytes) until the moof's samples are out.
// A moov may come again (an HLS init segment after a discontinuity); its
// tracks replace the previous ones'. A progressive MP4 is refused.
func readMP4Stream(fd *feed, input string, r io.Reader) error {
	m := &mp4Reader{fd: fd, input: input}
	err := m.stream(r)
	switch {
	case err == nil:
		return nil
	case fd.ctx.Err() != nil:
		return fd.ctx.Err()
	case fd.out.failed() != nil:
		return err
	}
	return fmt.Errorf("source: read %s: %w", input, err)
}

func (m *mp4Reader) stream(r io.Reader) error {
	var (
		hdr     [16]byte
		off     int64 // of the next box in the stream
		moof    *filePart
		pending []mp4Sample // of moof, waiting for its mdat
	)
	for {
		if err := m.fd.ctx.Err(); err != nil {
			return err
		}
		n, err := io.ReadFull(r, hdr[:8])
		if errors.Is(err, io.EOF) || (errors.Is(err, io.ErrUnexpectedEOF) && n < 8 && m.moov != nil) {
			break // trailing bytes too short for a box are ignored, as players do
		}
		if err != nil {
			return fmt.Errorf("box header at byte %d: %w", off, err)
		}
		size := int64(binary.BigEndian.Uint32(hdr[:4]))
		typ := string(hdr[4:8])
		headerLen := int64(8)
		toEnd := size == 0
		switch size {
		case 0:
			if typ != "mdat" {
				return fmt.Errorf("box %q at byte %d: to the end of the stream: %w", typ, off, errMP4)
			}
			size = headerLen
		case 1:
			if _, err := io.ReadFull(r, hdr[8:16]); err != nil {
				return fmt.Errorf("box %q at byte %d: %w", typ, off, err)
			}
			headerLen = 16
			size = int64(min(binary.BigEndian.Uint64(hdr[8:16]), 1<<62))
		}
		if size < headerLen {
			return fmt.Errorf("box %q at byte %d: size %d smaller than its header: %w", typ, off, size, errMP4)
		}
		body := size - headerLen
		switch typ {
		case "ftyp", "moov", "moof":
			limit := int64(maxMoovSize)
			if typ == "moof" {
				limit = maxMoofSize
			}
			if typ == "ftyp" {
				limit = 4096
			}
			if size > limit {
				return fmt.Errorf("%s of %d bytes at byte %d, more than %d KiB: %w", typ, size, off, limit>>10, errMP4)
			}
			b, err := readBox(r, hdr[:headerLen], body)
			if err != nil {
				return fmt.Errorf("%s at byte %d: %w", typ, off, err)
			}
			part := &filePart{b: b, off: off, pos: off}
			switch typ {
			case "ftyp":
				m.qt = quickTimeBrand(b[headerLen:])
			case "moov":
				if err := m.streamMoov(part, off, size); err != nil {
					return err
				}
			case "moof":
				if m.moov == nil {
					return fmt.Errorf("moof at byte %d before the moov: %w", off, errMP4)
				}
				// samples lie in the mdat that follows: at most this far
				end := off + size + 16 + maxStreamMdat
				if pending, err = parseMoof(part, m.moov, off, end); err != nil {
					return fmt.Errorf("moof at byte %d: %w", off, err)
				}
				moof = part
			}
		case "mdat":
			if len(pending) == 0 {
				var err error
				if toEnd {
					_, err = io.Copy(io.Discard, r)
				} else {
					_, err = io.CopyN(io.Discard, r, body)
				}
				if err != nil {
					return fmt.Errorf("mdat at byte %d: %w", off, noEOF(err))
				}
				break
			}
			if !toEnd && body > maxStreamMdat {
				return fmt.Errorf("mdat of %d bytes at byte %d, more than %d MiB: %w", body, off, maxStreamMdat>>20, errMP4)
			}
			var b []byte
			var rerr error
			if toEnd { // the last box: up to the end of the stream
				b, rerr = io.ReadAll(io.LimitReader(r, maxStreamMdat+1))
				if len(b) > maxStreamMdat {
					return fmt.Errorf("mdat at byte %d: more than %d MiB: %w", off, maxStreamMdat>>20, errMP4)
				}
				size += int64(len(b))
			} else {
				b, rerr = readBox(r, nil, body)
			}
			m.at = parts{moof, &filePart{b: b, off: off + headerLen}}
			m.size = off + headerLen + int64(len(b))
			for _, s := range pending {
				if rerr != nil && s.off+int64(s.size) > m.size {
					return fmt.Errorf("mdat at byte %d: %w", off, noEOF(rerr))
				}
				if err := m.emit(s); err != nil {
					return err
				}
			}
			if rerr != nil {
				return fmt.Errorf("mdat at byte %d: %w", off, noEOF(rerr))
			}
			pending, moof = nil, nil
		default: // styp, sidx, free, emsg, prft, mfra...
			if _, err := io.CopyN(io.Discard, r, body); err != nil {
				return fmt.Errorf("box %q at byte %d: %w", typ, off, noEOF(err))
			}
		}
		off += size
	}
	if m.moov == nil {
		return fmt.Errorf("no moov box: %w", errMP4)
	}
	if len(pending) > 0 {
		return fmt.Errorf("moof without its mdat: %w", io.ErrUnexpectedEOF)
	}
	return nil
}

// streamMoov parses a moov of a stream and declares its tracks.
func (m *mp4Reader) streamMoov(part *filePart, off, size int64) error {
	mv, err := parseMoov(m.fd, part, off, off+size, m.qt)
	if err != nil {
		return fmt.Errorf("moov: %w", err)
	}
	for _, t := range mv.tracks {
		if t.tables.count > 0 {
			return errMP4Tables
		}
	}
	m.moov = mv
	return m.declare()
}

// readBox reads the n bytes of a box's body after head, growing its
// buffer as they come rather than trusting n: a stream that claims a
// large box and ends costs what it sent. It returns what came, and
// io.ErrUnexpectedEOF when that is less.
func readBox(r io.Reader, head []byte, n int64) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(head) + int(min(n, 1<<20)))
	buf.Write(head)
	got, err := buf.ReadFrom(io.LimitReader(r, n))
	if err == nil && got < n {
		err = io.ErrUnexpectedEOF
	}
	return buf.Bytes(), err
}

// noEOF is err, a stream that ended inside a box saying so.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parts reads from whichever of its parts holds the bytes asked for.
type parts []*filePart

func (ps parts) ReadAt(p []byte, off int64) (int, error) {
	for _, f := range ps {
		if f != nil && off >= f.off && off+int64(len(p)) <= f.off+int64(len(f.b)) {
			return f.ReadAt(p, off)
		}
	}
	return 0, fmt.Errorf("%d bytes at byte %d, outside the fragment read: %w", len(p), off, errMP4)
}
