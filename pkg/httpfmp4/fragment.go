package httpfmp4

import "encoding/binary"

// sample is one frame of one track, in the track's timescale.
type sample struct {
	trackID  uint32
	baseTime uint64 // tfdt baseMediaDecodeTime: the DTS
	duration uint32
	cts      int32 // PTS - DTS
	nonSync  bool
}

const (
	moofHeadLen = 8 + 16 + 8 + 16 + 20 // moof, mfhd, traf, tfhd, tfdt
	trunHeadLen = 8 + 4 + 4 + 4        // box, version+flags, sample_count, data_offset
	mdatHeadLen = 8

	trunDataOffset  = 0x001
	trunDuration    = 0x100
	trunSize        = 0x200
	trunFlags       = 0x400
	trunCTS         = 0x800
	tfhdBaseIsMoof  = 0x020000
	sampleIsNonSync = 1 << 16
)

// fragmentSize is the size of the fragment appendFragment writes for s
// with a payload of n bytes.
func fragmentSize(s *sample, n int) int {
	return moofLen(s) + mdatHeadLen + n
}

func trunLen(s *sample) int {
	n := trunHeadLen + 8 // duration, size
	if s.nonSync {
		n += 4
	}
	if s.cts != 0 {
		n += 4
	}
	return n
}

func moofLen(s *sample) int { return moofHeadLen + trunLen(s) }

// appendFragment appends the moof+mdat of one sample with the payload,
// and mfhd sequence number seq. The boxes are those mediacommon's
// fmp4.Part.Marshal writes for a one-sample part (tfhd
// default-base-is-moof, tfdt version 1, trun version 1 with sample flags
// only for a non-sync sample and a composition offset only when not
// zero), byte for byte; writing them directly avoids its per-box
// reflection and two copies of the payload (see BenchmarkFMP4Frame).
func appendFragment(dst []byte, seq uint32, s *sample, payload []byte) []byte {
	be := binary.BigEndian
	n := len(payload)
	moof := moofLen(s)
	dst = be.AppendUint32(dst, uint32(moof))
	dst = append(dst, "moof"...)
	dst = be.AppendUint32(dst, 16)
	dst = append(dst, "mfhd"...)
	dst = be.AppendUint32(dst, 0)
	dst = be.AppendUint32(dst, seq)
	dst = be.AppendUint32(dst, uint32(moof-8-16))
	dst = append(dst, "traf"...)
	dst = be.AppendUint32(dst, 16)
	dst = append(dst, "tfhd"...)
	dst = be.AppendUint32(dst, tfhdBaseIsMoof)
	dst = be.AppendUint32(dst, s.trackID)
	dst = be.AppendUint32(dst, 20)
	dst = append(dst, "tfdt"...)
	dst = be.AppendUint32(dst, 1<<24) // version 1: 64-bit time
	dst = be.AppendUint64(dst, s.baseTime)
	flags := uint32(trunDataOffset | trunDuration | trunSize)
	if s.nonSync {
		flags |= trunFlags
	}
	if s.cts != 0 {
		flags |= trunCTS
	}
	dst = be.AppendUint32(dst, uint32(trunLen(s)))
	dst = append(dst, "trun"...)
	dst = be.AppendUint32(dst, 1<<24|flags) // version 1: signed offsets
	dst = be.AppendUint32(dst, 1)
	dst = be.AppendUint32(dst, uint32(moof+mdatHeadLen)) // data offset from moof
	dst = be.AppendUint32(dst, s.duration)
	dst = be.AppendUint32(dst, uint32(n))
	if s.nonSync {
		dst = be.AppendUint32(dst, sampleIsNonSync)
	}
	if s.cts != 0 {
		dst = be.AppendUint32(dst, uint32(s.cts))
	}
	dst = be.AppendUint32(dst, uint32(mdatHeadLen+n))
	dst = append(dst, "mdat"...)
	return append(dst, payload...)
}
