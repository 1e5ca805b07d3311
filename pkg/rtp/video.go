package rtp

import (
	"encoding/binary"
	"errors"
	"fmt"

	pionrtp "github.com/pion/rtp"
)

// startCode precedes every NAL unit of an Annex-B access unit.
var startCode = []byte{0, 0, 0, 1}

// videoDepacketizer collects the NAL units of H.264 (RFC 6184,
// non-interleaved mode) or H.265 (RFC 7798, without DONL) access units.
//
// It does its own fragment reassembly rather than use pion's
// codecs.H264Packet and codecs.H265Depacketizer: those grow their fragment
// buffers without bound, H264Packet appends continuation fragments whose
// start was lost, and H265Depacketizer keeps slices of earlier payloads,
// which breaks when the caller reuses its packet buffers. Here a fragmented
// NAL unit is copied as it arrives, bounded by MaxAccessUnitSize, and
// dropped at the first sign of a missing fragment.
type videoDepacketizer struct {
	kind     Kind
	parse    func(d *videoDepacketizer, payload []byte) error
	startsAU func(payload []byte) bool
	a        assembler
	fu       []byte // the fragmented NAL unit so far, header included
	inFU     bool
}

func (d *videoDepacketizer) Push(p *pionrtp.Packet) ([]AccessUnit, error) {
	a := &d.a
	first := !a.seqOK
	gap := a.seqOK && p.SequenceNumber != a.lastSeq+1
	var err error
	if d.inFU && (gap || (a.open && p.Timestamp != a.ts)) {
		// The fragmented NAL unit will not be completed; the unit it
		// belongs to is incomplete.
		d.inFU, a.broken = false, true
		if !gap {
			err = fmt.Errorf("%w: fragmented NAL unit not finished", ErrFragment)
		}
	}
	newUnit := !a.open || p.Timestamp != a.ts
	a.begin(p)
	if (first || gap) && newUnit && !d.startsAU(p.Payload) {
		// The lost packets may have held the start of this unit.
		a.broken = true
	}
	if len(p.Payload) > 0 {
		if perr := d.parse(d, p.Payload); perr != nil {
			wasBroken := a.broken
			d.inFU, a.broken = false, true
			if !errors.Is(perr, errNoStart) || !(first || gap || wasBroken) {
				err = perr
			}
		}
	}
	if p.Marker {
		if d.inFU {
			d.inFU, a.broken = false, true
			err = fmt.Errorf("%w: marker bit inside a fragmented NAL unit", ErrFragment)
		}
		a.end()
	}
	if err != nil {
		err = fmt.Errorf("rtp: depacketize %s: %w", d.kind, err)
	}
	return a.out, err
}

func (d *videoDepacketizer) Flush() []AccessUnit {
	d.a.out = d.a.out[:0]
	if d.inFU {
		d.inFU, d.a.broken = false, true
	}
	d.a.end()
	return d.a.out
}

func (d *videoDepacketizer) Reset() {
	d.a.reset()
	d.fu = d.fu[:0]
	d.inFU = false
}

func (d *videoDepacketizer) addNAL(nal []byte, key bool) error {
	if len(nal) == 0 {
		return nil
	}
	if err := d.a.add(startCode, nal); err != nil {
		return err
	}
	d.a.key = d.a.key || key
	return nil
}

// fragment adds one fragment's payload to the NAL unit being reassembled.
// header is the reconstructed NAL unit header, used on the start fragment.
func (d *videoDepacketizer) fragment(start, end bool, header, payload []byte, key bool) error {
	if start {
		if d.inFU {
			return fmt.Errorf("%w: start fragment inside a fragmented NAL unit", ErrFragment)
		}
		d.fu = append(d.fu[:0], header...)
		d.inFU = true
	} else if !d.inFU {
		return errNoStart
	}
	if len(d.fu)+len(payload) > MaxAccessUnitSize {
		d.fu = d.fu[:0]
		return fmt.Errorf("%w: fragmented NAL unit over %d bytes", ErrTooLarge, MaxAccessUnitSize)
	}
	d.fu = append(d.fu, payload...)
	if !end {
		return nil
	}
	d.inFU = false
	return d.addNAL(d.fu, key)
}

// notInFU is the error for a whole NAL unit arriving while a fragmented one
// is unfinished.
func (d *videoDepacketizer) notInFU() error {
	if d.inFU {
		return fmt.Errorf("%w: NAL unit inside a fragmented NAL unit", ErrFragment)
	}
	return nil
}

// RFC 6184 packet types.
const (
	h264STAPA = 24
	h264FUA   = 28
	h264IDR   = 5
)

func parseH264(d *videoDepacketizer, b []byte) error {
	t := b[0] & 0x1f
	switch {
	case t >= 1 && t <= 23:
		if err := d.notInFU(); err != nil {
			return err
		}
		return d.addNAL(b, t == h264IDR)
	case t == h264STAPA:
		if err := d.notInFU(); err != nil {
			return err
		}
		for b = b[1:]; len(b) > 0; {
			if len(b) < 2 {
				return fmt.Errorf("%w: STAP-A: truncated unit size", ErrMalformed)
			}
			n := int(binary.BigEndian.Uint16(b))
			b = b[2:]
			if n > len(b) {
				return fmt.Errorf("%w: STAP-A: unit of %d bytes, %d left", ErrMalformed, n, len(b))
			}
			if n > 0 {
				if err := d.addNAL(b[:n], b[0]&0x1f == h264IDR); err != nil {
					return err
				}
			}
			b = b[n:]
		}
		return nil
	case t == h264FUA:
		if len(b) < 2 {
			return fmt.Errorf("%w: FU-A: no FU header", ErrMalformed)
		}
		fu := b[1]
		header := [1]byte{b[0]&0xe0 | fu&0x1f}
		return d.fragment(fu&0x80 != 0, fu&0x40 != 0, header[:], b[2:], fu&0x1f == h264IDR)
	}
	// 25-27 and 29 belong to the interleaved mode, 0, 30 and 31 are unused.
	return fmt.Errorf("%w: H.264 packet type %d", ErrUnsupported, t)
}

// RFC 7798 packet types.
const (
	h265AP   = 48
	h265FU   = 49
	h265PACI = 50
)

// h265IRAP: BLA, IDR and CRA pictures (16-21) are random access points.
func h265IRAP(t byte) bool { return t >= 16 && t <= 21 }

func parseH265(d *videoDepacketizer, b []byte) error {
	if len(b) < 2 {
		return fmt.Errorf("%w: %d-byte payload", ErrMalformed, len(b))
	}
	if b[0]&0x80 != 0 {
		return fmt.Errorf("%w: forbidden bit set", ErrMalformed)
	}
	t := b[0] >> 1 & 0x3f
	switch t {
	case h265AP:
		if err := d.notInFU(); err != nil {
			return err
		}
		for b = b[2:]; len(b) > 0; {
			if len(b) < 2 {
				return fmt.Errorf("%w: AP: truncated unit size", ErrMalformed)
			}
			n := int(binary.BigEndian.Uint16(b))
			b = b[2:]
			if n > len(b) || n < 2 {
				return fmt.Errorf("%w: AP: unit of %d bytes, %d left", ErrMalformed, n, len(b))
			}
			if err := d.addNAL(b[:n], h265IRAP(b[0]>>1&0x3f)); err != nil {
				return err
			}
			b = b[n:]
		}
		return nil
	case h265FU:
		if len(b) < 3 {
			return fmt.Errorf("%w: FU: no FU header", ErrMalformed)
		}
		fu := b[2]
		ft := fu & 0x3f
		if ft == h265AP || ft == h265FU || ft == h265PACI {
			return fmt.Errorf("%w: FU of type %d", ErrMalformed, ft)
		}
		header := [2]byte{b[0]&0x81 | ft<<1, b[1]}
		return d.fragment(fu&0x80 != 0, fu&0x40 != 0, header[:], b[3:], h265IRAP(ft))
	case h265PACI:
		return fmt.Errorf("%w: H.265 PACI packet", ErrUnsupported)
	}
	if err := d.notInFU(); err != nil {
		return err
	}
	return d.addNAL(b, h265IRAP(t))
}

// h264StartsAU reports whether a payload begins with a NAL unit that starts
// an access unit (H.264 section 7.4.1.2.3): SEI, SPS, PPS, AUD, the reserved
// types 14-18, or the first slice of a picture (first_mb_in_slice 0, whose
// ue(v) code is a single 1 bit).
func h264StartsAU(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	switch b[0] & 0x1f {
	case h264STAPA:
		return len(b) >= 5 && h264NALStartsAU(b[3]&0x1f, b[4:])
	case h264FUA:
		return len(b) >= 3 && b[1]&0x80 != 0 && h264NALStartsAU(b[1]&0x1f, b[2:])
	}
	return h264NALStartsAU(b[0]&0x1f, b[1:])
}

// h264NALStartsAU: rest is the NAL unit after its header byte.
func h264NALStartsAU(t byte, rest []byte) bool {
	switch {
	case t >= 6 && t <= 9, t >= 14 && t <= 18:
		return true
	case t >= 1 && t <= 5:
		return len(rest) > 0 && rest[0]&0x80 != 0
	}
	return false
}

// h265StartsAU is h264StartsAU for H.265 (section 7.4.2.4.4): VPS, SPS,
// PPS, AUD, prefix SEI, the reserved types 41-44 and 48-55, or a slice with
// first_slice_segment_in_pic_flag set.
func h265StartsAU(b []byte) bool {
	if len(b) < 3 {
		return false
	}
	switch t := b[0] >> 1 & 0x3f; t {
	case h265AP:
		return len(b) >= 7 && h265NALStartsAU(b[4]>>1&0x3f, b[6:])
	case h265FU:
		return len(b) >= 4 && b[2]&0x80 != 0 && h265NALStartsAU(b[2]&0x3f, b[3:])
	default:
		return h265NALStartsAU(t, b[2:])
	}
}

// h265NALStartsAU: rest is the NAL unit after its 2-byte header.
func h265NALStartsAU(t byte, rest []byte) bool {
	switch {
	case t >= 32 && t <= 35, t == 39, t >= 41 && t <= 44, t >= 48 && t <= 55:
		return true
	case t < 32:
		return len(rest) > 0 && rest[0]&0x80 != 0
	}
	return false
}
