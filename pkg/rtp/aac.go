package rtp

import (
	"encoding/binary"
	"fmt"

	pionrtp "github.com/pion/rtp"
)

// AACConfig describes the RFC 3640 AU header layout of an mpeg4-generic
// stream, as its SDP fmtp says. Zero fields take the AAC-hbr defaults.
// CTS/DTS deltas, random access and stream state fields are not supported
// (no GB28181 or RTSP camera sends them).
type AACConfig struct {
	SizeLength       int    // bits of AU-size (default 13)
	IndexLength      int    // bits of AU-Index in the first header (default 3)
	IndexDeltaLength int    // bits of AU-Index-delta in later headers (default IndexLength)
	FrameSamples     uint32 // samples per AU, to time the later AUs of a packet (default 1024)
}

// NewAACDepacketizer returns a depacketizer for RFC 3640 AAC with the given
// AU header layout. Payloads that start with an ADTS header instead (some
// devices send ADTS frames as the whole payload) are taken too, the headers
// stripped.
func NewAACDepacketizer(cfg AACConfig) (Depacketizer, error) {
	if cfg.SizeLength == 0 {
		cfg.SizeLength = 13
	}
	if cfg.IndexLength == 0 && cfg.IndexDeltaLength == 0 {
		cfg.IndexLength = 3
	}
	if cfg.IndexDeltaLength == 0 {
		cfg.IndexDeltaLength = cfg.IndexLength
	}
	if cfg.FrameSamples == 0 {
		cfg.FrameSamples = 1024
	}
	if cfg.SizeLength < 1 || cfg.SizeLength > 32 || cfg.IndexLength < 0 || cfg.IndexLength > 32 ||
		cfg.IndexDeltaLength < 0 || cfg.IndexDeltaLength > 32 {
		return nil, fmt.Errorf("rtp: new aac depacketizer: %w: sizeLength %d, indexLength %d, indexDeltaLength %d",
			ErrUnsupported, cfg.SizeLength, cfg.IndexLength, cfg.IndexDeltaLength)
	}
	return &aacDepacketizer{cfg: cfg}, nil
}

type aacDepacketizer struct {
	cfg     AACConfig
	sizes   []int
	out     []AccessUnit
	lastSeq uint16
	seqOK   bool

	// An AU larger than one packet comes in fragments, each with the
	// whole AU's size in its single AU header and the same timestamp
	// (RFC 3640 section 3.2.3).
	frag     []byte
	fragSize int
	fragTS   uint32
	inFrag   bool

	// The AudioSpecificConfig of the latest ADTS header, shared by the
	// units cut from ADTS frames, and the header bits it comes from.
	asc     []byte
	ascRate int
	ascBits uint16
}

func (d *aacDepacketizer) Push(p *pionrtp.Packet) ([]AccessUnit, error) {
	d.out = d.out[:0]
	if d.seqOK && p.SequenceNumber != d.lastSeq+1 {
		d.inFrag = false
	}
	d.lastSeq, d.seqOK = p.SequenceNumber, true
	if len(p.Payload) == 0 {
		return nil, nil
	}
	if err := d.push(p); err != nil {
		return d.out, fmt.Errorf("rtp: depacketize aac: %w", err)
	}
	return d.out, nil
}

func (d *aacDepacketizer) push(p *pionrtp.Packet) error {
	b := p.Payload
	if len(b) < 2 {
		return fmt.Errorf("%w: %d-byte payload", ErrMalformed, len(b))
	}
	bits := int(binary.BigEndian.Uint16(b))
	end := 2 + (bits+7)/8
	if end > len(b) {
		if isADTS(b) {
			return d.adts(b, p.Timestamp)
		}
		return fmt.Errorf("%w: %d bits of AU headers in %d bytes", ErrMalformed, bits, len(b))
	}
	if err := d.headers(b[2:end], bits); err != nil {
		return err
	}
	data := b[end:]

	var err error
	if d.inFrag {
		if len(d.sizes) == 1 && d.sizes[0] == d.fragSize && p.Timestamp == d.fragTS {
			return d.continueFragment(data, p.Marker)
		}
		// Without a gap in sequence numbers this is the sender's fault.
		d.inFrag = false
		err = fmt.Errorf("%w: AU of %d bytes ends after %d", ErrFragment, d.fragSize, len(d.frag))
	}
	if len(d.sizes) == 1 && d.sizes[0] > len(data) {
		if d.sizes[0] > MaxAccessUnitSize {
			return fmt.Errorf("%w: %d-byte AU", ErrTooLarge, d.sizes[0])
		}
		d.frag = append(d.frag[:0], data...)
		d.fragSize, d.fragTS, d.inFrag = d.sizes[0], p.Timestamp, true
		return err
	}
	for i, n := range d.sizes {
		if n > len(data) {
			return fmt.Errorf("%w: AU %d of %d bytes, %d left", ErrMalformed, i, n, len(data))
		}
		if n > 0 {
			ts := p.Timestamp + uint32(i)*d.cfg.FrameSamples
			d.out = append(d.out, AccessUnit{Data: clone(data[:n]), Timestamp: ts, Key: true})
		}
		data = data[n:]
	}
	return err
}

func (d *aacDepacketizer) continueFragment(data []byte, marker bool) error {
	if len(d.frag)+len(data) > d.fragSize {
		d.inFrag = false
		return fmt.Errorf("%w: fragments exceed the %d-byte AU", ErrMalformed, d.fragSize)
	}
	d.frag = append(d.frag, data...)
	if len(d.frag) < d.fragSize {
		if marker {
			d.inFrag = false
			return fmt.Errorf("%w: AU ends %d bytes short", ErrFragment, d.fragSize-len(d.frag))
		}
		return nil
	}
	d.inFrag = false
	d.out = append(d.out, AccessUnit{Data: clone(d.frag), Timestamp: d.fragTS, Key: true})
	return nil
}

// headers reads the AU sizes from the AU header section h of the given
// length in bits. Index values are not used: AUs are taken in order.
func (d *aacDepacketizer) headers(h []byte, bits int) error {
	d.sizes = d.sizes[:0]
	pos := 0
	for i := 0; ; i++ {
		idx := d.cfg.IndexDeltaLength
		if i == 0 {
			idx = d.cfg.IndexLength
		}
		if bits-pos < d.cfg.SizeLength+idx {
			break
		}
		d.sizes = append(d.sizes, int(readBits(h, pos, d.cfg.SizeLength)))
		pos += d.cfg.SizeLength + idx
	}
	if pos != bits || len(d.sizes) == 0 {
		return fmt.Errorf("%w: %d bits of AU headers do not divide into headers", ErrMalformed, bits)
	}
	return nil
}

// readBits reads n (at most 32) bits starting at bit pos of b, big-endian.
func readBits(b []byte, pos, n int) uint32 {
	var v uint32
	for i := pos; i < pos+n; i++ {
		v = v<<1 | uint32(b[i/8]>>(7-i%8)&1)
	}
	return v
}

// isADTS: the 12-bit sync word and MPEG layer 0.
func isADTS(b []byte) bool {
	return len(b) >= 7 && b[0] == 0xff && b[1]&0xf6 == 0xf0
}

// adts takes payloads made of whole ADTS frames.
func (d *aacDepacketizer) adts(b []byte, ts uint32) error {
	for i := uint32(0); len(b) > 0; i++ {
		if !isADTS(b) {
			return fmt.Errorf("%w: no ADTS header", ErrMalformed)
		}
		hlen := 7
		if b[1]&1 == 0 {
			hlen = 9 // CRC present
		}
		n := int(b[3]&3)<<11 | int(b[4])<<3 | int(b[5]>>5)
		if n < hlen || n > len(b) {
			return fmt.Errorf("%w: ADTS frame of %d bytes, %d left", ErrMalformed, n, len(b))
		}
		if n > hlen {
			asc, rate := d.adtsConfig(b)
			d.out = append(d.out, AccessUnit{Data: clone(b[hlen:n]), Timestamp: ts + i*d.cfg.FrameSamples, Key: true,
				Config: asc, SampleRate: rate})
		}
		b = b[n:]
	}
	return nil
}

func (d *aacDepacketizer) Flush() []AccessUnit {
	d.inFrag = false
	return nil
}

func (d *aacDepacketizer) Reset() {
	d.inFrag, d.seqOK = false, false
	d.frag = d.frag[:0]
	clear(d.out)
	d.out = d.out[:0]
}

// adtsRates are the sampling frequencies of ADTS's 4-bit index.
var adtsRates = [...]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

// adtsConfig turns an ADTS header into the 2-byte AudioSpecificConfig it
// stands for (object type = profile+1, sampling index, channels) and the
// sample rate; nil for an index ADTS does not define. The config of the
// previous header is reused while the header says the same.
func (d *aacDepacketizer) adtsConfig(h []byte) ([]byte, int) {
	bits := uint16(h[2])<<2 | uint16(h[3]>>6) // profile, sampling index, private bit, channels
	if d.asc != nil && bits == d.ascBits {
		return d.asc, d.ascRate
	}
	profile := h[2] >> 6
	idx := (h[2] >> 2) & 0xF
	ch := (h[2]&1)<<2 | h[3]>>6
	if int(idx) >= len(adtsRates) {
		return nil, 0
	}
	obj := profile + 1
	d.asc, d.ascRate, d.ascBits = []byte{obj<<3 | idx>>1, (idx&1)<<7 | ch<<3}, adtsRates[idx], bits
	return d.asc, d.ascRate
}
