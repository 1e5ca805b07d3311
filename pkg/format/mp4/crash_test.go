package mp4_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/format/mp4"
	"github.com/mediakit/mediakit/pkg/media"
)

// fragment is what a moof says of one fragment.
type fragment struct {
	off     int64
	samples map[uint32]int    // per track ID
	dur     map[uint32]uint64 // per track ID, in the track's timescale
	dts     map[uint32]uint64 // tfdt per track ID
	sync    map[uint32]bool   // first sample of the track run is sync
}

// fragments parses the moof boxes of a fragmented file.
func fragments(t testing.TB, path string, boxes []box) []fragment {
	t.Helper()
	var out []fragment
	for _, b := range boxes {
		if b.typ != "moof" {
			continue
		}
		moof := parseTree(t, readBox(t, path, b))
		fr := fragment{off: b.off, samples: map[uint32]int{}, dur: map[uint32]uint64{},
			dts: map[uint32]uint64{}, sync: map[uint32]bool{}}
		for _, traf := range moof.all("traf") {
			_, p := fullPayload(traf.one(t, "tfhd"))
			id := u32(p)
			tfhdFlags := u32(traf.one(t, "tfhd").payload) & 0xffffff
			defaultFlags := uint32(0)
			if tfhdFlags&0x20 != 0 {
				defaultFlags = u32(p[4:])
			}
			v, p := fullPayload(traf.one(t, "tfdt"))
			if v != 1 {
				t.Fatal("tfdt version 0")
			}
			fr.dts[id] = u64(p)
			trun := traf.one(t, "trun")
			flags := u32(trun.payload) & 0xffffff
			_, p = fullPayload(trun)
			n := int(u32(p))
			fr.samples[id] += n
			p = p[8:] // sample_count, data_offset
			for i := range n {
				fr.dur[id] += uint64(u32(p))
				sampleFlags := defaultFlags
				if flags&0x400 != 0 {
					sampleFlags = u32(p[8:])
				}
				if i == 0 {
					fr.sync[id] = sampleFlags&0x00010000 == 0
				}
				p = p[4*(2+btoi(flags&0x400 != 0)+btoi(flags&0x800 != 0)):]
			}
		}
		out = append(out, fr)
	}
	return out
}

// TestFragmentedLayout checks the file a killed writer leaves: ftyp, moov,
// then moof+mdat pairs, a fragment per keyframe interval.
func TestFragmentedLayout(t *testing.T) {
	for _, c := range []struct {
		clip   string
		frag   time.Duration
		frags  int
		maxDur time.Duration // longest fragment, per track
	}{
		// Keyframes every second: one fragment per GOP; the last GOP is
		// still buffered.
		{"h264_aac.flv", time.Second, 5, time.Second + 50*time.Millisecond},
		// A keyframe is due, but 2*400 ms pass first: fragments end without one.
		// Fragments end at 0.8 s (2*400 ms), 1.6 s, 2.0 s (keyframe),
		// 2.8 s, 3.6 s.
		{"h264_only.flv", 400 * time.Millisecond, 5, 800 * time.Millisecond},
		// Audio only: a fragment every second.
		{"aac_only.flv", time.Second, 3, time.Second + 25*time.Millisecond},
	} {
		t.Run(c.clip, func(t *testing.T) {
			tracks, frames := flvFrames(t, c.clip)
			path, _ := record(t, tracks, frames, mp4.Options{FragmentDuration: c.frag}, false)
			boxes := topBoxes(t, path)
			typs := types(boxes)
			if len(typs) < 4 || typs[0] != "ftyp" || typs[1] != "moov" {
				t.Fatalf("boxes %v", typs)
			}
			for i := 2; i < len(typs); i += 2 {
				if i+1 >= len(typs) || typs[i] != "moof" || typs[i+1] != "mdat" {
					t.Fatalf("boxes %v, want ftyp moov [moof mdat]...", typs)
				}
			}
			moov := parseTree(t, readBox(t, path, boxes[1]))
			if n := len(moov.all("mvex", "trex")); n != len(tracks) {
				t.Fatalf("%d trex, want %d", n, len(tracks))
			}
			frs := fragments(t, path, boxes)
			if len(frs) != c.frags {
				t.Errorf("%d fragments, want %d", len(frs), c.frags)
			}
			next := map[uint32]uint64{}
			for i, fr := range frs {
				for id, n := range fr.samples {
					if n == 0 {
						t.Errorf("fragment %d track %d: empty run", i, id)
					}
					if i > 0 && fr.dts[id] != next[id] {
						t.Errorf("fragment %d track %d: tfdt %d, previous run ended at %d", i, id, fr.dts[id], next[id])
					}
					next[id] = fr.dts[id] + fr.dur[id]
					scale := uint64(90000)
					if tracks[id-1].Kind() == media.KindAudio {
						scale = uint64(tracks[id-1].SampleRate)
					}
					if d := time.Duration(fr.dur[id] * uint64(time.Second) / scale); d > c.maxDur {
						t.Errorf("fragment %d track %d lasts %v, more than %v", i, id, d, c.maxDur)
					}
					if tracks[id-1].Kind() == media.KindVideo && c.frag >= time.Second && !fr.sync[id] {
						t.Errorf("fragment %d: video does not start with a keyframe", i)
					}
				}
			}
		})
	}
}

// TestCrashPlayable simulates kill -9: the frames are written but Close is
// never called. ffprobe must play the fragmented file with all but the
// last fragment's frames. It must also play the file a crash leaves at
// any byte of the writes of the last fragment, replayed in the order the
// writer made them (a kill -9 or a full disk can cut a write short).
func TestCrashPlayable(t *testing.T) {
	testutil.RequireFFmpeg(t)
	ctx := context.Background()
	tracks, frames := flvFrames(t, "h264_aac.flv")
	const fd = time.Second
	path := filepath.Join(t.TempDir(), "out.mp4")
	file, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	lf := &logFile{File: file}
	w, err := mp4.NewWriter(lf, tracks, mp4.Options{FragmentDuration: fd, Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if err := w.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := file.Close(); err != nil { // killed: no Close
		t.Fatal(err)
	}
	src, err := testutil.FramePackets(ctx, t, testutil.Clip(t, "h264_aac.flv"))
	if err != nil {
		t.Fatal(err)
	}

	boxes := topBoxes(t, path)
	frs := fragments(t, path, boxes)
	written := map[uint32]int{}
	for _, fr := range frs {
		for id, n := range fr.samples {
			written[id] += n
		}
	}
	// One fragment's worth: the frames of the last 2*FragmentDuration.
	total, recent := map[uint32]int{}, map[uint32]int{}
	for _, f := range frames {
		id := uint32(1)
		if f.Track.Kind() == media.KindAudio {
			id = 2
		}
		total[id]++
		if f.DTS > w.LastDTS()-2*fd {
			recent[id]++
		}
	}
	for id := range total {
		if written[id] < total[id]-recent[id] {
			t.Errorf("track %d: %d of %d frames in fragments, want at least %d", id, written[id], total[id], total[id]-recent[id])
		}
	}

	check := func(t *testing.T, path string, atLeast map[uint32]int, exact bool) {
		p, err := testutil.FFprobe(ctx, t, path)
		if err != nil {
			t.Fatal(err)
		}
		v, a := p.Video(), p.Audio()
		if v == nil || a == nil || v.CodecName != "h264" || a.CodecName != "aac" {
			t.Fatalf("streams %+v", p.Streams)
		}
		for _, s := range []struct {
			typ string
			got int
			id  uint32
		}{{"video", v.NbReadFrames, 1}, {"audio", a.NbReadFrames, 2}} {
			if s.got < atLeast[s.id] || s.got > total[s.id] || exact && s.got != atLeast[s.id] {
				t.Errorf("%s: %d frames, want at least %d (exact %v) of %d", s.typ, s.got, atLeast[s.id], exact, total[s.id])
			}
		}
		pkts, err := testutil.FramePackets(ctx, t, path)
		if err != nil {
			t.Fatal(err)
		}
		comparePrefix(t, pkts, src, "video", atLeast[1])
		comparePrefix(t, pkts, src, "audio", atLeast[2])
	}
	t.Run("whole", func(t *testing.T) { check(t, path, written, true) })

	// A crash while the last fragment was being written: replay the
	// writes up to a byte k of those that wrote it.
	complete := map[uint32]int{}
	for _, fr := range frs[:len(frs)-1] {
		for id, n := range fr.samples {
			complete[id] += n
		}
	}
	lastMoof := boxes[len(boxes)-2]
	if lastMoof.typ != "moof" {
		t.Fatalf("last boxes %v", types(boxes[len(boxes)-2:]))
	}
	var before, fragBytes int64 // bytes written before the last fragment, and for it
	ks := []int64{0}
	for _, wr := range lf.writes {
		if wr.off < lastMoof.off {
			before += int64(len(wr.data))
			continue
		}
		// Points in each of its writes: in the first boxes it writes,
		// halfway and at the end.
		n := int64(len(wr.data))
		for _, k := range []int64{1, 20, 100, n / 2, n - 1} {
			if k > 0 && k < n {
				ks = append(ks, fragBytes+k)
			}
		}
		fragBytes += n
	}
	if fragBytes != fileSize(t, path)-lastMoof.off {
		t.Fatalf("the last fragment's writes hold %d bytes, the fragment %d", fragBytes, fileSize(t, path)-lastMoof.off)
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	for range 2 {
		ks = append(ks, rng.Int64N(fragBytes))
	}
	slices.Sort(ks)
	ks = slices.Compact(ks)
	t.Logf("seed %d; the last fragment is written in %d bytes", seed, fragBytes)
	for _, k := range ks {
		t.Run(fmt.Sprintf("crash after %d bytes", k), func(t *testing.T) {
			t.Parallel()
			check(t, lf.replay(t, before+k), complete, false)
		})
	}
}

// logFile is a File that records its writes.
type logFile struct {
	*os.File
	writes []write
}

type write struct {
	off  int64
	data []byte
}

func (f *logFile) WriteAt(p []byte, off int64) (int, error) {
	f.writes = append(f.writes, write{off, slices.Clone(p)})
	return f.File.WriteAt(p, off)
}

func (f *logFile) Write(p []byte) (int, error) {
	off, err := f.File.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	f.writes = append(f.writes, write{off, slices.Clone(p)})
	return f.File.Write(p)
}

// replay makes the file a crash leaves after the first n bytes of the
// writes: unwritten bytes inside the file read as zeros.
func (f *logFile) replay(t testing.TB, n int64) string {
	t.Helper()
	var img []byte
	for _, w := range f.writes {
		if n <= 0 {
			break
		}
		data := w.data[:min(int64(len(w.data)), n)]
		n -= int64(len(data))
		if end := w.off + int64(len(data)); end > int64(len(img)) {
			img = append(img, make([]byte, end-int64(len(img)))...)
		}
		copy(img[w.off:], data)
	}
	p := filepath.Join(t.TempDir(), "crash.mp4")
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// truncatedCopy copies the first n bytes of a file.
func truncatedCopy(t testing.TB, path string, n int64) string {
	t.Helper()
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out := filepath.Join(t.TempDir(), "cut.mp4")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyN(f, in, n); err != nil {
		t.Fatal(err)
	}
	return out
}
