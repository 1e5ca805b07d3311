package source

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/format/es"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

// Bounds of what an MP4 file can make the reader hold. Sample tables are
// kept as the file stores them (a few bytes per sample), never as a list
// of samples, so memory follows the moov box, not the media.
const (
	maxMoovSize     = 256 << 20
	maxMoofSize     = 64 << 20
	maxFragSamples  = 1 << 20 // samples of one movie fragment
	maxMP4Sample    = es.MaxAccessUnitSize
	mp4HeaderLength = 8
)

// errMP4 marks a file that is not a usable MP4.
var errMP4 = errors.New("malformed MP4")

// mp4Input is an MP4 file: go-mp4 seeks and reads boxes, samples are read
// at their offsets.
type mp4Input interface {
	io.ReadSeeker
	io.ReaderAt
}

// countingReaderAt counts the bytes read from an MP4 file.
type countingReaderAt struct {
	f interface {
		io.ReadSeeker
		io.ReaderAt
	}
	n *atomic.Int64
}

func (c *countingReaderAt) Read(p []byte) (int, error) {
	n, err := c.f.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingReaderAt) Seek(off int64, whence int) (int64, error) {
	return c.f.Seek(off, whence)
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.f.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// readMP4 reads a progressive (moov with sample tables) or fragmented
// (moov with mvex, then moof and mdat) MP4 file of size bytes into fd, in
// decode order across tracks. Top-level boxes are walked in file order:
// samples of the moov's tables go out when the moov is read (wherever
// their mdat is), those of each moof when it is read, so a fragmented
// file streams with memory bounded by one fragment.
func readMP4(fd *feed, input string, r mp4Input, size int64) error {
	m := &mp4Reader{fd: fd, input: input, r: r, at: newMP4Reads(r, size), size: size}
	err := m.run()
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

type mp4Reader struct {
	fd    *feed
	input string
	r     mp4Input
	at    io.ReaderAt // for samples
	size  int64
	moov  *mp4Movie
	qt    bool // ftyp says QuickTime: sound sample entries have its layout
	// sent counts the sample bytes emitted: samples of a valid file do
	// not overlap, so more than the file's size means tables that point
	// at the same bytes again and again, which would cost time without
	// bound.
	sent int64
}

func (m *mp4Reader) run() error {
	var hdr [16]byte
	for off := int64(0); off < m.size; {
		if err := m.fd.ctx.Err(); err != nil {
			return err
		}
		if m.size-off < mp4HeaderLength {
			return nil // trailing bytes too short for a box: ignored, as players do
		}
		if _, err := m.r.ReadAt(hdr[:8], off); err != nil {
			return fmt.Errorf("box header at byte %d: %w", off, err)
		}
		boxSize := int64(binary.BigEndian.Uint32(hdr[:4]))
		typ := string(hdr[4:8])
		headerLen := int64(8)
		switch boxSize {
		case 0:
			boxSize = m.size - off
		case 1:
			if _, err := m.r.ReadAt(hdr[8:16], off+8); err != nil {
				return fmt.Errorf("box %q at byte %d: %w", typ, off, err)
			}
			headerLen = 16
			if v := binary.BigEndian.Uint64(hdr[8:16]); v > uint64(m.size) {
				boxSize = m.size + 1 // beyond the file: handled below
			} else {
				boxSize = int64(v)
			}
		}
		if boxSize < headerLen {
			return fmt.Errorf("box %q at byte %d: size %d smaller than its header: %w", typ, off, boxSize, errMP4)
		}
		if boxSize > m.size-off {
			if typ != "mdat" {
				return fmt.Errorf("box %q at byte %d: %d bytes, beyond the end of the file: %w", typ, off, boxSize, io.ErrUnexpectedEOF)
			}
			// A cut recording: its samples past the end fail when read.
			boxSize = m.size - off
		}
		switch typ {
		case "ftyp":
			b := make([]byte, min(boxSize-headerLen, 1024))
			if _, err := m.r.ReadAt(b, off+headerLen); err != nil {
				return fmt.Errorf("ftyp: %w", err)
			}
			m.qt = quickTimeBrand(b)
		case "moov":
			if m.moov != nil {
				return fmt.Errorf("second moov at byte %d: %w", off, errMP4)
			}
			if boxSize > maxMoovSize {
				return fmt.Errorf("moov of %d bytes, more than %d MiB", boxSize, maxMoovSize>>20)
			}
			mv, err := parseMoov(m.fd, m.r, off, m.size, m.qt)
			if err != nil {
				return fmt.Errorf("moov: %w", err)
			}
			m.moov = mv
			if err := m.declare(); err != nil {
				return err
			}
			if err := m.emitTables(); err != nil {
				return err
			}
		case "moof":
			if m.moov == nil {
				return fmt.Errorf("moof at byte %d before the moov: %w", off, errMP4)
			}
			if boxSize > maxMoofSize {
				return fmt.Errorf("moof of %d bytes at byte %d, more than %d MiB", boxSize, off, maxMoofSize>>20)
			}
			// read whole: its parser reads a few bytes at a time
			b := make([]byte, boxSize)
			if _, err := m.r.ReadAt(b, off); err != nil {
				return fmt.Errorf("moof at byte %d: %w", off, err)
			}
			samples, err := parseMoof(&filePart{b: b, off: off, pos: off}, m.moov, off, m.size)
			if err != nil {
				return fmt.Errorf("moof at byte %d: %w", off, err)
			}
			for _, s := range samples {
				if err := m.emit(s); err != nil {
					return err
				}
			}
		}
		off += boxSize
	}
	if m.moov == nil {
		return fmt.Errorf("no moov box: %w", errMP4)
	}
	return nil
}

// quickTimeBrand reports whether the payload of an ftyp box names the
// QuickTime brand, whose sound sample entries have their own layout.
func quickTimeBrand(ftyp []byte) bool {
	for i := 0; i+4 <= len(ftyp); i += 4 {
		if i != 4 && string(ftyp[i:i+4]) == "qt  " { // bytes 4-8 are the minor version
			return true
		}
	}
	return false
}

// declare hands the movie's tracks to the sink, unless they are those of
// the previous pass of a loop.
func (m *mp4Reader) declare() error {
	tracks := make([]*media.Track, len(m.moov.tracks))
	for i, t := range m.moov.tracks {
		tracks[i] = t.track
	}
	prev := m.fd.mp4Out
	same := len(prev) == len(tracks)
	for i := 0; same && i < len(tracks); i++ {
		same = prev[i].SameConfig(tracks[i])
	}
	if same {
		for i, t := range m.moov.tracks {
			t.track = prev[i]
		}
		return nil
	}
	m.fd.mp4Out = tracks
	return m.fd.out.SetTracks(tracks)
}

// emitTables sends the samples of the moov's sample tables, merging the
// tracks by decode time, from the video keyframe at or before the feed's
// start (then cleared: a loop's next pass starts at the beginning).
func (m *mp4Reader) emitTables() error {
	from, err := m.keyframeBefore(m.fd.start)
	if err != nil {
		return err
	}
	m.fd.start = 0
	cursors := make([]*tableCursor, 0, len(m.moov.tracks))
	for _, t := range m.moov.tracks {
		c, err := newTableCursor(t, m.size)
		if err != nil {
			return fmt.Errorf("track %d: %w", t.id, err)
		}
		cursors = append(cursors, c)
	}
	for {
		var next *tableCursor
		for _, c := range cursors {
			if err := c.peek(); err != nil {
				return fmt.Errorf("track %d: %w", c.t.id, err)
			}
			if c.has && (next == nil || c.cur.dts < next.cur.dts) {
				next = c
			}
		}
		if next == nil {
			return nil
		}
		next.has = false
		if next.cur.dts < from {
			continue // before the start: not read
		}
		if err := m.emit(next.cur); err != nil {
			return err
		}
	}
}

// keyframeBefore is the decode time of the first video track's last
// keyframe at or before start, found by walking its sample table only;
// the lowest time there is when start is 0 or the movie has no video
// table.
func (m *mp4Reader) keyframeBefore(start time.Duration) (time.Duration, error) {
	const none = time.Duration(math.MinInt64)
	if start <= 0 {
		return none, nil
	}
	for _, t := range m.moov.tracks {
		if t.track.Kind() != media.KindVideo {
			continue
		}
		c, err := newTableCursor(t, m.size)
		if err != nil {
			return none, fmt.Errorf("track %d: %w", t.id, err)
		}
		from := none
		for {
			if err := c.peek(); err != nil {
				return none, fmt.Errorf("track %d: %w", t.id, err)
			}
			if !c.has || c.cur.dts > start {
				return from, nil
			}
			c.has = false
			if c.cur.key {
				from = c.cur.dts
			}
		}
	}
	return none, nil
}

// mp4Sample is one sample located in the file, its times already on the
// output's time base (edit lists applied).
type mp4Sample struct {
	t    *mp4Track
	off  int64
	size uint32
	dts  time.Duration
	cts  time.Duration
	key  bool
}

func (m *mp4Reader) emit(s mp4Sample) error {
	if err := m.fd.ctx.Err(); err != nil {
		return err
	}
	if s.size == 0 {
		return nil
	}
	if s.size > maxMP4Sample {
		return fmt.Errorf("track %d: sample of %d bytes at byte %d, more than %d MiB", s.t.id, s.size, s.off, maxMP4Sample>>20)
	}
	if s.off < 0 || s.off > m.size || int64(s.size) > m.size-s.off {
		return fmt.Errorf("track %d: sample of %d bytes at byte %d, past the end of the file (%d bytes): %w",
			s.t.id, s.size, s.off, m.size, io.ErrUnexpectedEOF)
	}
	if m.sent += int64(s.size); m.sent > m.size {
		return fmt.Errorf("track %d: sample at byte %d: the samples hold more bytes than the file: %w", s.t.id, s.off, errMP4)
	}
	// Frames are kept by the sink: each payload is a buffer of its own.
	payload := make([]byte, s.size)
	if _, err := m.at.ReadAt(payload, s.off); err != nil {
		return fmt.Errorf("track %d: sample at byte %d: %w", s.t.id, s.off, err)
	}
	kind := s.t.track.Kind()
	if kind == media.KindVideo && s.t.lengthSize != 4 {
		p, err := flv.ConvertLengthSize(payload, s.t.lengthSize)
		if err != nil {
			return fmt.Errorf("track %d: sample at byte %d: %w", s.t.id, s.off, err)
		}
		payload = p
	}
	dts, err := m.fd.stamp(kind, s.dts)
	if err != nil {
		return err
	}
	f := &media.Frame{
		Track:   s.t.track,
		DTS:     dts,
		PTS:     dts + s.cts,
		Key:     s.key || kind == media.KindAudio,
		Payload: payload,
	}
	return m.fd.out.WriteFrame(f)
}

// ticks converts a count of 1/scale seconds to a duration, saturating
// far beyond any real file's length instead of overflowing.
func ticks(v int64, scale uint32) time.Duration {
	const limit = int64(1) << 32 // seconds: 136 years, well within a Duration
	s := int64(scale)
	if s == 0 {
		return 0
	}
	sec := v / s
	if sec > limit {
		sec = limit
	} else if sec < -limit {
		sec = -limit
	}
	return time.Duration(sec)*time.Second + time.Duration(v%s)*time.Second/time.Duration(s)
}
