package source

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	gomp4 "github.com/abema/go-mp4"
)

// tfhd and trun flags (ISO/IEC 14496-12 8.8.7, 8.8.8).
const (
	tfhdBaseDataOffset  = 0x000001
	tfhdDuration        = 0x000008
	tfhdSize            = 0x000010
	tfhdFlags           = 0x000020
	tfhdDefaultBaseMoof = 0x020000

	trunDataOffset = 0x000001
	trunFirstFlags = 0x000004
	trunDuration   = 0x000100
	trunSize       = 0x000200
	trunFlags      = 0x000400
	trunCTS        = 0x000800

	sampleNonSync = 0x00010000
)

// parseMoof reads the movie fragment at off and returns its samples of
// the movie's tracks in decode order.
func parseMoof(r mp4Input, mv *mp4Movie, off, size int64) (samples []mp4Sample, err error) {
	defer func() {
		if p := recover(); p != nil {
			samples, err = nil, fmt.Errorf("%v: %w", p, errMP4)
		}
	}()
	if _, err := r.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	bi, err := gomp4.ReadBoxInfo(r)
	if err != nil {
		return nil, err
	}
	p := &moofParser{r: r, mv: mv, moof: off, size: size, nextBase: off}
	if _, err := gomp4.ReadBoxStructureFromInternal(r, bi, p.handle); err != nil {
		return nil, err
	}
	// Tracks have fragments of their own in one moof: merge them.
	slices.SortStableFunc(p.samples, func(a, b mp4Sample) int {
		switch {
		case a.dts < b.dts:
			return -1
		case a.dts > b.dts:
			return 1
		}
		return 0
	})
	return p.samples, nil
}

type moofParser struct {
	r        mp4Input
	mv       *mp4Movie
	moof     int64
	size     int64
	samples  []mp4Sample
	count    int   // samples declared by the truns of this moof
	nextBase int64 // base offset of a traf without its own: the end of the previous one's data

	// the traf being read
	tfhd    *gomp4.Tfhd
	track   *mp4Track
	dts     int64
	dataEnd int64 // where a trun without a data offset starts
}

func (p *moofParser) handle(h *gomp4.ReadHandle) (any, error) {
	bi := h.BoxInfo
	if bi.Size < bi.HeaderSize {
		return nil, fmt.Errorf("box %s: size %d smaller than its header: %w", bi.Type, bi.Size, errMP4)
	}
	switch bi.Type {
	case gomp4.BoxTypeMoof():
		return h.Expand()
	case gomp4.BoxTypeTraf():
		p.tfhd, p.track = nil, nil
		_, err := h.Expand()
		if p.track != nil {
			p.track.fragNext = p.dts
		}
		p.nextBase = p.dataEnd
		return nil, err
	case gomp4.BoxTypeTfhd():
		box, _, err := h.ReadPayload()
		if err != nil {
			return nil, err
		}
		p.tfhd = box.(*gomp4.Tfhd)
		flags := p.tfhd.GetFlags()
		base := p.nextBase
		switch {
		case flags&tfhdBaseDataOffset != 0:
			if p.tfhd.BaseDataOffset > uint64(p.size) {
				return nil, fmt.Errorf("tfhd base data offset %d beyond the file: %w", p.tfhd.BaseDataOffset, errMP4)
			}
			base = int64(p.tfhd.BaseDataOffset)
		case flags&tfhdDefaultBaseMoof != 0:
			base = p.moof
		}
		p.dataEnd = base
		p.track = p.mv.byID[p.tfhd.TrackID]
		if p.track != nil {
			p.dts = p.track.fragNext
		}
	case gomp4.BoxTypeTfdt():
		box, _, err := h.ReadPayload()
		if err != nil {
			return nil, err
		}
		if t := box.(*gomp4.Tfdt).GetBaseMediaDecodeTime(); t < 1<<62 {
			p.dts = int64(t)
		}
	case gomp4.BoxTypeTrun():
		if p.tfhd == nil {
			return nil, fmt.Errorf("trun before tfhd: %w", errMP4)
		}
		n := bi.Size - bi.HeaderSize
		if n > maxMoofSize || bi.Offset+bi.Size > uint64(p.size) {
			return nil, fmt.Errorf("trun of %d bytes: %w", n, errMP4)
		}
		b := make([]byte, n)
		if _, err := p.r.ReadAt(b, int64(bi.Offset+bi.HeaderSize)); err != nil {
			return nil, err
		}
		return nil, p.trun(b)
	}
	return nil, nil
}

// trun adds the samples of a track run.
func (p *moofParser) trun(b []byte) error {
	if len(b) < 8 {
		return fmt.Errorf("trun of %d bytes: %w", len(b), errMP4)
	}
	version := b[0]
	flags := uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	count := binary.BigEndian.Uint32(b[4:8])
	b = b[8:]
	next := func() uint32 {
		v := binary.BigEndian.Uint32(b)
		b = b[4:]
		return v
	}
	if flags&trunDataOffset != 0 {
		if len(b) < 4 {
			return fmt.Errorf("trun: %w", io.ErrUnexpectedEOF)
		}
		// relative to the traf's base, not to the previous run
		p.dataEnd = p.base() + int64(int32(next()))
	}
	var firstFlags uint32
	hasFirst := flags&trunFirstFlags != 0
	if hasFirst {
		if len(b) < 4 {
			return fmt.Errorf("trun: %w", io.ErrUnexpectedEOF)
		}
		firstFlags = next()
	}
	entry := 0
	for _, f := range []uint32{trunDuration, trunSize, trunFlags, trunCTS} {
		if flags&f != 0 {
			entry += 4
		}
	}
	if entry > 0 && uint64(count)*uint64(entry) > uint64(len(b)) {
		return fmt.Errorf("trun: %d samples in %d bytes: %w", count, len(b), errMP4)
	}
	if p.count += int(count); count > maxFragSamples || p.count > maxFragSamples {
		return fmt.Errorf("more than %d samples in one fragment: %w", maxFragSamples, errMP4)
	}

	t, tf := p.track, p.tfhd
	def := trexDefaults{}
	if t != nil {
		def = p.mv.trex[t.id]
	}
	tflags := tf.GetFlags()
	if tflags&tfhdDuration != 0 {
		def.duration = tf.DefaultSampleDuration
	}
	if tflags&tfhdSize != 0 {
		def.size = tf.DefaultSampleSize
	}
	if tflags&tfhdFlags != 0 {
		def.flags = tf.DefaultSampleFlags
	}
	if entry == 0 && def.size == 0 {
		// samples without data: only their time counts
		p.dts += int64(count) * int64(def.duration)
		return nil
	}
	for i := uint32(0); i < count; i++ {
		dur, size, sflags, cts := def.duration, def.size, def.flags, int32(0)
		if flags&trunDuration != 0 {
			dur = next()
		}
		if flags&trunSize != 0 {
			size = next()
		}
		if flags&trunFlags != 0 {
			sflags = next()
		}
		if flags&trunCTS != 0 {
			v := next()
			cts = int32(v)
			if version == 0 && v > 1<<31 {
				cts = 0 // unsigned in version 0: a huge offset is damage
			}
		}
		if i == 0 && hasFirst {
			sflags = firstFlags
		}
		off := p.dataEnd
		p.dataEnd += int64(size)
		if p.dataEnd > p.size {
			return fmt.Errorf("trun sample %d of %d bytes at byte %d, past the end of the file: %w", i, size, off, io.ErrUnexpectedEOF)
		}
		dts := p.dts
		p.dts += int64(dur)
		if t == nil || size == 0 {
			continue
		}
		p.samples = append(p.samples, mp4Sample{
			t:    t,
			off:  off,
			size: size,
			dts:  ticks(dts, t.scale) + t.shift,
			cts:  ticks(int64(cts), t.scale),
			key:  sflags&sampleNonSync == 0,
		})
	}
	return nil
}

// base is the data offset base of the current traf.
func (p *moofParser) base() int64 {
	flags := p.tfhd.GetFlags()
	switch {
	case flags&tfhdBaseDataOffset != 0:
		return int64(p.tfhd.BaseDataOffset)
	case flags&tfhdDefaultBaseMoof != 0:
		return p.moof
	}
	return p.nextBase
}
