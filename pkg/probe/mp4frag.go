package probe

import (
	"encoding/binary"
	"errors"
	"io"
)

// MP4 durations, sizes and frame rates come from the movie's headers
// only: mvhd, each trak's tkhd, mdhd, hdlr, elst, stts and stsz, and for
// fragmented files every moof's tfhd, tfdt and trun; mdat is skipped
// unread. The walk is by hand over a buffered reader (see bufReadSeeker):
// go-mp4's generic box reader allocates and seeks per box, which on a
// long fragmented file (thousands of moofs) cost more than ffprobe's
// whole run. Boxes whose entry count could be hostile (stsz, stts, trun)
// are read as a stream of entries bounded by the box's own size; other
// payloads only when small.

// maxSmallBox bounds the payloads read whole.
const maxSmallBox = 1 << 20

// Bounds on the walk: box nesting (a real file nests 6 deep) and tracks.
const (
	maxBoxDepth = 12
	maxTracks   = 64
)

type mp4Track struct {
	id         uint32
	handler    string // mdia's hdlr: "vide", "soun", ...
	timescale  uint32
	duration   uint64 // mdhd
	editDur    uint64 // sum of the edit list's media segments, movie timescale
	sampleSize uint64 // stsz sum
	// stts: entry count, the first two entries, and totals (ffmpeg's
	// nb_frames_for_fps and duration_for_fps)
	sttsEntries          uint32
	sttsDelta0, sttsCnt1 uint32
	frames, frameDur     uint64 // stts and trun samples, and their duration
	fragEnd              uint64 // fragments: the last sample's end, track timescale
	fragSize             uint64
	fragDeltas           map[uint32]uint64 // trun sample durations: count of each (a few)
}

// maxFragDeltas bounds mp4Track.fragDeltas.
const maxFragDeltas = 16

// addDeltas counts n samples of duration d.
func (t *mp4Track) addDeltas(d uint32, n uint64) {
	if t.fragDeltas == nil {
		t.fragDeltas = map[uint32]uint64{}
	}
	if _, ok := t.fragDeltas[d]; ok || len(t.fragDeltas) < maxFragDeltas {
		t.fragDeltas[d] += n
	}
}

// fragDelta is the most common sample duration of the track's fragments
// (the shortest of equally common ones), 0 if none.
func (t *mp4Track) fragDelta() uint32 {
	var best uint32
	var bestN uint64
	for d, n := range t.fragDeltas {
		if d > 0 && (n > bestN || n == bestN && d < best) {
			best, bestN = d, n
		}
	}
	return best
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

type defaults struct{ dur, size uint32 }

// mp4Walk is the state of one readMP4Info.
type mp4Walk struct {
	r       *bufReadSeeker
	info    *mp4Info
	trex    map[uint32]defaults
	trak    *mp4Track // the trak being read
	cur     *mp4Track // the traf's track
	def     defaults
	t       uint64 // the traf's decode time
	scratch []byte
}

// readMP4Info walks the boxes of the MP4 file ra of size bytes.
func readMP4Info(ra io.ReaderAt, size int64) (*mp4Info, error) {
	w := &mp4Walk{r: newBufReadSeeker(ra, size), info: &mp4Info{}, trex: map[uint32]defaults{}}
	return w.info, w.walk(0, size, "", 0)
}

// walk reads the boxes from off to end, children of a box of type parent.
func (w *mp4Walk) walk(off, end int64, parent string, depth int) error {
	if depth > maxBoxDepth {
		return errBadBox
	}
	var h [16]byte
	for off+8 <= end {
		// top level: read the header alone, as the box may be an mdat;
		// within a box, all of it is headers and tables
		w.r.Hint(end)
		if depth == 0 {
			w.r.Hint(off + 16)
		}
		if err := w.readAt(h[:8], off); err != nil {
			return err
		}
		size, hdr := int64(binary.BigEndian.Uint32(h[:4])), int64(8)
		typ := string(h[4:8])
		switch size {
		case 0: // to the end of the enclosing box (or file)
			size = end - off
		case 1:
			if off+16 > end {
				return errBadBox
			}
			if err := w.readAt(h[8:16], off+8); err != nil {
				return err
			}
			size, hdr = int64(binary.BigEndian.Uint64(h[8:16])), 16
		}
		if size < hdr {
			return errBadBox
		}
		// a box running past its parent: a truncated file's last box
		// (mdat, usually); read what there is
		size = min(size, end-off)
		if err := w.box(typ, parent, off+hdr, off+size, depth); err != nil {
			return err
		}
		off += size
	}
	return nil
}

// box handles one box whose payload is [start, end).
func (w *mp4Walk) box(typ, parent string, start, end int64, depth int) error {
	n := end - start
	switch typ {
	case "moov", "mvex", "moof", "mdia", "minf", "stbl", "edts":
		return w.walk(start, end, typ, depth+1)
	case "trak":
		if len(w.info.tracks) >= maxTracks {
			return errBadBox
		}
		w.trak = &mp4Track{}
		w.info.tracks = append(w.info.tracks, w.trak)
		return w.walk(start, end, typ, depth+1)
	case "traf":
		w.cur = nil
		return w.walk(start, end, typ, depth+1)
	case "stsz":
		if w.trak == nil {
			return nil
		}
		sum, err := w.stsz(start, n)
		w.trak.sampleSize = sum
		return err
	case "stts":
		if w.trak == nil {
			return nil
		}
		return w.stts(w.trak, start, n)
	case "trun":
		if w.cur == nil {
			return nil
		}
		return w.trun(start, n)
	case "mvhd", "tkhd", "hdlr", "mdhd", "elst", "trex", "tfhd", "tfdt":
	default:
		return nil
	}
	if n > maxSmallBox || n < 4 {
		return errBadBox
	}
	b, err := w.payload(start, n)
	if err != nil {
		return err
	}
	v1 := b[0] == 1
	flags := binary.BigEndian.Uint32(b[:4]) & 0xFFFFFF
	b = b[4:]
	// field reads; a box too short for them is malformed
	short := false
	u32 := func(i int) uint32 {
		if i+4 > len(b) {
			short = true
			return 0
		}
		return binary.BigEndian.Uint32(b[i:])
	}
	u64 := func(i int) uint64 {
		if i+8 > len(b) {
			short = true
			return 0
		}
		return binary.BigEndian.Uint64(b[i:])
	}
	// timescale and duration after the creation and modification times
	// (mvhd, mdhd)
	scaleDur := func() (uint32, uint64) {
		if v1 {
			return u32(16), u64(20)
		}
		return u32(8), uint64(u32(12))
	}
	switch typ {
	case "mvhd":
		w.info.timescale, w.info.duration = scaleDur()
	case "tkhd":
		if w.trak != nil && v1 {
			w.trak.id = u32(16)
		} else if w.trak != nil {
			w.trak.id = u32(8)
		}
	case "hdlr":
		// only the media handler: a QuickTime minf has a data handler
		// ('dhlr') of its own
		if w.trak != nil && parent == "mdia" {
			w.trak.handler = string(b[min(4, len(b)):min(8, len(b))])
		}
	case "mdhd":
		if w.trak != nil {
			w.trak.timescale, w.trak.duration = scaleDur()
		}
	case "elst":
		if w.trak == nil {
			break
		}
		count, size := int(u32(0)), 12
		if v1 {
			size = 20
		}
		if count > (len(b)-4)/size {
			return errBadBox
		}
		for i := range count {
			e := 4 + i*size
			sd, mt := uint64(u32(e)), int64(int32(u32(e+4)))
			if v1 {
				sd, mt = u64(e), int64(u64(e+8))
			}
			if mt >= 0 {
				w.trak.editDur += sd
			}
		}
	case "trex":
		w.trex[u32(0)] = defaults{u32(8), u32(12)}
	case "tfhd":
		id := u32(0)
		if short {
			return errBadBox
		}
		w.cur = w.info.track(id)
		if w.cur == nil {
			if len(w.info.tracks) >= maxTracks {
				return errBadBox
			}
			w.cur = &mp4Track{id: id}
			w.info.tracks = append(w.info.tracks, w.cur)
		}
		w.def = w.trex[id]
		i := 4
		if flags&0x1 != 0 { // base_data_offset
			i += 8
		}
		if flags&0x2 != 0 { // sample_description_index
			i += 4
		}
		if flags&0x8 != 0 {
			w.def.dur = u32(i)
			i += 4
		}
		if flags&0x10 != 0 {
			w.def.size = u32(i)
		}
		w.t = w.cur.fragEnd
	case "tfdt":
		if v1 {
			w.t = u64(0)
		} else {
			w.t = uint64(u32(0))
		}
	}
	if short {
		return errBadBox
	}
	return nil
}

// readAt reads len(p) bytes at off.
func (w *mp4Walk) readAt(p []byte, off int64) error {
	if _, err := w.r.Seek(off, io.SeekStart); err != nil {
		return err
	}
	if _, err := io.ReadFull(w.r, p); err != nil {
		return errBadBox
	}
	return nil
}

// payload reads n bytes at off into a scratch buffer reused by the walk.
func (w *mp4Walk) payload(off, n int64) ([]byte, error) {
	if int64(cap(w.scratch)) < n {
		w.scratch = make([]byte, n)
	}
	b := w.scratch[:n]
	w.r.Hint(off + n)
	return b, w.readAt(b, off)
}

// stream returns a reader of the n bytes at off.
func (w *mp4Walk) stream(off, n int64) (*io.LimitedReader, error) {
	if _, err := w.r.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	w.r.Hint(off + n)
	return &io.LimitedReader{R: w.r, N: n}, nil
}

// stsz sums the sample sizes of an stsz box.
func (w *mp4Walk) stsz(off, n int64) (uint64, error) {
	br, err := w.stream(off, n)
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

// stts adds up a trak's decoding time-to-sample entries.
func (w *mp4Walk) stts(t *mp4Track, off, n int64) error {
	br, err := w.stream(off, n)
	if err != nil {
		return err
	}
	var e [8]byte
	if _, err := io.ReadFull(br, e[:]); err != nil {
		return errBadBox
	}
	count := binary.BigEndian.Uint32(e[4:])
	if int64(count) > (n-8)/8 {
		return errBadBox
	}
	t.sttsEntries = count
	for i := range count {
		if _, err := io.ReadFull(br, e[:]); err != nil {
			return errBadBox
		}
		c, d := binary.BigEndian.Uint32(e[:]), binary.BigEndian.Uint32(e[4:])
		switch i {
		case 0:
			t.sttsDelta0 = d
		case 1:
			t.sttsCnt1 = c
		}
		t.frames += uint64(c)
		t.frameDur += uint64(c) * uint64(d)
	}
	return nil
}

// trun adds a track run's samples to the traf's track.
func (w *mp4Walk) trun(off, n int64) error {
	br, err := w.stream(off, n)
	if err != nil {
		return err
	}
	var hdr [8]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return errBadBox
	}
	flags := binary.BigEndian.Uint32(hdr[:]) & 0xFFFFFF
	count := binary.BigEndian.Uint32(hdr[4:])
	skip := 0
	if flags&0x1 != 0 { // data_offset
		skip += 4
	}
	if flags&0x4 != 0 { // first_sample_flags
		skip += 4
	}
	if _, err := io.ReadFull(br, hdr[:skip]); err != nil {
		return errBadBox
	}
	entry := 0
	for _, f := range []uint32{0x100, 0x200, 0x400, 0x800} {
		if flags&f != 0 {
			entry += 4
		}
	}
	t, def := w.cur, w.def
	var dur, size uint64
	if flags&0x100 == 0 {
		t.addDeltas(def.dur, uint64(count))
	}
	if entry == 0 {
		dur, size = uint64(count)*uint64(def.dur), uint64(count)*uint64(def.size)
	} else {
		if int64(count) > (n-8-int64(skip))/int64(entry) {
			return errBadBox
		}
		var e [16]byte
		for range count {
			if _, err := io.ReadFull(br, e[:entry]); err != nil {
				return errBadBox
			}
			d, s, i := uint64(def.dur), uint64(def.size), 0
			if flags&0x100 != 0 {
				d = uint64(binary.BigEndian.Uint32(e[i:]))
				i += 4
			}
			if flags&0x200 != 0 {
				s = uint64(binary.BigEndian.Uint32(e[i:]))
			}
			if flags&0x100 != 0 {
				t.addDeltas(uint32(d), 1)
			}
			dur += d
			size += s
		}
	}
	w.t += dur
	t.fragSize += size
	t.fragEnd = max(t.fragEnd, w.t)
	t.frames += uint64(count)
	t.frameDur += dur
	return nil
}
