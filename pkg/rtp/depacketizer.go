package rtp

import (
	"errors"
	"fmt"

	pionrtp "github.com/pion/rtp"
)

// MaxAccessUnitSize bounds one access unit (and one NAL unit being
// reassembled from fragments), so a sender cannot make a depacketizer hold
// more than this.
const MaxAccessUnitSize = 8 << 20

// AccessUnit is one frame taken out of RTP packets.
//
// Data is H.264/H.265 in Annex-B form (each NAL unit after a 00 00 00 01
// start code), raw AAC (no ADTS header), raw Opus or G.711, or, for PS, the
// payloads of one frame's packets concatenated. The caller owns Data.
type AccessUnit struct {
	Data      []byte
	Timestamp uint32 // RTP timestamp
	// Key marks an H.264 IDR or H.265 IRAP access unit; audio frames are
	// always Key (as in media.Frame). PS and TS units are never Key: only
	// the demuxer can tell.
	Key bool
	// AAC units cut from ADTS frames carry their AudioSpecificConfig and
	// sample rate, which nothing else tells without an SDP. Units with the
	// same configuration share Config: read it, do not modify it.
	Config     []byte
	SampleRate int
}

// Depacketizer turns the packets of one stream, in sequence order (as a
// Receiver delivers them), into access units.
//
// Push returns the access units the packet completed; the slice itself is
// reused by the next call, the Data in it is not. An error means the packet
// was malformed; the depacketizer has dropped what it could not use and
// goes on with the next packet.
//
// Units with a missing part are dropped, not returned: a gap in sequence
// numbers drops the unit it falls into, and after a gap, at the start and
// after Reset, a unit must begin with what begins an access unit (for video
// a parameter set, AUD, SEI or the first slice of a picture; for PS a start
// code), or the lost packets may have held its beginning.
//
// Flush returns a unit still waiting for its end (at the end of a stream).
// Reset forgets all state, for after a loss or resync.
type Depacketizer interface {
	Push(p *pionrtp.Packet) ([]AccessUnit, error)
	Flush() []AccessUnit
	Reset()
}

// NewDepacketizer returns a depacketizer for k: H.264, H.265, AAC (RFC 3640
// AAC-hbr: 13-bit sizes, 3-bit indexes; see NewAACDepacketizer for other
// layouts), Opus, G.711, PS (one unit per frame: per timestamp, ended by the
// marker bit) or TS (one unit per packet).
func NewDepacketizer(k Kind) (Depacketizer, error) {
	switch k {
	case KindH264:
		return &videoDepacketizer{kind: k, parse: parseH264, startsAU: h264StartsAU}, nil
	case KindH265:
		return &videoDepacketizer{kind: k, parse: parseH265, startsAU: h265StartsAU}, nil
	case KindAAC:
		return NewAACDepacketizer(AACConfig{})
	case KindOpus, KindPCMA, KindPCMU:
		return &framePerPacket{key: true}, nil
	case KindTS:
		return &framePerPacket{}, nil
	case KindPS:
		return &psDepacketizer{}, nil
	}
	return nil, fmt.Errorf("rtp: new depacketizer: %w: %q", ErrUnsupported, k)
}

// Errors of the depacketizers, wrapped with what was being done.
var (
	ErrUnsupported = errors.New("unsupported payload")
	ErrMalformed   = errors.New("malformed payload")
	ErrFragment    = errors.New("fragment out of place")
	ErrTooLarge    = errors.New("access unit too large")

	// errNoStart is a continuation fragment whose start is missing: after
	// a loss that is expected and not worth reporting.
	errNoStart = fmt.Errorf("%w: continuation without a start", ErrFragment)
)

// assembler collects the pieces of one access unit: all packets with one
// timestamp, up to the one with the marker bit.
type assembler struct {
	buf     []byte
	ts      uint32
	open    bool // a unit is being collected
	key     bool
	broken  bool // part of the unit is missing; drop it
	lastSeq uint16
	seqOK   bool
	out     []AccessUnit
}

// begin starts on packet p: a sequence gap breaks the open unit, a new
// timestamp ends it. It reports whether a gap was found.
func (a *assembler) begin(p *pionrtp.Packet) (gap bool) {
	a.out = a.out[:0]
	gap = a.seqOK && p.SequenceNumber != a.lastSeq+1
	a.lastSeq, a.seqOK = p.SequenceNumber, true
	if gap && a.open {
		a.broken = true
	}
	if a.open && p.Timestamp != a.ts {
		a.end()
	}
	if !a.open {
		a.open, a.ts = true, p.Timestamp
	}
	return gap
}

// add appends bytes to the open unit.
func (a *assembler) add(b ...[]byte) error {
	n := len(a.buf)
	for _, s := range b {
		n += len(s)
	}
	if n > MaxAccessUnitSize {
		a.broken = true
		a.buf = a.buf[:0]
		return fmt.Errorf("%w: over %d bytes", ErrTooLarge, MaxAccessUnitSize)
	}
	if a.broken {
		return nil // no point in collecting
	}
	for _, s := range b {
		a.buf = append(a.buf, s...)
	}
	return nil
}

// end closes the open unit and queues it unless it is broken or empty.
func (a *assembler) end() {
	if a.open && !a.broken && len(a.buf) > 0 {
		a.out = append(a.out, AccessUnit{Data: clone(a.buf), Timestamp: a.ts, Key: a.key})
	}
	a.buf = a.buf[:0]
	a.open, a.key, a.broken = false, false, false
}

func (a *assembler) reset() {
	a.buf = a.buf[:0]
	a.open, a.key, a.broken, a.seqOK = false, false, false, false
	clear(a.out)
	a.out = a.out[:0]
}

// clone copies b into a slice of its own, exactly as long.
func clone(b []byte) []byte {
	return append(make([]byte, 0, len(b)), b...)
}

// psDepacketizer gathers the payloads of one PS frame: GB28181 senders split
// a pack (pack header, system header, PES packets of one frame) over packets
// with one timestamp and set the marker bit on the last.
type psDepacketizer struct{ a assembler }

func (d *psDepacketizer) Push(p *pionrtp.Packet) ([]AccessUnit, error) {
	first := !d.a.seqOK
	newUnit := !d.a.open || p.Timestamp != d.a.ts
	if gap := d.a.begin(p); (first || gap) && newUnit && !isPS(p.Payload) {
		d.a.broken = true // its pack header may be lost
	}
	err := d.a.add(p.Payload)
	if p.Marker {
		d.a.end()
	}
	if err != nil {
		err = fmt.Errorf("rtp: depacketize ps: %w", err)
	}
	return d.a.out, err
}

func (d *psDepacketizer) Flush() []AccessUnit {
	d.a.out = d.a.out[:0]
	d.a.end()
	return d.a.out
}

func (d *psDepacketizer) Reset() { d.a.reset() }

// framePerPacket passes each payload on as one unit: Opus (RFC 7587: one
// packet, one Opus packet), G.711 (the payload is the samples) and TS (whole
// TS packets).
type framePerPacket struct {
	key bool
	out [1]AccessUnit
}

func (d *framePerPacket) Push(p *pionrtp.Packet) ([]AccessUnit, error) {
	if len(p.Payload) == 0 {
		return nil, nil
	}
	d.out[0] = AccessUnit{Data: clone(p.Payload), Timestamp: p.Timestamp, Key: d.key}
	return d.out[:], nil
}

func (d *framePerPacket) Flush() []AccessUnit { return nil }
func (d *framePerPacket) Reset()              { d.out[0] = AccessUnit{} }
