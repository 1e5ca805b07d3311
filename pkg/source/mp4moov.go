package source

import (
	"bytes"
	"fmt"
	"io"
	"time"

	gomp4 "github.com/abema/go-mp4"

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
	asc        []byte
	aacObject  byte // esds objectTypeIndication
	elstEmpty  uint64
	elstMedia  int64
	elstSet    bool

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
		return nil, fmt.Errorf("no H.264, H.265 or AAC track: %w", errMP4)
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
	case gomp4.BoxTypeAvcC(), gomp4.BoxTypeHvcC():
		b, err := p.data(h, 1<<20)
		if err != nil {
			return nil, err
		}
		if typ == gomp4.BoxTypeAvcC() {
			t.avcC = b
		} else {
			t.hvcC = b
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
			if mp4Entries[typ] {
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
	case t.handler == "soun" && t.entry == "mp4a":
		// 0x40 is MPEG-4 audio, 0x66-0x68 MPEG-2 AAC; 0x69 and 0x6b are
		// MP3, which mediakit's outputs do not carry.
		if o := t.aacObject; o != 0x40 && (o < 0x66 || o > 0x68) {
			return fmt.Errorf("mp4a object type 0x%02x is not AAC", o)
		}
		var err error
		t.track, err = media.NewAACTrack(t.asc)
		return err
	case t.handler != "vide" && t.handler != "soun":
		return fmt.Errorf("not audio or video (handler %q)", t.handler)
	}
	return fmt.Errorf("codec %q: mediakit carries H.264, H.265 and AAC", t.entry)
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
