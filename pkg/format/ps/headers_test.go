package ps

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mediakit/mediakit/pkg/internal/mpegcrc"
)

func TestPSMRoundTrip(t *testing.T) {
	streams := []Stream{{0xE0, StreamH265}, {0xC0, StreamG711U}, {0xC1, StreamSVACAudio}}
	b := appendPSM(nil, streams, 3)
	if mpegcrc.Checksum(b) != 0 { // the CRC covers the whole map, start code included
		t.Errorf("CRC does not check: %x", b)
	}
	got, err := parsePSM(b)
	if err != nil || !slices.Equal(got, streams) {
		t.Fatalf("parsePSM: %v, %v", got, err)
	}
	// Without the CRC the entries still read; shorter fails or reads fewer.
	if got, err := parsePSM(b[:len(b)-4]); err != nil || !slices.Equal(got, streams) {
		t.Fatalf("without the CRC: %v, %v", got, err)
	}
	for n := range len(b) - 4 {
		got, err := parsePSM(b[:n])
		if err == nil && len(got) > len(streams) {
			t.Fatalf("%d bytes: %v", n, got)
		}
	}
}

func TestTimestamps(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	values := []int64{0, 1, 1 << 30, 1<<32 - 1, 1 << 32, maxTS}
	for range 100 {
		values = append(values, rng.Int64N(maxTS+1))
	}
	for _, pts := range values {
		for _, dts := range []int64{-1, pts, (pts - 3600) & maxTS} {
			b := appendPESHeader(nil, 0xE0, 10, pts, dts, true)
			b = append(b, make([]byte, 10)...)
			need, bad := pesHeaderNeed(b)
			if bad || need != len(b)-10 {
				t.Fatalf("PTS %d DTS %d: need %d bad %v", pts, dts, need, bad)
			}
			h := parsePESHeader(b[:need])
			wantDTS := dts
			if dts < 0 {
				wantDTS = pts
			}
			if !h.hasPTS || h.pts != pts || h.dts != wantDTS || h.length != len(b)-6 {
				t.Fatalf("PTS %d DTS %d: %+v", pts, dts, h)
			}
		}
		b := appendPackHeader(nil, pts)
		if need, bad := packHeaderNeed(b); bad || need != len(b) {
			t.Fatalf("pack: need %d bad %v", need, bad)
		}
		scr := int64(b[4]>>3&7)<<30 | int64(b[4]&3)<<28 | int64(b[5])<<20 | int64(b[6]>>3)<<15 | int64(b[6]&3)<<13 | int64(b[7])<<5 | int64(b[8]>>3)
		if scr != pts {
			t.Fatalf("SCR %d, want %d", scr, pts)
		}
	}
}

func TestMPEG1PESHeader(t *testing.T) {
	for _, tc := range []struct {
		hdr      []byte
		need     int // 0: incomplete, more bytes wanted
		bad      bool
		pts, dts int64
	}{
		{[]byte{0x0F}, 7, false, -1, -1},
		{[]byte{0xFF, 0xFF, 0x0F}, 9, false, -1, -1},
		{[]byte{0x60, 0x80, 0x21, 0, 1, 0, 1}, 13, false, 0, 0},
		{[]byte{0x31, 0, 1, 0, 3, 0x11, 0, 1, 0, 1}, 16, false, 1, 0},
		{[]byte{0x80}, 0, false, 0, 0}, // MPEG-2 flags: the next two bytes are needed
		{[]byte{0x50}, 0, false, 0, 0}, // STD buffer field: one more byte
		{[]byte{0x13}, 7, true, 0, 0},
		{[]byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F}, 23, true, 0, 0},
	} {
		b := append([]byte{0, 0, 1, 0xC0, 0, byte(len(tc.hdr))}, tc.hdr...)
		need, bad := pesHeaderNeed(b)
		switch {
		case tc.need == 0:
			if bad || need <= len(b) {
				t.Errorf("%x: need %d bad %v, want more bytes", tc.hdr, need, bad)
			}
		case need != tc.need || bad != tc.bad:
			t.Errorf("%x: need %d bad %v, want %d %v", tc.hdr, need, bad, tc.need, tc.bad)
		case !bad:
			h := parsePESHeader(b[:need])
			if h.pts != tc.pts || h.dts != tc.dts || h.hasPTS != (tc.pts >= 0) {
				t.Errorf("%x: %+v", tc.hdr, h)
			}
		}
	}
}

func TestClassifyNAL(t *testing.T) {
	for _, tc := range []struct {
		typ  StreamType
		b    []byte
		kind nalKind
		key  bool
	}{
		{StreamH264, []byte{0x67, 0x42}, nalPrefix, false},
		{StreamH264, []byte{0x68, 0xCE}, nalPrefix, false},
		{StreamH264, []byte{0x09, 0xF0}, nalPrefix, false},
		{StreamH264, []byte{0x06, 0x05}, nalSEI, false},
		{StreamH264, []byte{0x65, 0x88}, nalFirstSlice, true},
		{StreamH264, []byte{0x65, 0x40}, nalSlice, true},
		{StreamH264, []byte{0x41, 0x9A}, nalFirstSlice, false},
		{StreamH264, []byte{0x01, 0x20}, nalSlice, false},
		{StreamH264, []byte{0x0C, 0xFF}, nalOther, false}, // filler
		{StreamH264, []byte{0x0A, 0x00}, nalOther, false}, // end of sequence
		{StreamH264, []byte{0xE5, 0x88}, nalInvalid, false},
		{StreamH265, []byte{0x40, 0x01, 0x0C}, nalPrefix, false},
		{StreamH265, []byte{0x46, 0x01, 0x50}, nalPrefix, false},
		{StreamH265, []byte{0x4E, 0x01, 0x05}, nalSEI, false},
		{StreamH265, []byte{0x50, 0x01, 0x05}, nalOther, false}, // suffix SEI
		{StreamH265, []byte{0x26, 0x01, 0xAF}, nalFirstSlice, true},
		{StreamH265, []byte{0x2A, 0x01, 0x20}, nalSlice, true}, // CRA, not first
		{StreamH265, []byte{0x02, 0x01, 0xD0}, nalFirstSlice, false},
		{StreamH265, []byte{0x02, 0x00, 0xD0}, nalInvalid, false}, // temporal id plus 1 is 0
		{StreamH265, []byte{0x02, 0x09, 0xD0}, nalOther, false},   // layer 1
	} {
		if kind, key := classifyNAL(tc.typ, tc.b); kind != tc.kind || key != tc.key {
			t.Errorf("%v %x: %v %v, want %v %v", tc.typ, tc.b, kind, key, tc.kind, tc.key)
		}
	}
}

func TestGuess(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		want StreamType
	}{
		{[]byte{0x67, 0x42}, StreamH264},
		{[]byte{0x65, 0x88}, StreamH264},
		{[]byte{0x41, 0x9A}, StreamH264},
		{[]byte{0x09, 0xF0}, StreamH264},
		{[]byte{0x06, 0x05}, StreamH264},
		{[]byte{0x06, 0x01}, StreamH264}, // H.264 pic_timing SEI, not H.265 TSA_R
		{[]byte{0x40, 0x01}, StreamH265},
		{[]byte{0x42, 0x01}, StreamH265},
		{[]byte{0x26, 0x01}, StreamH265},
		{[]byte{0x02, 0x01}, StreamH265},
		{[]byte{0x00, 0x01}, StreamH265},
		{[]byte{0x4E, 0x01}, StreamH265},
		{[]byte{0x80, 0x01}, StreamUnknown},
	} {
		if got := guessVideo(tc.b); got != tc.want {
			t.Errorf("video %x: %v, want %v", tc.b, got, tc.want)
		}
	}
	rng := rand.New(rand.NewPCG(2, 2))
	adts := adtsFrame(rng, 100)
	// MPEG-1 layer II, 64 kbit/s, 44.1 kHz: 208 bytes a frame.
	mp2 := append([]byte{0xFF, 0xFD, 0x40, 0x00}, make([]byte, 204)...)
	mp2 = append(mp2, mp2...)
	for _, tc := range []struct {
		name string
		b    []byte
		want StreamType
	}{
		{"ADTS", adts, StreamAAC},
		{"two ADTS", append(adts[:len(adts):len(adts)], adts...), StreamAAC},
		{"ADTS then junk", append(adts[:len(adts):len(adts)], 1, 2, 3), StreamG711A},
		{"MP2", mp2, StreamMPEG1Audio},
		{"MP2 partial second header", mp2[:210], StreamMPEG1Audio},
		{"MP2 then junk", append(mp2[:208:208], 1, 2, 3, 4, 5), StreamG711A},
		{"μ-law silence", []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, StreamG711A},
		{"μ-law near silence", append([]byte{0xFF, 0xFB, 0x90, 0x00}, make([]byte, 156)...), StreamG711A},
		{"A-law silence", []byte{0xD5, 0xD5, 0xD5, 0xD5, 0xD5, 0xD5, 0xD5, 0xD5}, StreamG711A},
		{"empty", nil, StreamG711A},
	} {
		if got := guessAudio(tc.b); got != tc.want {
			t.Errorf("audio %s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestStreamType(t *testing.T) {
	for _, tc := range []struct {
		t         StreamType
		s         string
		supported bool
	}{
		{StreamH264, "H.264", true}, {StreamH265, "H.265", true}, {StreamAAC, "AAC", true},
		{StreamG711A, "G.711A", true}, {StreamG711U, "G.711U", true},
		{StreamSVACVideo, "SVAC video", false}, {StreamMPEG1Audio, "MPEG-1 audio", true},
		{StreamMPEG2Audio, "MPEG-2 audio", true}, {StreamOpus, "Opus", true}, {StreamG729, "G.729", false},
		{StreamUnknown, "unknown", false}, {0x42, "0x42", false},
	} {
		if tc.t.String() != tc.s || tc.t.Supported() != tc.supported {
			t.Errorf("%d: %q %v", tc.t, tc.t.String(), tc.t.Supported())
		}
	}
}

// TestStreams checks the stream list, from the PSM and from guesses.
func TestStreams(t *testing.T) {
	c := clip{video: StreamH265, audio: StreamG711U, frames: 4, gop: 2}
	d := NewDemuxer()
	demuxPieces(t, d, muxAll(NewMuxer(c.streams()), c.generate(1)), 0)
	if got, want := d.Streams(), []Stream{{0xC0, StreamG711U}, {0xE0, StreamH265}}; !slices.Equal(got, want) {
		t.Errorf("with PSM: %v, want %v", got, want)
	}
	m := NewMuxer(c.streams())
	m.OmitPSM = true
	d = NewDemuxer()
	demuxPieces(t, d, muxAll(m, c.generate(1)), 0)
	if got, want := d.Streams(), []Stream{{0xC0, StreamG711A}, {0xE0, StreamH265}}; !slices.Equal(got, want) {
		t.Errorf("guessed: %v, want %v", got, want)
	}
}

// TestCodecChange switches a camera from H.264 to H.265 and from AAC to
// G.711 mid-stream, with a new PSM: the frames keep their own types.
func TestCodecChange(t *testing.T) {
	a := clip{video: StreamH264, audio: StreamAAC, frames: 6, gop: 3}
	b := clip{video: StreamH265, audio: StreamG711A, frames: 6, gop: 3, base: 90000}
	fa, fb := a.generate(1), b.generate(2)
	ps := muxAll(NewMuxer(a.streams()), fa)
	ps = append(ps, muxAll(NewMuxer(b.streams()), fb)...)
	for _, n := range []int{1, 1400, 0} {
		if diff := diffFrames(demuxPieces(t, NewDemuxer(), ps, n), append(fa, fb...)); diff != "" {
			t.Fatalf("pieces of %d: %s", n, diff)
		}
	}
}

// TestLargeFrame muxes a keyframe over the 65535-byte PES limit: it goes
// out in several PES packets and comes back whole.
func TestLargeFrame(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	frames := []Frame{
		{StreamID: 0xE0, Type: StreamH264, PTS: 9000, DTS: 3600, Key: true, Data: h264AU(rng, true, 300<<10)},
		{StreamID: 0xE0, Type: StreamH264, PTS: 12600, DTS: 7200, Data: h264AU(rng, false, 1000)},
	}
	ps := muxAll(NewMuxer([]Stream{{0xE0, StreamH264}}), frames)
	d := NewDemuxer()
	if diff := diffFrames(demuxPieces(t, d, ps, 1400), frames); diff != "" {
		t.Fatal(diff)
	}
	if st := d.Stats(); st.PES != 6 { // 300 KiB in 65522 + 65532 × 3 + rest, and the small frame
		t.Errorf("%d PES packets, want 6", st.PES)
	}
	if c := cap(d.streams[0xE0-0xC0].buf); c > keepCap {
		t.Errorf("stream keeps a %d-byte buffer", c)
	}
}
