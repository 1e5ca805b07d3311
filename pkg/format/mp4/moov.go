package mp4

import (
	"math"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// appendMoov appends a moov box: with final false the fragmented one of
// NewWriter (empty sample tables, mvex), with final true the progressive
// one of Close (complete sample tables, no mvex).
func (w *Writer) appendMoov(b *builder, final bool) {
	ct := mp4Time(w.opts.CreationTime)
	var dur uint64
	if final {
		dur = w.movieDuration()
	}
	moov := b.start("moov")

	v := version(ct, dur)
	mvhd := b.full("mvhd", v, 0)
	b.u32or64(v, ct)
	b.u32or64(v, ct)
	b.u32(movieTimescale)
	b.u32or64(v, dur)
	b.u32(0x00010000) // rate 1.0
	b.u16(0x0100)     // volume 1.0
	b.zeros(10)
	b.matrix()
	b.zeros(24)
	b.u32(uint32(len(w.tracks) + 1)) // next_track_ID
	b.end(mvhd)

	for _, t := range w.tracks {
		w.appendTrak(b, t, ct, final)
	}

	if !final {
		mvex := b.start("mvex")
		for _, t := range w.tracks {
			trex := b.full("trex", 0, 0)
			b.u32(t.id)
			b.u32(1) // default_sample_description_index
			b.u32(0) // default_sample_duration
			b.u32(0) // default_sample_size
			if t.video {
				b.u32(flagsNonSync)
			} else {
				b.u32(flagsSync)
			}
			b.end(trex)
		}
		b.end(mvex)
	}
	b.end(moov)
}

// mp4Time is t in seconds since 1904-01-01 UTC, or 0 for the zero time.
func mp4Time(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	const epochDelta = 2082844800 // 1904-01-01 to 1970-01-01
	s := t.Unix() + epochDelta
	if s < 0 {
		return 0
	}
	return uint64(s)
}

// trackTimes returns, in the movie timescale, the empty time before a
// track's first sample and the presentation length of its samples.
func trackTimes(t *track) (empty, span uint64) {
	return rescale(t.first, t.scale, movieTimescale), rescaleUp(t.tab.presEnd, t.scale, movieTimescale)
}

// movieDuration is the length of the longest track, in the movie timescale.
func (w *Writer) movieDuration() uint64 {
	var d uint64
	for _, t := range w.tracks {
		empty, span := trackTimes(t)
		d = max(d, empty+span)
	}
	return d
}

func (w *Writer) appendTrak(b *builder, t *track, ct uint64, final bool) {
	var empty, mediaDur, mdhdDur uint64
	if final {
		empty, mediaDur = trackTimes(t)
		mdhdDur = t.tab.decodeEnd
	}
	trak := b.start("trak")

	v := version(ct, empty+mediaDur)
	tkhd := b.full("tkhd", v, 3) // enabled, in movie
	b.u32or64(v, ct)
	b.u32or64(v, ct)
	b.u32(t.id)
	b.u32(0)
	b.u32or64(v, empty+mediaDur)
	b.zeros(8)
	b.u16(0) // layer
	b.u16(0) // alternate_group
	if t.video {
		b.u16(0)
	} else {
		b.u16(0x0100)
	}
	b.u16(0)
	b.matrix()
	if t.video {
		b.u32(uint32(t.m.Width) << 16)
		b.u32(uint32(t.m.Height) << 16)
	} else {
		b.u32(0)
		b.u32(0)
	}
	b.end(tkhd)

	if final && empty > 0 {
		// The track starts after the file's time zero (audio before video,
		// say): an empty edit keeps that offset.
		edts := b.start("edts")
		v := version(empty, mediaDur)
		elst := b.full("elst", v, 0)
		b.u32(2)
		b.u32or64(v, empty)
		if v == 1 {
			b.u64(math.MaxUint64) // media_time -1: empty edit
		} else {
			b.u32(math.MaxUint32)
		}
		b.u32(0x00010000) // media_rate 1.0
		b.u32or64(v, mediaDur)
		b.u32or64(v, 0) // media_time 0
		b.u32(0x00010000)
		b.end(elst)
		b.end(edts)
	}

	mdia := b.start("mdia")
	v = version(ct, mdhdDur)
	mdhd := b.full("mdhd", v, 0)
	b.u32or64(v, ct)
	b.u32or64(v, ct)
	b.u32(t.scale)
	b.u32or64(v, mdhdDur)
	b.u16(0x55c4) // language "und"
	b.u16(0)
	b.end(mdhd)

	hdlr := b.full("hdlr", 0, 0)
	b.u32(0)
	if t.video {
		b.str("vide")
	} else {
		b.str("soun")
	}
	b.zeros(12)
	if t.video {
		b.str("VideoHandler\x00")
	} else {
		b.str("SoundHandler\x00")
	}
	b.end(hdlr)

	minf := b.start("minf")
	if t.video {
		vmhd := b.full("vmhd", 0, 1)
		b.zeros(8)
		b.end(vmhd)
	} else {
		smhd := b.full("smhd", 0, 0)
		b.zeros(4)
		b.end(smhd)
	}
	dinf := b.start("dinf")
	dref := b.full("dref", 0, 0)
	b.u32(1)
	url := b.full("url ", 0, 1) // media in this file
	b.end(url)
	b.end(dref)
	b.end(dinf)
	w.appendStbl(b, t, final)
	b.end(minf)
	b.end(mdia)
	b.end(trak)
}

func (w *Writer) appendStbl(b *builder, t *track, final bool) {
	stbl := b.start("stbl")
	stsd := b.full("stsd", 0, 0)
	b.u32(1)
	appendSampleEntry(b, t)
	b.end(stsd)

	tab := &t.tab
	if !final {
		tab = &table{}
	}

	stts := b.full("stts", 0, 0)
	b.u32(uint32(len(tab.stts)))
	for _, e := range tab.stts {
		b.u32(e.count)
		b.u32(e.value)
	}
	b.end(stts)

	if tab.anyCTS {
		ctts := b.full("ctts", 0, 0)
		b.u32(uint32(len(tab.ctts)))
		for _, e := range tab.ctts {
			b.u32(e.count)
			b.u32(e.value)
		}
		b.end(ctts)
	}

	if t.video && !tab.allSync() {
		stss := b.full("stss", 0, 0)
		b.u32(uint32(len(tab.sync)))
		for _, n := range tab.sync {
			b.u32(n)
		}
		b.end(stss)
	}

	// One chunk per track run; consecutive runs of equal length share an
	// stsc entry.
	stsc := b.full("stsc", 0, 0)
	countPos := len(b.b)
	b.u32(0)
	var entries, last uint32
	for i, c := range tab.chunks {
		if i > 0 && c.count == last {
			continue
		}
		b.u32(uint32(i + 1)) // first_chunk
		b.u32(c.count)       // samples_per_chunk
		b.u32(1)             // sample_description_index
		entries++
		last = c.count
	}
	putU32(b.b[countPos:], entries)
	b.end(stsc)

	stsz := b.full("stsz", 0, 0)
	b.u32(0) // sample_size: sizes follow
	b.u32(uint32(len(tab.sizes)))
	for _, s := range tab.sizes {
		b.u32(s)
	}
	b.end(stsz)

	if tab.needsCo64() {
		co64 := b.full("co64", 0, 0)
		b.u32(uint32(len(tab.chunks)))
		for _, c := range tab.chunks {
			b.u64(c.offset)
		}
		b.end(co64)
	} else {
		stco := b.full("stco", 0, 0)
		b.u32(uint32(len(tab.chunks)))
		for _, c := range tab.chunks {
			b.u32(uint32(c.offset))
		}
		b.end(stco)
	}
	b.end(stbl)
}

// appendSampleEntry appends the avc1, hvc1, mp4a, alaw, ulaw, av01, vp09
// or Opus sample entry of t.
func appendSampleEntry(b *builder, t *track) {
	switch t.m.Codec {
	case media.CodecH264:
		appendVisualEntry(b, t, "avc1", "avcC")
	case media.CodecH265:
		appendVisualEntry(b, t, "hvc1", "hvcC")
	case media.CodecAAC:
		appendMP4A(b, t)
	case media.CodecG711A:
		e := appendAudioEntry(b, t, "alaw")
		b.end(e)
	case media.CodecG711U:
		e := appendAudioEntry(b, t, "ulaw")
		b.end(e)
	default:
		b.bytes(t.entry) // av01, vp09, Opus, mp4a (MP3): mediacommon's
	}
}

func appendVisualEntry(b *builder, t *track, typ, configType string) {
	e := b.start(typ)
	b.zeros(6)
	b.u16(1) // data_reference_index
	b.zeros(16)
	b.u16(uint16(t.m.Width))
	b.u16(uint16(t.m.Height))
	b.u32(0x00480000) // 72 dpi
	b.u32(0x00480000)
	b.u32(0)
	b.u16(1)    // frame_count
	b.zeros(32) // compressorname
	b.u16(0x0018)
	b.u16(0xffff) // pre_defined -1
	c := b.start(configType)
	b.bytes(t.config)
	b.end(c)
	b.end(e)
}

// appendAudioEntry opens an AudioSampleEntry (ISO/IEC 14496-12 12.2.3,
// version 0) of type typ and writes its fields; the caller appends any
// child box and closes it. G.711 ('alaw', 'ulaw', as ffmpeg and QuickTime
// name them) needs no child: the entry type, channel count and rate say
// everything. samplesize stays the template's 16, which readers ignore
// for G.711 (a byte per sample).
func appendAudioEntry(b *builder, t *track, typ string) int {
	e := b.start(typ)
	b.zeros(6)
	b.u16(1) // data_reference_index
	b.zeros(8)
	b.u16(uint16(t.m.Channels))
	b.u16(16) // samplesize
	b.zeros(4)
	if t.scale <= math.MaxUint16 {
		b.u32(t.scale << 16)
	} else {
		b.u32(0)
	}
	return e
}

func appendMP4A(b *builder, t *track) {
	e := appendAudioEntry(b, t, "mp4a")

	asc := t.config
	esds := b.full("esds", 0, 0)
	// ES_Descriptor: ES_ID, flags; DecoderConfigDescriptor with the
	// AudioSpecificConfig; SLConfigDescriptor. Lengths in the 4-byte form.
	dsiLen := 5 + len(asc)
	dcdLen := 13 + dsiLen
	esLen := 3 + 5 + dcdLen + 5 + 1
	descriptor(b, 0x03, esLen)
	b.u16(uint16(t.id))
	b.u8(0)
	descriptor(b, 0x04, dcdLen)
	b.u8(0x40) // objectTypeIndication: MPEG-4 audio
	b.u8(0x15) // streamType audio, upstream 0, reserved 1
	b.u24(0)   // bufferSizeDB
	b.u32(0)   // maxBitrate
	b.u32(0)   // avgBitrate
	descriptor(b, 0x05, len(asc))
	b.bytes(asc)
	descriptor(b, 0x06, 1)
	b.u8(0x02) // predefined: MP4
	b.end(esds)
	b.end(e)
}

// descriptor appends an MPEG-4 descriptor tag and its length.
func descriptor(b *builder, tag byte, n int) {
	b.u8(tag)
	b.u8(byte(n>>21)&0x7f | 0x80)
	b.u8(byte(n>>14)&0x7f | 0x80)
	b.u8(byte(n>>7)&0x7f | 0x80)
	b.u8(byte(n) & 0x7f)
}
