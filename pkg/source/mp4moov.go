package source

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"time"

	gomp4 "github.com/abema/go-mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"

	"github.com/mediakit/mediakit/pkg/media"
)

// mp4Movie is what the reader keeps of a moov: the tracks it can carry.
type mp4Movie struct {
	scale  uint32 // movie timescale (edit list durations)
	tracks []*mp4Track
	byID   map[uint32]*mp4Track
	trex   map[uint32]trexDefaults
}

// trexDefaults are a track's fragment sample defaults (mvex/trex).
type trexDefaults struct {
	duration, size, flags uint32
}

// mp4Track is one track of a moov, with its sample tables as stored.
type mp4Track struct {
	id         uint32
	handler    string // "vide", "soun", ...
	entry      string // sample entry type: "avc1", "mp4a", ...
	scale      uint32 // media timescale
	track      *media.Track
	lengthSize int
	shift      time.Duration // edit list: media time to presentation time

	avcC, hvcC []byte
	av1C, vpcC []byte
	dOps       []byte
	asc        []byte
	aacObject  byte // esds objectTypeIndication
	// From the sample entry: a visual entry's size, an audio entry's
	// channel count and rate (0 where the entry does not say).
	width, height  int
	channels, rate int
	// pcmGroup, for G.711, is how many bytes of consecutive samples of
	// a chunk make one frame: QuickTime stores a sample per byte.
	pcmGroup  uint32
	elstEmpty uint64
	elstMedia int64
	elstSet   bool

	tables   sampleTables
	fragNext int64 // decode time (media ticks) where the next fragment continues without a tfdt
}

// parseMoov reads the moov box at off with go-mp4 and keeps the first
// H.264 or H.265 track and the first AAC track; others are dropped with a
// warning.
func parseMoov(fd *feed, r mp4Input, off, size int64, qt bool) (mv *mp4Movie, err error) {
	defer func() {
		// go-mp4 reads untrusted bytes; a panic there must not end the
		// process.
		if p := recover(); p != nil {
			mv, err = nil, fmt.Errorf("%v: %w", p, errMP4)
		}
	}()
	if _, err := r.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	bi, err := gomp4.ReadBoxInfo(r)
	if err != nil {
		return nil, err
	}
	bi.IsQuickTimeCompatible = qt
	p := &moovParser{r: r, size: size, mv: &mp4Movie{byID: map[uint32]*mp4Track{}, trex: map[uint32]trexDefaults{}}}
	if _, err := gomp4.ReadBoxStructureFromInternal(r, bi, p.handle); err != nil {
		return nil, err
	}
	var video, audio *mp4Track
	for _, t := range p.all {
		if err := t.build(); err != nil {
			fd.warnOnce("mp4-track-"+t.entry+err.Error(), "source: MP4 track dropped", "track", t.id, "entry", t.entry, "reason", err.Error())
			continue
		}
		switch t.track.Kind() {
		case media.KindVideo:
			if video == nil {
				video = t
				continue
			}
		case media.KindAudio:
			if audio == nil {
				audio = t
				continue
			}
		}
		fd.warnOnce("mp4-extra-"+t.track.Kind().String(), "source: MP4 has more than one track of a kind; the first is used",
			"kind", t.track.Kind().String(), "dropped", t.id)
	}
	for _, t := range []*mp4Track{video, audio} {
		if t != nil {
			p.mv.tracks = append(p.mv.tracks, t)
			p.mv.byID[t.id] = t
		}
	}
	if len(p.mv.tracks) == 0 {
		return nil, fmt.Errorf("no track mediakit reads (H.264, H.265, AV1, VP9, AAC, MP3, Opus, G.711): %w", errMP4)
	}
	p.mv.applyEdits()
	return p.mv, nil
}

type moovParser struct {
	r    mp4Input
	size int64
	mv   *mp4Movie
	all  []*mp4Track
	cur  *mp4Track
}

// Boxes whose children the reader needs.
var mp4Containers = map[gomp4.BoxType]bool{
	gomp4.BoxTypeMoov(): true, gomp4.BoxTypeMdia(): true, gomp4.BoxTypeMinf(): true,
	gomp4.BoxTypeStbl(): true, gomp4.BoxTypeEdts(): true, gomp4.BoxTypeMvex(): true,
	gomp4.BoxTypeWave(): true,
}

// Sample entries the reader can use; others name the codec in a warning.
var mp4Entries = map[gomp4.BoxType]bool{
	gomp4.BoxTypeAvc1(): true, gomp4.BoxTypeHvc1(): true, gomp4.BoxTypeHev1(): true, gomp4.BoxTypeMp4a(): true,
	gomp4.BoxTypeAv01(): true, gomp4.BoxTypeVp09(): true, gomp4.BoxTypeOpus(): true,
}

// G.711 sample entries, which go-mp4 does not know: their fields are
// read from the raw entry.
var mp4G711Entries = map[gomp4.BoxType]media.Codec{
	gomp4.StrToBoxType("alaw"): media.CodecG711A, gomp4.StrToBoxType("ulaw"): media.CodecG711U,
}

func (p *moovParser) handle(h *gomp4.ReadHandle) (any, error) {
	bi := h.BoxInfo
	if bi.Size < bi.HeaderSize {
		return nil, fmt.Errorf("box %s: size %d smaller than its header: %w", bi.Type, bi.Size, errMP4)
	}
	typ := bi.Type
	if mp4Containers[typ] {
		return h.Expand()
	}
	if typ == gomp4.BoxTypeTrak() {
		if p.cur != nil {
			return nil, fmt.Errorf("trak within a trak: %w", errMP4)
		}
		p.cur = &mp4Track{}
		defer func() { p.cur = nil }()
		if _, err := h.Expand(); err != nil {
			return nil, err
		}
		p.all = append(p.all, p.cur)
		return nil, nil
	}
	if typ == gomp4.BoxTypeMvhd() {
		box, _, err := h.ReadPayload()
		if err != nil {
			return nil, err
		}
		p.mv.scale = box.(*gomp4.Mvhd).Timescale
		return nil, nil
	}
	if typ == gomp4.BoxTypeTrex() {
		box, _, err := h.ReadPayload()
		if err != nil {
			return nil, err
		}
		x := box.(*gomp4.Trex)
		p.mv.trex[x.TrackID] = trexDefaults{x.DefaultSampleDuration, x.DefaultSampleSize, x.DefaultSampleFlags}
		return nil, nil
	}
	t := p.cur
	if t == nil {
		return nil, nil // a track box outside a trak: ignored
	}
	switch typ {
	case gomp4.BoxTypeTkhd():
		box, _, err := h.ReadPayload()
		if err != nil {
			return nil, err
		}
		t.id = box.(*gomp4.Tkhd).TrackID
	case gomp4.BoxTypeMdhd():
		box, _, err := h.ReadPayload()
		if err != nil {
			return nil, err
		}
		t.scale = box.(*gomp4.Mdhd).Timescale
	case gomp4.BoxTypeHdlr():
		if len(h.Path) < 2 || h.Path[len(h.Path)-2] != gomp4.BoxTypeMdia() {
			return nil, nil // QuickTime's data handler in minf
		}
		box, _, err := h.ReadPayload()
		if err != nil {
			return nil, err
		}
		t.handler = string(box.(*gomp4.Hdlr).HandlerType[:])
	case gomp4.BoxTypeElst():
		box, _, err := h.ReadPayload()
		if err != nil {
			return nil, err
		}
		t.edits(box.(*gomp4.Elst))
	case gomp4.BoxTypeStsd():
		if t.entry != "" {
			return nil, nil
		}
		return h.Expand()
	case gomp4.BoxTypeAvcC(), gomp4.BoxTypeHvcC(), gomp4.BoxTypeAv1C(), gomp4.BoxTypeVpcC(), gomp4.BoxTypeDOps():
		b, err := p.data(h, 1<<20)
		if err != nil {
			return nil, err
		}
		switch typ {
		case gomp4.BoxTypeAvcC():
			t.avcC = b
		case gomp4.BoxTypeHvcC():
			t.hvcC = b
		case gomp4.BoxTypeAv1C():
			t.av1C = b
		case gomp4.BoxTypeVpcC():
			t.vpcC = b
		default:
			t.dOps = b
		}
	case gomp4.BoxTypeEsds():
		box, _, err := h.ReadPayload()
		if err != nil {
			return nil, err
		}
		for _, d := range box.(*gomp4.Esds).Descriptors {
			switch {
			case d.DecoderConfigDescriptor != nil:
				t.aacObject = d.DecoderConfigDescriptor.ObjectTypeIndication
			case d.Tag == gomp4.DecSpecificInfoTag && t.asc == nil:
				t.asc = bytes.Clone(d.Data)
			}
		}
	case gomp4.BoxTypeStts(), gomp4.BoxTypeCtts(), gomp4.BoxTypeStss(), gomp4.BoxTypeStsz(),
		gomp4.BoxTypeStsc(), gomp4.BoxTypeStco(), gomp4.BoxTypeCo64():
		b, err := p.data(h, maxMoovSize)
		if err != nil {
			return nil, err
		}
		if err := t.tables.set(typ.String(), b); err != nil {
			return nil, fmt.Errorf("%s: %w", typ, err)
		}
	default:
		// The first sample entry of the stsd names the codec.
		if t.entry == "" && len(h.Path) >= 2 && h.Path[len(h.Path)-2] == gomp4.BoxTypeStsd() {
			t.entry = typ.String()
			if _, ok := mp4G711Entries[typ]; ok {
				b, err := p.data(h, 1<<16)
				if err != nil {
					return nil, err
				}
				t.channels, t.rate = audioEntryFields(b)
				return nil, nil
			}
			if mp4Entries[typ] {
				box, _, err := h.ReadPayload()
				if err != nil {
					return nil, err
				}
				switch e := box.(type) {
				case *gomp4.VisualSampleEntry:
					t.width, t.height = int(e.Width), int(e.Height)
				case *gomp4.AudioSampleEntry:
					t.channels, t.rate = int(e.ChannelCount), int(e.GetSampleRateInt())
				}
				return h.Expand()
			}
		}
	}
	return nil, nil
}

// data returns a box's payload, at most limit bytes and within the file.
func (p *moovParser) data(h *gomp4.ReadHandle, limit uint64) ([]byte, error) {
	bi := h.BoxInfo
	n := bi.Size - bi.HeaderSize
	if n > limit || bi.Offset+bi.Size > uint64(p.size) {
		return nil, fmt.Errorf("box %s of %d bytes at byte %d: larger than the file or %d bytes", bi.Type, bi.Size, bi.Offset, limit)
	}
	buf := bytes.NewBuffer(make([]byte, 0, n))
	if _, err := h.ReadData(buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// edits keeps what the reader applies of an edit list: a leading empty
// edit (a delay) and the media time where the first real edit starts
// (the encoder delay it hides). Later edits are not followed: players of
// live streams do not either.
func (t *mp4Track) edits(e *gomp4.Elst) {
	for i := range e.Entries {
		mt := e.GetMediaTime(i)
		if mt == -1 {
			t.elstEmpty += e.GetSegmentDuration(i)
			continue
		}
		t.elstMedia, t.elstSet = mt, true
		return
	}
}

// build makes the media.Track of t from its sample entry.
func (t *mp4Track) build() error {
	if t.scale == 0 {
		return fmt.Errorf("no media timescale")
	}
	switch {
	case t.handler == "vide" && t.entry == "avc1":
		c, err := media.ParseAVCConfig(t.avcC)
		if err != nil {
			return err
		}
		if len(c.SPS) == 0 || len(c.PPS) == 0 {
			return fmt.Errorf("avcC without SPS or PPS")
		}
		t.lengthSize = c.LengthSize
		t.track, err = media.NewH264Track(c.SPS[0], c.PPS[0])
		return err
	case t.handler == "vide" && (t.entry == "hvc1" || t.entry == "hev1"):
		c, err := media.ParseHEVCConfig(t.hvcC)
		if err != nil {
			return err
		}
		if len(c.VPS) == 0 || len(c.SPS) == 0 || len(c.PPS) == 0 {
			return fmt.Errorf("hvcC without VPS, SPS or PPS")
		}
		t.lengthSize = c.LengthSize
		t.track, err = media.NewH265Track(c.VPS[0], c.SPS[0], c.PPS[0])
		return err
	case t.handler == "vide" && t.entry == "av01":
		seq, err := av1SequenceHeader(t.av1C)
		if err != nil {
			return err
		}
		t.lengthSize = 4 // no NAL units to convert
		t.track, err = media.NewAV1Track(seq)
		return err
	case t.handler == "vide" && t.entry == "vp09":
		// vpcC (VP Codec ISO Media File Format Binding 2.2): a full
		// box, profile, level, then bitDepth(4) chromaSubsampling(3)
		// videoFullRangeFlag(1).
		if len(t.vpcC) < 7 {
			return fmt.Errorf("vp09 without a vpcC box")
		}
		t.lengthSize = 4
		var err error
		t.track, err = media.NewVP9Track(t.width, t.height, media.VP9Params{
			Profile: t.vpcC[4], BitDepth: t.vpcC[6] >> 4, ChromaSubsampling: (t.vpcC[6] >> 1) & 7, FullRange: t.vpcC[6]&1 == 1,
		})
		return err
	case t.handler == "soun" && t.entry == "Opus":
		// dOps: Version, OutputChannelCount, ...; channel mapping
		// family 0 (mono or stereo) is what Opus outputs carry.
		ch := t.channels
		if len(t.dOps) >= 2 && t.dOps[1] > 0 {
			ch = int(t.dOps[1])
		}
		if ch > 2 {
			return fmt.Errorf("Opus with %d channels: mediakit carries mono and stereo", ch)
		}
		var err error
		t.track, err = media.NewOpusTrack(max(ch, 1))
		return err
	case t.handler == "soun" && (t.entry == "alaw" || t.entry == "ulaw"):
		if t.rate <= 0 || t.channels <= 0 {
			return fmt.Errorf("%s entry without a rate or channel count", t.entry)
		}
		var err error
		t.track, err = media.NewG711Track(mp4G711Entries[gomp4.StrToBoxType(t.entry)], t.rate, t.channels)
		// 20 ms frames, as RTP and FLV carry G.711.
		t.pcmGroup = uint32(max(1, t.rate/50*t.channels))
		return err
	case t.handler == "soun" && t.entry == "mp4a" && (t.aacObject == 0x6b || t.aacObject == 0x69):
		// MP3 (MPEG-1 or MPEG-2 audio, layer III as MP4 files hold it).
		if t.rate <= 0 {
			return fmt.Errorf("MP3 entry without a sample rate")
		}
		t.track = &media.Track{Codec: media.CodecMP3, SampleRate: t.rate, Channels: max(1, min(t.channels, 2))}
		return nil
	case t.handler == "soun" && t.entry == "mp4a":
		// 0x40 is MPEG-4 audio, 0x66-0x68 MPEG-2 AAC.
		if o := t.aacObject; o != 0x40 && (o < 0x66 || o > 0x68) {
			return fmt.Errorf("mp4a object type 0x%02x is not AAC or MP3", o)
		}
		var err error
		t.track, err = media.NewAACTrack(t.asc)
		return err
	case t.handler != "vide" && t.handler != "soun":
		return fmt.Errorf("not audio or video (handler %q)", t.handler)
	}
	return fmt.Errorf("codec %q: mediakit reads H.264, H.265, AV1, VP9, AAC, MP3, Opus and G.711 from MP4", t.entry)
}

// av1SequenceHeader returns the sequence header OBU of an av1C box's
// configOBUs (after its 4 bytes of fields).
func av1SequenceHeader(av1C []byte) ([]byte, error) {
	if len(av1C) < 4 || av1C[0]&0x80 == 0 {
		return nil, fmt.Errorf("av01 without a valid av1C box")
	}
	var obus av1.Bitstream
	if len(av1C) > 4 {
		if err := obus.Unmarshal(av1C[4:]); err != nil {
			return nil, fmt.Errorf("av1C configOBUs: %w", err)
		}
	}
	for _, o := range obus {
		if len(o) > 0 && av1.OBUType((o[0]>>3)&0xf) == av1.OBUTypeSequenceHeader {
			return o, nil
		}
	}
	return nil, fmt.Errorf("av1C without a sequence header OBU")
}

// audioEntryFields reads the channel count and rate of a raw sound
// sample entry (ISO AudioSampleEntry, or QuickTime's of version 0 or 1,
// which share these fields; version 2 moves them).
func audioEntryFields(b []byte) (channels, rate int) {
	if len(b) < 28 {
		return 0, 0
	}
	if version := int(b[8])<<8 | int(b[9]); version == 2 {
		// QuickTime v2: sizeOfStructOnly(4) rate(float64) channels(4).
		if len(b) < 48 {
			return 0, 0
		}
		r := math.Float64frombits(binary.BigEndian.Uint64(b[32:40]))
		if r < 1 || r > 1<<20 {
			return 0, 0
		}
		return int(binary.BigEndian.Uint32(b[40:44])), int(r)
	}
	return int(binary.BigEndian.Uint16(b[16:18])), int(binary.BigEndian.Uint16(b[24:26]))
}

// applyEdits turns each track's edit list into a shift of its times, then
// moves every track by the same amount so that none starts before zero
// (an encoder delay hidden by the edit list would, as ffprobe shows it).
func (mv *mp4Movie) applyEdits() {
	low := time.Duration(0)
	for _, t := range mv.tracks {
		t.shift = ticks(int64(min(t.elstEmpty, 1<<62)), mv.scale)
		if t.elstSet {
			t.shift -= ticks(t.elstMedia, t.scale)
		}
		low = min(low, t.shift)
	}
	for _, t := range mv.tracks {
		t.shift -= low
	}
}
