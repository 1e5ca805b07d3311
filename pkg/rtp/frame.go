package rtp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxFrameSize is the largest packet RFC 4571 framing can carry: the length
// field has 16 bits.
const MaxFrameSize = 0xffff

// interleavedMagic starts an RTSP-interleaved frame (RFC 2326 section 10.12):
// '$', a channel byte, then a 2-byte length.
const interleavedMagic = '$'

// frameBufSize holds the largest frame with the longest header, so a frame
// never has to be assembled outside the buffer.
const frameBufSize = 4 + MaxFrameSize

// maxEmptyReads is how many (0, nil) reads in a row are taken as a broken
// reader rather than a slow one, as bufio does.
const maxEmptyReads = 100

// FrameReader reads RTP (or RTCP) packets framed as in RFC 4571: a 2-byte
// big-endian length, then the packet. A frame that starts with '$' followed
// by what looks like a 2-byte length and an RTP version-2 header is read as
// an RTSP-interleaved frame ('$', channel, 2-byte length) instead, because
// some GB28181 devices send that over their TCP connection.
//
// The reader keeps one buffer of about 64 KiB and allocates nothing per
// packet.
type FrameReader struct {
	r        io.Reader
	buf      []byte
	off, end int   // unread bytes are buf[off:end]
	err      error // sticky error from r
	channel  int
}

// NewFrameReader returns a FrameReader reading from r. It does its own
// buffering, so r need not be buffered.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: r, buf: make([]byte, frameBufSize), channel: -1}
}

// ReadPacket returns the next non-empty packet. The slice points into the
// reader's buffer and is valid until the next call; copy it (or unmarshal it
// into a packet with its own buffer) to keep it. Zero-length frames are
// skipped.
//
// At a clean frame boundary at the end of the stream it returns io.EOF
// itself; a stream that ends inside a frame gives an error wrapping
// io.ErrUnexpectedEOF; other read errors are wrapped as well.
func (fr *FrameReader) ReadPacket() ([]byte, error) {
	for {
		if err := fr.fill(2); err != nil {
			return nil, fr.fail(err)
		}
		hdr, ch := 2, -1
		n := int(binary.BigEndian.Uint16(fr.buf[fr.off:]))
		if fr.buf[fr.off] == interleavedMagic {
			// A failed peek leaves the frame to be read as RFC 4571; the
			// sticky error then surfaces while reading its body.
			if fr.fill(5) == nil && looksInterleaved(fr.buf[fr.off:fr.off+5]) {
				hdr, ch = 4, int(fr.buf[fr.off+1])
				n = int(binary.BigEndian.Uint16(fr.buf[fr.off+2:]))
			}
		}
		if err := fr.fill(hdr + n); err != nil {
			return nil, fr.fail(err)
		}
		start := fr.off + hdr
		fr.off = start + n
		if n == 0 {
			continue
		}
		fr.channel = ch
		return fr.buf[start:fr.off:fr.off], nil
	}
}

// Channel is the interleaved channel of the packet ReadPacket returned last,
// or -1 when that packet came in RFC 4571 framing. By RTSP convention an odd
// channel carries RTCP.
func (fr *FrameReader) Channel() int { return fr.channel }

// looksInterleaved tells an interleaved header h ('$', channel, length, then
// the first packet byte) from an RFC 4571 length whose high byte happens to
// be '$' (9216 to 9471 bytes). In RFC 4571 framing h[2] is the first byte of
// the packet and carries RTP version 2 in its top bits; in interleaved
// framing it is the high byte of a length and h[4] is the version byte.
func looksInterleaved(h []byte) bool {
	return h[0] == interleavedMagic && h[2]>>6 != 2 && h[4]>>6 == 2
}

// fill makes at least n unread bytes available in fr.buf.
func (fr *FrameReader) fill(n int) error {
	if fr.end-fr.off >= n {
		return nil
	}
	if len(fr.buf)-fr.off < n {
		fr.end = copy(fr.buf, fr.buf[fr.off:fr.end])
		fr.off = 0
	}
	for empty := 0; fr.end-fr.off < n; {
		if fr.err != nil {
			return fr.err
		}
		m, err := fr.r.Read(fr.buf[fr.end:])
		if m < 0 || m > len(fr.buf)-fr.end {
			fr.err = errors.New("invalid read count")
			continue
		}
		fr.end += m
		if err != nil {
			fr.err = err
			continue
		}
		if m == 0 {
			if empty++; empty >= maxEmptyReads {
				fr.err = io.ErrNoProgress
			}
		}
	}
	return nil
}

// fail turns a fill error into ReadPacket's error: io.EOF only when no byte
// of the next frame has been read.
func (fr *FrameReader) fail(err error) error {
	if err == io.EOF {
		if fr.end == fr.off {
			return io.EOF
		}
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("rtp: read frame: %w", err)
}

// AppendFrame appends pkt to dst with an RFC 4571 length prefix. A packet
// longer than MaxFrameSize cannot be framed; it is dropped and dst returned
// unchanged, so callers that can produce such packets check the length
// first.
func AppendFrame(dst, pkt []byte) []byte {
	if len(pkt) > MaxFrameSize {
		return dst
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(pkt)))
	return append(dst, pkt...)
}

// IsRTCP reports whether a packet read from a connection that multiplexes
// RTP and RTCP is RTCP: RFC 5761 section 4 keeps RTCP packet types 192-223
// apart from the RTP payload types in use (the RTP marker bit plus payload
// type 64-95 never occurs in practice).
func IsRTCP(pkt []byte) bool {
	return len(pkt) >= 2 && pkt[0]>>6 == 2 && pkt[1] >= 192 && pkt[1] <= 223
}
