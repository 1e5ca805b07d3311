package flv

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrNotFLV is returned when a stream does not start with an FLV header.
var ErrNotFLV = errors.New("flv: not an FLV stream")

// DefaultMaxTagSize caps a tag body: far above any real frame, far below
// what would let a bad file exhaust memory.
const DefaultMaxTagSize = 16 << 20

// Tag is one FLV tag as read from a stream. Body is valid until the next
// call to Reader.Next.
type Tag struct {
	Type      TagType
	Timestamp time.Duration
	Body      []byte
}

// Reader reads an FLV stream tag by tag.
type Reader struct {
	r          *bufio.Reader
	maxTagSize int
	buf        []byte
	HasAudio   bool
	HasVideo   bool
	header     bool
}

// NewReader returns a reader of the FLV stream r. maxTagSize <= 0 selects
// DefaultMaxTagSize.
func NewReader(r io.Reader, maxTagSize int) *Reader {
	if maxTagSize <= 0 {
		maxTagSize = DefaultMaxTagSize
	}
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &Reader{r: br, maxTagSize: maxTagSize}
}

// ReadHeader reads and checks the file header. Next calls it if needed.
func (r *Reader) ReadHeader() error {
	if r.header {
		return nil
	}
	var h [HeaderLen]byte
	if _, err := io.ReadFull(r.r, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return ErrNotFLV
		}
		return fmt.Errorf("flv: read header: %w", err)
	}
	if !bytes.Equal(h[:3], []byte("FLV")) {
		return ErrNotFLV
	}
	if h[3] != 1 {
		return fmt.Errorf("flv: unsupported version %d", h[3])
	}
	r.HasAudio = h[4]&0x04 != 0
	r.HasVideo = h[4]&0x01 != 0
	skip := int(binary.BigEndian.Uint32(h[5:9])) - HeaderLen
	if skip < 0 || skip > 1<<10 {
		return fmt.Errorf("flv: invalid header length %d", skip+HeaderLen)
	}
	// the extra header bytes, then PreviousTagSize0
	if _, err := r.r.Discard(skip + PrevSizeLen); err != nil {
		return fmt.Errorf("flv: read header: %w", io.ErrUnexpectedEOF)
	}
	r.header = true
	return nil
}

// Next reads the next tag. It returns io.EOF at a clean end of stream and
// io.ErrUnexpectedEOF when the stream ends inside a tag.
func (r *Reader) Next() (Tag, error) {
	if err := r.ReadHeader(); err != nil {
		return Tag{}, err
	}
	var h [TagHeaderLen]byte
	if _, err := io.ReadFull(r.r, h[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return Tag{}, io.EOF
		}
		return Tag{}, fmt.Errorf("flv: read tag header: %w", err)
	}
	if h[0]&0x20 != 0 {
		return Tag{}, fmt.Errorf("flv: encrypted tags are not supported")
	}
	typ := TagType(h[0] & 0x1f)
	size := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
	ms := uint32(h[7])<<24 | uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6])
	if size > r.maxTagSize {
		return Tag{}, fmt.Errorf("flv: tag of %d bytes exceeds the %d byte limit", size, r.maxTagSize)
	}
	if cap(r.buf) < size {
		r.buf = make([]byte, size)
	}
	body := r.buf[:size]
	if _, err := io.ReadFull(r.r, body); err != nil {
		return Tag{}, fmt.Errorf("flv: read tag body: %w", unexpected(err))
	}
	// PreviousTagSize is redundant; a missing one at the very end is fine.
	if _, err := r.r.Discard(PrevSizeLen); err != nil && !errors.Is(err, io.EOF) {
		return Tag{}, fmt.Errorf("flv: read previous tag size: %w", err)
	}
	return Tag{Type: typ, Timestamp: time.Duration(ms) * time.Millisecond, Body: body}, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
