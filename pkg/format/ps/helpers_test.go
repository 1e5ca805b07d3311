package ps

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// Synthetic elementary streams for the tests. Payload bytes are random
// with emulation prevention applied, so the only start codes are the ones
// the generators put, as in real streams.

// appendRBSP appends n random bytes that never form 00 00 0x (x <= 3) and
// never end in 0, like the escaped payload of a NAL unit.
func appendRBSP(dst []byte, rng *rand.Rand, n int) []byte {
	zeros := 0
	for i := range n {
		b := byte(rng.IntN(256))
		if rng.IntN(8) == 0 {
			b = 0 // more zeros than chance gives, to exercise the escaping
		}
		if zeros >= 2 && b <= 3 {
			dst = append(dst, 3)
			zeros = 0
		}
		if i == n-1 && b == 0 {
			b = 0x80 // rbsp_stop_one_bit
		}
		dst = append(dst, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return dst
}

// nalu appends a NAL unit with a 4-byte start code, the header bytes and
// n bytes of payload.
func nalu(dst []byte, rng *rand.Rand, n int, header ...byte) []byte {
	dst = append(dst, 0, 0, 0, 1)
	dst = append(dst, header...)
	return appendRBSP(dst, rng, n)
}

// h264AU returns an access unit of about size bytes: SPS, PPS, SEI and an
// IDR slice for a keyframe, else one P slice (two slices when size is
// large enough, the second with first_mb_in_slice != 0).
func h264AU(rng *rand.Rand, key bool, size int) []byte {
	var b []byte
	if key {
		b = nalu(b, rng, 12, 0x67, 0x42, 0xC0, 0x1E)
		b = nalu(b, rng, 3, 0x68, 0xCE)
		b = nalu(b, rng, 20, 0x06, 0x05)
		b = nalu(b, rng, size/2, 0x65, 0x88)
		return nalu(b, rng, size/2, 0x65, 0x40) // second slice
	}
	if size > 200 {
		b = nalu(b, rng, size/2, 0x41, 0x9A)
		return nalu(b, rng, size/2, 0x41, 0x20)
	}
	return nalu(b, rng, size, 0x41, 0x9A)
}

// h265AU is h264AU for H.265: VPS, SPS, PPS, prefix SEI and IDR_W_RADL
// slices for a keyframe, TRAIL_R slices otherwise.
func h265AU(rng *rand.Rand, key bool, size int) []byte {
	var b []byte
	if key {
		b = nalu(b, rng, 20, 0x40, 0x01, 0x0C)
		b = nalu(b, rng, 30, 0x42, 0x01, 0x01)
		b = nalu(b, rng, 5, 0x44, 0x01, 0xC1)
		b = nalu(b, rng, 20, 0x4E, 0x01, 0x05)
		b = nalu(b, rng, size/2, 0x26, 0x01, 0xAF)
		return nalu(b, rng, size/2, 0x26, 0x01, 0x20)
	}
	return nalu(b, rng, size, 0x02, 0x01, 0xD0)
}

// adtsFrame returns an ADTS frame (AAC-LC, 44.1 kHz, stereo) with n bytes
// of payload.
func adtsFrame(rng *rand.Rand, n int) []byte {
	l := 7 + n
	b := []byte{0xFF, 0xF1, 0x50, 0x80 | byte(l>>11), byte(l >> 3), byte(l<<5) | 0x1F, 0xFC}
	for range n {
		b = append(b, byte(rng.IntN(256)))
	}
	return b
}

// g711Frame returns n bytes of A-law samples that do not look like ADTS or
// MPEG audio.
func g711Frame(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 0x55 ^ byte(rng.IntN(128))
	}
	return b
}

// clip describes a synthetic program: which streams, how many frames.
type clip struct {
	video, audio StreamType // StreamUnknown: none
	frames       int        // video frames (audio: 2 per video frame)
	gop          int
	bframes      bool  // video DTS != PTS
	noPTS        int   // every noPTS-th non-key video frame has no timestamps (0: none)
	maxVideo     int   // largest video frame size
	base         int64 // PTS of the first frame less 10 s; timestamps wrap at 33 bits
}

// frames generates the frames of c in decode order, interleaved as a
// camera sends them: a video frame, then the audio up to its time.
func (c clip) generate(seed uint64) []Frame {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out []Frame
	maxVideo := c.maxVideo
	if maxVideo == 0 {
		maxVideo = 3000
	}
	base := c.base + 90000*10
	if c.video == StreamUnknown {
		for i := range c.frames {
			out = append(out, c.audioFrame(rng, i, base))
		}
		return out
	}
	audioN := 0
	for i := range c.frames {
		key := c.gop > 0 && i%c.gop == 0
		size := 100 + rng.IntN(maxVideo/3)
		if key {
			size = maxVideo/2 + rng.IntN(maxVideo/2)
		}
		var data []byte
		if c.video == StreamH265 {
			data = h265AU(rng, key, size)
		} else {
			data = h264AU(rng, key, size)
		}
		dts := (base + int64(i)*3600) & maxTS
		pts := dts
		if c.bframes {
			pts = (dts + 7200) & maxTS
		}
		if c.noPTS > 0 && !key && i%c.noPTS == 0 {
			pts, dts = -1, -1
		}
		out = append(out, Frame{StreamID: 0xE0, Type: c.video, PTS: pts, DTS: dts, Key: key, Data: data})
		for c.audio != StreamUnknown && int64(audioN)*1800 <= int64(i)*3600 {
			out = append(out, c.audioFrame(rng, audioN, base))
			audioN++
		}
	}
	return out
}

func (c clip) audioFrame(rng *rand.Rand, i int, base int64) Frame {
	var data []byte
	switch c.audio {
	case StreamAAC:
		data = adtsFrame(rng, 50+rng.IntN(300))
	default:
		data = g711Frame(rng, 160)
	}
	pts := (base + int64(i)*1800) & maxTS
	return Frame{StreamID: 0xC0, Type: c.audio, PTS: pts, DTS: pts, Key: true, Data: data}
}

func (c clip) streams() []Stream {
	var s []Stream
	if c.video != StreamUnknown {
		s = append(s, Stream{ID: 0xE0, Type: c.video})
	}
	if c.audio != StreamUnknown {
		s = append(s, Stream{ID: 0xC0, Type: c.audio})
	}
	return s
}

// muxAll muxes frames with m, the keyframes flagged as such.
func muxAll(m *Muxer, frames []Frame) []byte {
	var b []byte
	for _, f := range frames {
		b = m.AppendFrame(b, f, f.Key)
	}
	return b
}

// demuxPieces demuxes b written in pieces of size n (all at once if n <= 0)
// and flushed.
func demuxPieces(t testing.TB, d *Demuxer, b []byte, n int) []Frame {
	t.Helper()
	got := writePieces(t, d, b, n)
	d.Flush(func(f Frame) { got = append(got, f) })
	return got
}

// writePieces is demuxPieces without the Flush.
func writePieces(t testing.TB, d *Demuxer, b []byte, n int) []Frame {
	t.Helper()
	var got []Frame
	emit := func(f Frame) { got = append(got, f) }
	for _, piece := range chunks(b, n) {
		if err := d.Write(piece, emit); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	return got
}

// byStream groups frames by stream_id, keeping their order.
func byStream(frames []Frame) map[byte][]Frame {
	m := map[byte][]Frame{}
	for _, f := range frames {
		m[f.StreamID] = append(m[f.StreamID], f)
	}
	return m
}

// diffFrames describes the first difference between two frame lists, per
// stream, or returns "".
func diffFrames(got, want []Frame) string {
	g, w := byStream(got), byStream(want)
	if len(g) != len(w) {
		return fmt.Sprintf("%d streams, want %d", len(g), len(w))
	}
	for id, wf := range w {
		gf := g[id]
		for i := range min(len(gf), len(wf)) {
			if s := diffFrame(gf[i], wf[i]); s != "" {
				return fmt.Sprintf("stream 0x%02x frame %d: %s", id, i, s)
			}
		}
		if len(gf) != len(wf) {
			return fmt.Sprintf("stream 0x%02x: %d frames, want %d", id, len(gf), len(wf))
		}
	}
	return ""
}

func diffFrame(g, w Frame) string {
	switch {
	case g.StreamID != w.StreamID || g.Type != w.Type:
		return fmt.Sprintf("stream 0x%02x %v, want 0x%02x %v", g.StreamID, g.Type, w.StreamID, w.Type)
	case g.PTS != w.PTS || g.DTS != w.DTS:
		return fmt.Sprintf("PTS/DTS %d/%d, want %d/%d", g.PTS, g.DTS, w.PTS, w.DTS)
	case g.Key != w.Key:
		return fmt.Sprintf("key %v, want %v", g.Key, w.Key)
	case !bytes.Equal(g.Data, w.Data):
		return fmt.Sprintf("%d bytes %x..., want %d bytes %x...", len(g.Data), head(g.Data), len(w.Data), head(w.Data))
	}
	return ""
}

func head(b []byte) []byte { return b[:min(len(b), 12)] }

func randFor(i int) *rand.Rand { return rand.New(rand.NewPCG(uint64(i), 99)) }
