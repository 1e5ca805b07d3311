package mp4_test

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// sample is one sample as a progressive moov describes it.
type sample struct {
	off, size int64
	dts, cts  uint64 // in the track's timescale, dts from the media start
	sync      bool
}

// trakInfo is what a test reads back from one trak.
type trakInfo struct {
	handler  string // "vide", "soun"
	entry    string // sample entry type: avc1, hvc1, mp4a
	scale    uint32
	mdhdDur  uint64
	tkhdDur  uint64
	empty    uint64 // empty edit, movie timescale
	samples  []sample
	co64     bool
	hasCtts  bool
	hasStss  bool
	chunkLen []int // samples per chunk
}

// fullPayload strips the version and flags of a full box.
func fullPayload(n *node) (version byte, p []byte) { return n.payload[0], n.payload[4:] }

// readTrak decodes the sample table of a progressive trak.
func readTrak(t testing.TB, trak *node) trakInfo {
	t.Helper()
	var ti trakInfo
	v, p := fullPayload(trak.one(t, "mdia", "mdhd"))
	if v == 1 {
		ti.scale, ti.mdhdDur = u32(p[16:]), u64(p[20:])
	} else {
		ti.scale, ti.mdhdDur = u32(p[8:]), uint64(u32(p[12:]))
	}
	v, p = fullPayload(trak.one(t, "tkhd"))
	if v == 1 {
		ti.tkhdDur = u64(p[24:])
	} else {
		ti.tkhdDur = uint64(u32(p[16:]))
	}
	_, p = fullPayload(trak.one(t, "mdia", "hdlr"))
	ti.handler = string(p[4:8])
	if elst := trak.all("edts", "elst"); len(elst) == 1 {
		v, p = fullPayload(elst[0])
		if u32(p) != 2 {
			t.Fatalf("elst with %d entries", u32(p))
		}
		if v == 1 {
			ti.empty = u64(p[4:])
			if int64(u64(p[12:])) != -1 {
				t.Fatal("first edit is not empty")
			}
		} else {
			ti.empty = uint64(u32(p[4:]))
			if int32(u32(p[8:])) != -1 {
				t.Fatal("first edit is not empty")
			}
		}
	}
	stbl := trak.one(t, "mdia", "minf", "stbl")
	entries := stbl.one(t, "stsd").children
	if len(entries) != 1 {
		t.Fatalf("stsd with %d entries", len(entries))
	}
	ti.entry = entries[0].typ

	_, p = fullPayload(stbl.one(t, "stsz"))
	if u32(p) != 0 {
		t.Fatal("stsz with a constant sample size")
	}
	n := int(u32(p[4:]))
	ti.samples = make([]sample, n)
	for i := range ti.samples {
		ti.samples[i].size = int64(u32(p[8+4*i:]))
	}

	_, p = fullPayload(stbl.one(t, "stts"))
	i, dts := 0, uint64(0)
	for e := range int(u32(p)) {
		count, delta := int(u32(p[4+8*e:])), uint64(u32(p[8+8*e:]))
		for range count {
			ti.samples[i].dts = dts
			dts += delta
			i++
		}
	}
	if i != n {
		t.Fatalf("stts covers %d of %d samples", i, n)
	}
	if dts != ti.mdhdDur {
		t.Errorf("mdhd duration %d, stts sums to %d", ti.mdhdDur, dts)
	}

	if ctts := stbl.all("ctts"); len(ctts) == 1 {
		ti.hasCtts = true
		_, p = fullPayload(ctts[0])
		i = 0
		for e := range int(u32(p)) {
			count, off := int(u32(p[4+8*e:])), uint64(u32(p[8+8*e:]))
			for range count {
				ti.samples[i].cts = off
				i++
			}
		}
		if i != n {
			t.Fatalf("ctts covers %d of %d samples", i, n)
		}
	}

	if stss := stbl.all("stss"); len(stss) == 1 {
		ti.hasStss = true
		_, p = fullPayload(stss[0])
		for e := range int(u32(p)) {
			ti.samples[u32(p[4+4*e:])-1].sync = true
		}
	} else {
		for i := range ti.samples {
			ti.samples[i].sync = true
		}
	}

	var offsets []int64
	co64, stco := stbl.all("co64"), stbl.all("stco")
	switch {
	case len(co64) == 1 && len(stco) == 0:
		ti.co64 = true
		_, p = fullPayload(co64[0])
		for e := range int(u32(p)) {
			offsets = append(offsets, int64(u64(p[4+8*e:])))
		}
	case len(stco) == 1 && len(co64) == 0:
		_, p = fullPayload(stco[0])
		for e := range int(u32(p)) {
			offsets = append(offsets, int64(u32(p[4+4*e:])))
		}
	default:
		t.Fatalf("%d stco and %d co64 boxes", len(stco), len(co64))
	}

	_, p = fullPayload(stbl.one(t, "stsc"))
	type stscEntry struct{ first, count int }
	var stsc []stscEntry
	for e := range int(u32(p)) {
		stsc = append(stsc, stscEntry{int(u32(p[4+12*e:])), int(u32(p[8+12*e:]))})
	}
	i = 0
	for c, off := range offsets {
		per := 0
		for _, e := range stsc {
			if e.first <= c+1 {
				per = e.count
			}
		}
		ti.chunkLen = append(ti.chunkLen, per)
		for range per {
			if i >= n {
				t.Fatalf("chunks hold more than %d samples", n)
			}
			ti.samples[i].off = off
			off += ti.samples[i].size
			i++
		}
	}
	if i != n {
		t.Fatalf("chunks hold %d of %d samples", i, n)
	}
	return ti
}

// checkFinal checks the layout of a finalised file (ftyp free [free
// mdat]... moov: one moov, at the end, and no moof) and that its sample
// tables give back exactly the frames written: payloads, order, decode and
// presentation times (to a tick) and sync flags.
func checkFinal(t *testing.T, path string, tracks []*media.Track, frames []*media.Frame) map[string]trakInfo {
	t.Helper()
	return checkFinalLayout(t, path, "ftyp free [free mdat]... moov", tracks, frames)
}

func checkFinalLayout(t *testing.T, path, wantLayout string, tracks []*media.Track, frames []*media.Frame) map[string]trakInfo {
	t.Helper()
	boxes := topBoxes(t, path)
	if got := layout(t, path); got != wantLayout {
		t.Fatalf("layout %q, want %q", got, wantLayout)
	}
	moov := parseTree(t, readBox(t, path, boxes[len(boxes)-1]))
	if len(moov.all("mvex")) != 0 {
		t.Error("final moov has mvex")
	}
	traks := moov.all("trak")
	if len(traks) != len(tracks) {
		t.Fatalf("%d traks, want %d", len(traks), len(tracks))
	}
	var mdats []box
	for _, b := range boxes {
		if b.typ == "mdat" {
			mdats = append(mdats, b)
		}
	}
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()

	_, p := fullPayload(moov.one(t, "mvhd"))
	mvhdScale := u32(p[8:])
	out := map[string]trakInfo{}
	var origin time.Duration = -1
	for _, f := range frames {
		if origin < 0 || f.DTS < origin {
			origin = f.DTS
		}
	}
	for i, tr := range tracks {
		ti := readTrak(t, traks[i])
		out[ti.handler] = ti
		var want []*media.Frame
		for _, f := range frames {
			if f.Track == tr {
				want = append(want, f)
			}
		}
		if len(ti.samples) != len(want) {
			t.Fatalf("track %d (%v): %d samples, want %d", i+1, tr, len(ti.samples), len(want))
		}
		empty := ti.empty * uint64(ti.scale) / uint64(mvhdScale)
		for j, s := range ti.samples {
			f := want[j]
			in := false
			for _, m := range mdats {
				if s.off >= m.off+m.hdr && s.off+s.size <= m.off+m.size {
					in = true
				}
			}
			if !in {
				t.Fatalf("track %d sample %d at %d+%d is not inside an mdat", i+1, j, s.off, s.size)
			}
			buf := make([]byte, s.size)
			if _, err := file.ReadAt(buf, s.off); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf, f.Payload) {
				t.Fatalf("track %d sample %d: payload differs", i+1, j)
			}
			if wantSync := f.Key || tr.Kind() == media.KindAudio; s.sync != wantSync {
				t.Errorf("track %d sample %d: sync %v, want %v", i+1, j, s.sync, wantSync)
			}
			// Decode times match to within the empty edit's rounding
			// (1 ms) plus a tick; composition offsets to a tick.
			tick := time.Second / time.Duration(ti.scale)
			dts := time.Duration(empty+s.dts) * time.Second / time.Duration(ti.scale)
			if d := dts - (f.DTS - origin); d < -time.Millisecond-tick || d > time.Millisecond+tick {
				t.Errorf("track %d sample %d: DTS %v, want %v", i+1, j, dts, f.DTS-origin)
			}
			cts := time.Duration(s.cts) * time.Second / time.Duration(ti.scale)
			if d := cts - (f.PTS - f.DTS); d < -tick || d > tick {
				t.Errorf("track %d sample %d: CTS %v, want %v", i+1, j, cts, f.PTS-f.DTS)
			}
		}
		// The last sample lasts as long as the one before it.
		if n := len(ti.samples); n >= 2 {
			last := ti.mdhdDur - ti.samples[n-1].dts
			prev := ti.samples[n-1].dts - ti.samples[n-2].dts
			if last != prev {
				t.Errorf("track %d: last sample lasts %d, the one before %d", i+1, last, prev)
			}
		}
	}
	return out
}
