package ps

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mediakit/mediakit/internal/testutil"
)

// fuzzMaxFrameSize keeps the fuzzer's memory small whatever the input says.
const fuzzMaxFrameSize = 64 << 10

// splitBySeed cuts b into pieces of 1 to 2000 bytes chosen by seed; seed 0
// leaves it whole.
func splitBySeed(b []byte, seed uint64) [][]byte {
	if seed == 0 {
		return [][]byte{b}
	}
	rng := rand.New(rand.NewPCG(seed, seed>>32))
	var out [][]byte
	for len(b) > 0 {
		n := 1 + rng.IntN(min(len(b), 2000))
		if rng.IntN(4) == 0 {
			n = 1 + rng.IntN(min(len(b), 8)) // short pieces split headers
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// fuzzDemux demuxes the pieces, checking the invariants after every Write.
func fuzzDemux(t *testing.T, pieces [][]byte) ([]Frame, Stats) {
	return fuzzDemuxWith(t, pieces, false)
}

// fuzzDemuxWith demuxes pieces; with borrow the Demuxer lends each
// frame's data and the callback keeps a copy, as a borrowing caller must,
// then scribbles over the lent bytes and appends to them: a demuxer that
// read them after the callback, or lent them with room to append into
// its buffer, would hand out other frames.
func fuzzDemuxWith(t *testing.T, pieces [][]byte, borrow bool) ([]Frame, Stats) {
	d := NewDemuxer()
	d.MaxFrameSize = fuzzMaxFrameSize
	d.Borrow = borrow
	var got []Frame
	emit := func(f Frame) {
		if borrow {
			lent := f.Data
			f.Data = bytes.Clone(lent)
			for i := range lent {
				lent[i] = 0xA5
			}
			_ = append(lent, 0x00, 0x00, 0x01, 0xBA, 0xA5, 0xA5, 0xA5, 0xA5)
		}
		got = append(got, f)
	}
	for _, p := range pieces {
		if err := d.Write(p, emit); err != nil && !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("Write: unexpected error %v", err)
		}
		if b := d.Buffered(); b > 2*fuzzMaxFrameSize+hdrMax {
			t.Fatalf("%d bytes buffered, limit %d", b, 2*fuzzMaxFrameSize+hdrMax)
		}
	}
	d.Flush(emit)
	if d.Buffered() > hdrMax {
		t.Fatalf("%d bytes buffered after Flush", d.Buffered())
	}
	return got, d.Stats()
}

func checkFrameShape(t *testing.T, f Frame) {
	t.Helper()
	switch {
	case !IsVideoID(f.StreamID) && !IsAudioID(f.StreamID):
		t.Fatalf("stream_id 0x%02x", f.StreamID)
	case len(f.Data) == 0 || len(f.Data) > fuzzMaxFrameSize:
		t.Fatalf("frame of %d bytes", len(f.Data))
	case f.PTS < -1 || f.PTS > maxTS || f.DTS < -1 || f.DTS > maxTS || (f.PTS < 0) != (f.DTS < 0):
		t.Fatalf("PTS %d DTS %d", f.PTS, f.DTS)
	}
}

// FuzzDemuxer feeds arbitrary bytes in arbitrary pieces. The demuxer must
// not panic or fail; its memory stays bounded; the frames hold no more
// bytes than went in; and how the input is cut does not change the frames
// (unless the size limits dropped some, which depends on timing).
func FuzzDemuxer(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s, uint64(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint64) {
		got, st := fuzzDemux(t, splitBySeed(data, split))
		total := 0
		for _, fr := range got {
			checkFrameShape(t, fr)
			total += len(fr.Data)
		}
		if total > len(data) {
			t.Fatalf("frames hold %d bytes, input %d", total, len(data))
		}
		if st.Bytes != uint64(len(data)) || st.Frames != uint64(len(got)) {
			t.Fatalf("stats %+v for %d bytes, %d frames", st, len(data), len(got))
		}
		// A borrowing demuxer hands out the same frames.
		if borrowed, _ := fuzzDemuxWith(t, splitBySeed(data, split), true); diffFrames(got, borrowed) != "" {
			t.Fatalf("borrowed frames: %s", diffFrames(got, borrowed))
		}
		whole, wst := fuzzDemux(t, [][]byte{data})
		if st.Oversize == 0 && wst.Oversize == 0 {
			if diff := diffFrames(got, whole); diff != "" {
				t.Fatalf("split input: %s", diff)
			}
		}
	})
}

// FuzzRoundTrip muxes generated frames with options from the fuzzer and
// demuxes them in pieces: the frames must come back as they were.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint64(1), uint8(10), uint8(0), uint64(1))
	f.Add(uint64(2), uint8(30), uint8(0xFF), uint64(2))
	f.Add(uint64(3), uint8(5), uint8(0x5A), uint64(0))
	f.Fuzz(func(t *testing.T, seed uint64, frames, opts uint8, split uint64) {
		c := clip{frames: 1 + int(frames%40), gop: 1 + int(seed%30), maxVideo: 300 + int(seed%9000)}
		c.video = [3]StreamType{StreamUnknown, StreamH264, StreamH265}[opts%3]
		c.audio = [4]StreamType{StreamUnknown, StreamAAC, StreamG711A, StreamG711U}[opts/3%4]
		if c.video == StreamUnknown && c.audio == StreamUnknown {
			c.audio = StreamAAC
		}
		c.bframes = opts&0x10 != 0
		if opts&0x20 != 0 {
			c.noPTS = 2 + int(seed%4)
		}
		c.base = int64(seed>>8) & maxTS // may wrap within the clip
		m := NewMuxer(c.streams())
		if opts&0x40 != 0 {
			m.MaxPESPayload = 1 + int(seed>>16%3000)
		}
		if opts&0x80 != 0 && c.audio != StreamG711U { // G.711 μ-law cannot be told from A-law
			m.OmitPSM = true
		}
		want := c.generate(seed)
		ps := muxAll(m, want)
		d := NewDemuxer()
		var got []Frame
		for _, p := range splitBySeed(ps, split) {
			if err := d.Write(p, func(f Frame) { got = append(got, f) }); err != nil {
				t.Fatal(err)
			}
		}
		d.Flush(func(f Frame) { got = append(got, f) })
		if diff := diffFrames(got, want); diff != "" {
			t.Fatalf("%+v, PES payload %d, no PSM %v: %s", c, m.MaxPESPayload, m.OmitPSM, diff)
		}
	})
}

// fuzzSeeds are inputs for FuzzDemuxer besides the corpus files: real
// muxed streams and edge cases.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	add := func(b []byte) { seeds = append(seeds, b[:min(len(b), 4<<10)]) } // small seeds mutate faster
	for _, tc := range roundTrips {
		c := tc.clip
		c.frames = min(c.frames, 6)
		m := NewMuxer(c.streams())
		m.MaxPESPayload, m.OmitPSM = tc.mux.MaxPESPayload, tc.mux.OmitPSM
		add(muxAll(m, c.generate(1)))
	}
	for _, tc := range cameraLayouts {
		p := &psBuilder{streams: tc.clip.streams()}
		c := tc.clip
		c.frames = min(c.frames, 5)
		tc.write(p, c.generate(1))
		add(p.b)
	}
	valid, _ := validPS(1)
	for _, g := range [][]byte{
		{0, 0, 1, codePSM, 0xFF, 0xFF, 0xE0, 0xFF, 0, 0, 0, 4, 0x1B, 0xE0, 0, 0},
		{0, 0, 1, codePSM, 0, 14, 0xE0, 0xFF, 0xFF, 0xF0, 0, 4, 0x24, 0xE0, 0, 0, 1, 2, 3, 4},
		{0, 0, 1, 0xE0, 0xFF, 0xFF, 0x80, 0x80, 0x05, 0x21, 0, 1, 0, 1, 0, 0, 0, 1, 0x41, 0x9A},
		{0, 0, 1, 0xE0, 0, 0, 0x80, 0, 0, 0, 0, 0, 1, 0x65, 0x88, 1, 2, 3},
		{0, 0, 1, codePack, 0x44, 0, 4, 0, 4, 1, 1, 0x89, 0xC3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF},
		{0, 0, 1, codeEnd, 0, 0, 1, codeEnd},
	} {
		add(append(g, valid...))
	}
	return seeds
}

// TestWriteFuzzSeeds writes the seed corpus files under
// testdata/fuzz/FuzzDemuxer when PS_WRITE_FUZZ_SEEDS=1: the seeds above and
// the start of ffmpeg-made program streams of the repo clips.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("PS_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set PS_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz/FuzzDemuxer")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDemuxer")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte, split uint64) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint64(%d)\n", b, split)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range fuzzSeeds() {
		write(fmt.Sprintf("seed_%02d", i), s, uint64(i))
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return
	}
	testutil.RequireFFmpeg(t)
	for _, format := range []string{"mpeg", "vob"} {
		b, err := os.ReadFile(ffmpegPS(t, "h264_aac.flv", format, "h264_mp4toannexb", true))
		if err != nil {
			t.Fatal(err)
		}
		write("ffmpeg_h264_mp2_"+format, b[:6<<10], 7)
	}
	b, err := os.ReadFile(ffmpegPS(t, "h265_aac.mp4", "vob", "hevc_mp4toannexb", false))
	if err != nil {
		t.Fatal(err)
	}
	write("ffmpeg_h265_vob", b[:6<<10], 0)
}
