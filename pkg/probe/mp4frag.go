package probe

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"

	gomp4 "github.com/abema/go-mp4"
)

// MP4 durations and sizes come from the movie's headers only: mvhd, each
// trak's tkhd, mdhd, elst and stsz, and for fragmented files every moof's
// tfhd, tfdt and trun (go-mp4's Probe keeps one traf per moof and builds
// a slice of every sample; this walk keeps sums). Boxes whose entry count
// could be hostile (stsz, trun) are read as a stream of entries bounded by
// the box's own size; other payloads only when small.

// maxSmallBox bounds the payloads read whole.
const maxSmallBox = 1 << 20

type mp4Track struct {
	id         uint32
	handler    string // hdlr: "vide", "soun", ...
	timescale  uint32
	duration   uint64 // mdhd
	editDur    uint64 // sum of the edit list's media segments, movie timescale
	sampleSize uint64 // stsz sum
	fragEnd    uint64 // fragments: the last sample's end, track timescale
	fragSize   uint64
}

type mp4Info struct {
	timescale uint32
	duration  uint64
	tracks    []*mp4Track
}

var errBadBox = errors.New("malformed MP4 box")

func (m *mp4Info) track(id uint32) *mp4Track {
	for _, t := range m.tracks {
		if t.id == id {
			return t
		}
	}
	return nil
}

func readMP4Info(r io.ReadSeeker) (*mp4Info, error) {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	info := &mp4Info{}
	type defaults struct{ dur, size uint32 }
	trex := map[uint32]defaults{}
	var (
		trak *mp4Track // the trak being read
		cur  *mp4Track // the traf's track
		def  defaults
		t    uint64
	)
	small := func(h *gomp4.ReadHandle) (gomp4.IBox, error) {
		if h.BoxInfo.Size > maxSmallBox {
			return nil, errBadBox
		}
		b, _, err := h.ReadPayload()
		return b, err
	}
	_, err := gomp4.ReadBoxStructure(r, func(h *gomp4.ReadHandle) (any, error) {
		switch h.BoxInfo.Type {
		case gomp4.BoxTypeMoov(), gomp4.BoxTypeMvex(), gomp4.BoxTypeMoof(), gomp4.BoxTypeMdia(),
			gomp4.BoxTypeMinf(), gomp4.BoxTypeStbl(), gomp4.BoxTypeEdts():
			return h.Expand()
		case gomp4.BoxTypeTrak():
			trak = &mp4Track{}
			info.tracks = append(info.tracks, trak)
			return h.Expand()
		case gomp4.BoxTypeTraf():
			cur = nil
			return h.Expand()
		case gomp4.BoxTypeMvhd():
			b, err := small(h)
			if err != nil {
				return nil, err
			}
			x := b.(*gomp4.Mvhd)
			info.timescale = x.Timescale
			if x.GetVersion() == 0 {
				info.duration = uint64(x.DurationV0)
			} else {
				info.duration = x.DurationV1
			}
		case gomp4.BoxTypeTkhd():
			b, err := small(h)
			if err != nil || trak == nil {
				return nil, err
			}
			trak.id = b.(*gomp4.Tkhd).TrackID
		case gomp4.BoxTypeHdlr():
			b, err := small(h)
			if err != nil || trak == nil {
				return nil, err
			}
			x := b.(*gomp4.Hdlr)
			trak.handler = string(x.HandlerType[:])
		case gomp4.BoxTypeMdhd():
			b, err := small(h)
			if err != nil || trak == nil {
				return nil, err
			}
			x := b.(*gomp4.Mdhd)
			trak.timescale = x.Timescale
			if x.GetVersion() == 0 {
				trak.duration = uint64(x.DurationV0)
			} else {
				trak.duration = x.DurationV1
			}
		case gomp4.BoxTypeElst():
			b, err := small(h)
			if err != nil || trak == nil {
				return nil, err
			}
			x := b.(*gomp4.Elst)
			for _, e := range x.Entries {
				mt, sd := int64(e.MediaTimeV0), uint64(e.SegmentDurationV0)
				if x.GetVersion() == 1 {
					mt, sd = e.MediaTimeV1, e.SegmentDurationV1
				}
				if mt >= 0 {
					trak.editDur += sd
				}
			}
		case gomp4.BoxTypeStsz():
			if trak == nil {
				return nil, nil
			}
			sum, err := readStsz(h, r)
			if err != nil {
				return nil, err
			}
			trak.sampleSize = sum
		case gomp4.BoxTypeTrex():
			b, err := small(h)
			if err != nil {
				return nil, err
			}
			x := b.(*gomp4.Trex)
			trex[x.TrackID] = defaults{x.DefaultSampleDuration, x.DefaultSampleSize}
		case gomp4.BoxTypeTfhd():
			b, err := small(h)
			if err != nil {
				return nil, err
			}
			x := b.(*gomp4.Tfhd)
			cur = info.track(x.TrackID)
			if cur == nil {
				if len(info.tracks) >= 64 {
					return nil, errBadBox
				}
				cur = &mp4Track{id: x.TrackID}
				info.tracks = append(info.tracks, cur)
			}
			def = trex[x.TrackID]
			if x.CheckFlag(0x000008) {
				def.dur = x.DefaultSampleDuration
			}
			if x.CheckFlag(0x000010) {
				def.size = x.DefaultSampleSize
			}
			t = cur.fragEnd
		case gomp4.BoxTypeTfdt():
			b, err := small(h)
			if err != nil {
				return nil, err
			}
			x := b.(*gomp4.Tfdt)
			if x.GetVersion() == 0 {
				t = uint64(x.BaseMediaDecodeTimeV0)
			} else {
				t = x.BaseMediaDecodeTimeV1
			}
		case gomp4.BoxTypeTrun():
			if cur == nil {
				return nil, nil
			}
			d, s, err := readTrun(h, r, def.dur, def.size)
			if err != nil {
				return nil, err
			}
			t += d
			cur.fragSize += s
			cur.fragEnd = max(cur.fragEnd, t)
		}
		return nil, nil
	})
	return info, err
}

// payload returns a reader of h's payload bounded by the box's size.
func payload(h *gomp4.ReadHandle, r io.ReadSeeker) (*bufio.Reader, int64, error) {
	if _, err := h.BoxInfo.SeekToPayload(r); err != nil {
		return nil, 0, err
	}
	n := int64(h.BoxInfo.Size - h.BoxInfo.HeaderSize)
	return bufio.NewReaderSize(io.LimitReader(r, n), 32<<10), n, nil
}

// readStsz sums the sample sizes of an stsz box.
func readStsz(h *gomp4.ReadHandle, rs io.ReadSeeker) (uint64, error) {
	br, n, err := payload(h, rs)
	if err != nil {
		return 0, err
	}
	var hdr [12]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return 0, errBadBox
	}
	size, count := binary.BigEndian.Uint32(hdr[4:]), binary.BigEndian.Uint32(hdr[8:])
	if size != 0 {
		return uint64(size) * uint64(count), nil
	}
	if int64(count) > (n-12)/4 {
		return 0, errBadBox
	}
	var sum uint64
	var e [4]byte
	for range count {
		if _, err := io.ReadFull(br, e[:]); err != nil {
			return 0, errBadBox
		}
		sum += uint64(binary.BigEndian.Uint32(e[:]))
	}
	return sum, nil
}

// readTrun returns the total duration and size of a trun's samples.
func readTrun(h *gomp4.ReadHandle, rs io.ReadSeeker, defDur, defSize uint32) (dur, size uint64, err error) {
	br, n, err := payload(h, rs)
	if err != nil {
		return 0, 0, err
	}
	var hdr [8]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return 0, 0, errBadBox
	}
	flags := binary.BigEndian.Uint32(hdr[:]) & 0xFFFFFF
	count := binary.BigEndian.Uint32(hdr[4:])
	skip := 0
	if flags&0x1 != 0 {
		skip += 4
	}
	if flags&0x4 != 0 {
		skip += 4
	}
	if _, err := br.Discard(skip); err != nil {
		return 0, 0, errBadBox
	}
	entry := 0
	for _, f := range []uint32{0x100, 0x200, 0x400, 0x800} {
		if flags&f != 0 {
			entry += 4
		}
	}
	if entry == 0 {
		return uint64(count) * uint64(defDur), uint64(count) * uint64(defSize), nil
	}
	if int64(count) > (n-8-int64(skip))/int64(entry) {
		return 0, 0, errBadBox
	}
	var e [16]byte
	for range count {
		if _, err := io.ReadFull(br, e[:entry]); err != nil {
			return 0, 0, errBadBox
		}
		d, s, i := uint64(defDur), uint64(defSize), 0
		if flags&0x100 != 0 {
			d = uint64(binary.BigEndian.Uint32(e[i:]))
			i += 4
		}
		if flags&0x200 != 0 {
			s = uint64(binary.BigEndian.Uint32(e[i:]))
		}
		dur += d
		size += s
	}
	return dur, size, nil
}
