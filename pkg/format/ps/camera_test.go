package ps

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

// psBuilder writes program streams the way particular cameras do, header
// by header.
type psBuilder struct {
	b       []byte
	streams []Stream
}

func (p *psBuilder) pack(scr int64, stuffing int) {
	p.b = appendPackHeader(p.b, scr)
	p.b[len(p.b)-1] = 0xF8 | byte(stuffing)
	for range stuffing {
		p.b = append(p.b, 0xFF)
	}
}

// pack1 writes an MPEG-1 pack header.
func (p *psBuilder) pack1(scr int64) {
	ts := appendTS(nil, 2, scr)
	p.b = append(p.b, 0, 0, 1, codePack)
	p.b = append(p.b, ts...)
	p.b = append(p.b, 0x80, 0x1B, 0x83) // marker, mux_rate, marker
}

func (p *psBuilder) system() {
	p.b = appendSystemHeader(p.b, p.streams)
	p.b = appendPSM(p.b, p.streams, 0)
}

func (p *psBuilder) pes(id byte, pts, dts int64, data []byte) {
	p.b = appendPESHeader(p.b, id, len(data), pts, dts, false)
	p.b = append(p.b, data...)
}

// pes1 writes an MPEG-1 PES packet with stuffing and an STD buffer field.
func (p *psBuilder) pes1(id byte, pts int64, data []byte) {
	h := []byte{0xFF, 0xFF, 0x60, 0x80}
	if pts >= 0 {
		h = appendTS(h, 2, pts)
	} else {
		h = append(h, 0x0F)
	}
	n := len(h) + len(data)
	p.b = append(p.b, 0, 0, 1, id, byte(n>>8), byte(n))
	p.b = append(p.b, h...)
	p.b = append(p.b, data...)
}

// pesOpen writes a video PES packet without length.
func (p *psBuilder) pesOpen(id byte, pts int64, data []byte) {
	start := len(p.b)
	p.b = appendPESHeader(p.b, id, 0, pts, pts, false)
	p.b[start+4], p.b[start+5] = 0, 0 // PES_packet_length 0
	p.b = append(p.b, data...)
}

func (p *psBuilder) other(code byte, data []byte) {
	p.b = append(p.b, 0, 0, 1, code, byte(len(data)>>8), byte(len(data)))
	p.b = append(p.b, data...)
}

// splitNALs splits an Annex-B access unit before each start code.
func splitNALs(au []byte) [][]byte {
	var out [][]byte
	for len(au) > 0 {
		i := bytes.Index(au[3:], []byte{0, 0, 0, 1})
		if i < 0 {
			return append(out, au)
		}
		out = append(out, au[:i+3])
		au = au[i+3:]
	}
	return out
}

// chunks cuts b into pieces of n bytes; n <= 0 leaves it whole.
func chunks(b []byte, n int) [][]byte {
	if n <= 0 {
		n = len(b)
	}
	var out [][]byte
	for len(b) > 0 {
		k := min(n, len(b))
		out = append(out, b[:k])
		b = b[k:]
	}
	return out
}

// cameraLayouts write frames (from clip.generate) the ways cameras and
// other muxers do, and return the frames a demuxer should give back.
var cameraLayouts = []struct {
	name  string
	clip  clip
	write func(p *psBuilder, frames []Frame) []Frame
}{
	{"Hikvision: every NAL unit in its own PES with the same PTS", clip{video: StreamH264, audio: StreamG711A, frames: 15, gop: 5},
		func(p *psBuilder, frames []Frame) []Frame {
			for _, f := range frames {
				p.pack(f.DTS, 6)
				if f.Key {
					p.system()
				}
				if !IsVideoID(f.StreamID) {
					p.pes(f.StreamID, f.PTS, f.DTS, f.Data)
					continue
				}
				for _, n := range splitNALs(f.Data) {
					for i, c := range chunks(n, 4000) {
						if i == 0 {
							p.pes(f.StreamID, f.PTS, f.DTS, c)
						} else {
							p.pes(f.StreamID, -1, -1, c)
						}
					}
				}
			}
			return frames
		}},
	{"Hikvision H.265", clip{video: StreamH265, audio: StreamAAC, frames: 15, gop: 5},
		func(p *psBuilder, frames []Frame) []Frame {
			for _, f := range frames {
				p.pack(f.DTS, 0)
				if f.Key {
					p.system()
				}
				for _, n := range splitNALs(f.Data) {
					p.pes(f.StreamID, f.PTS, f.DTS, n)
				}
			}
			return frames
		}},
	{"Dahua: 1400-byte PES, PTS on the first, audio in the video's pack", clip{video: StreamH264, audio: StreamAAC, frames: 15, gop: 5, maxVideo: 9000},
		func(p *psBuilder, frames []Frame) []Frame {
			for _, f := range frames {
				if IsVideoID(f.StreamID) {
					p.pack(f.DTS, 0)
					if f.Key {
						p.system()
					}
				}
				for i, c := range chunks(f.Data, 1400) {
					if i == 0 {
						p.pes(f.StreamID, f.PTS, f.DTS, c)
					} else {
						p.pes(f.StreamID, -1, -1, c)
					}
				}
			}
			return frames
		}},
	{"SEI after the slices in a PES of its own", clip{video: StreamH264, frames: 10, gop: 5},
		func(p *psBuilder, frames []Frame) []Frame {
			rng := rand.New(rand.NewPCG(7, 7))
			want := make([]Frame, len(frames))
			for i, f := range frames {
				sei := nalu(nil, rng, 16, 0x06, 0x05)
				p.pack(f.DTS, 0)
				if f.Key {
					p.system()
				}
				p.pes(f.StreamID, f.PTS, f.DTS, f.Data)
				p.pes(f.StreamID, f.PTS, f.DTS, sei)
				want[i] = f
				want[i].Data = append(bytes.Clone(f.Data), sei...)
			}
			return want
		}},
	{"MPEG-1 packs and PES, 3-byte start codes, PSM once", clip{video: StreamH264, audio: StreamAAC, frames: 12, gop: 4},
		func(p *psBuilder, frames []Frame) []Frame {
			want := make([]Frame, len(frames))
			for i, f := range frames {
				if IsVideoID(f.StreamID) {
					f.Data = bytes.ReplaceAll(f.Data, []byte{0, 0, 0, 1}, []byte{0, 0, 1})
					f.DTS = f.PTS // MPEG-1 PES written with a PTS only
				}
				p.pack1(f.PTS)
				if i == 0 {
					p.system()
				}
				p.pes1(f.StreamID, f.PTS, f.Data)
				want[i] = f
			}
			return want
		}},
	{"padding, private streams and program ends between frames", clip{video: StreamH265, audio: StreamG711A, frames: 12, gop: 4},
		func(p *psBuilder, frames []Frame) []Frame {
			for i, f := range frames {
				p.pack(f.DTS, 2)
				if f.Key {
					p.system()
				}
				p.other(codePrivate1, []byte{0xA0, 0, 0, 1, 0xBA, 0, 0, 1, 0xE0})
				p.pes(f.StreamID, f.PTS, f.DTS, f.Data)
				p.other(codePadding, bytes.Repeat([]byte{0xFF}, 100))
				p.other(codePrivate2, []byte{0, 0, 1, 0xBC, 0xFF, 0xFF})
				if i%5 == 4 {
					p.b = append(p.b, 0, 0, 1, codeEnd)
				}
			}
			return frames
		}},
	{"video PES without length", clip{video: StreamH264, audio: StreamAAC, frames: 12, gop: 4},
		func(p *psBuilder, frames []Frame) []Frame {
			for _, f := range frames {
				p.pack(f.DTS, 0)
				if f.Key {
					p.system()
				}
				if IsVideoID(f.StreamID) {
					p.pesOpen(f.StreamID, f.PTS, f.Data)
				} else {
					p.pes(f.StreamID, f.PTS, f.DTS, f.Data)
				}
			}
			return frames
		}},
	{"ffmpeg: 2 KiB packets cut anywhere, PTS of the first frame starting in each", clip{video: StreamH264, frames: 30, gop: 10, bframes: true},
		ffmpegLayout},
	{"ffmpeg H.265", clip{video: StreamH265, frames: 30, gop: 10, maxVideo: 1500},
		ffmpegLayout},
	{"four frames to a pack, no system header or PSM", clip{video: StreamH264, audio: StreamG711A, frames: 16, gop: 8},
		func(p *psBuilder, frames []Frame) []Frame {
			v := 0
			for _, f := range frames {
				if IsVideoID(f.StreamID) {
					if v%4 == 0 {
						p.pack(f.DTS, 0)
					}
					v++
				}
				p.pes(f.StreamID, f.PTS, f.DTS, f.Data)
			}
			return frames
		}},
}

// TestCameraLayouts demuxes program streams laid out as cameras in the
// field and other muxers write them, in RTP-sized pieces and in 1-byte
// pieces.
func TestCameraLayouts(t *testing.T) {
	for _, tc := range cameraLayouts {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &psBuilder{streams: tc.clip.streams()}
			want := tc.write(p, tc.clip.generate(3))
			for _, n := range []int{1, 7, 1400, 0} {
				d := NewDemuxer()
				got := demuxPieces(t, d, p.b, n)
				if diff := diffFrames(got, want); diff != "" {
					t.Fatalf("pieces of %d: %s", n, diff)
				}
				if st := d.Stats(); st.Garbage != 0 || st.Dropped != 0 || st.Resyncs != 0 {
					t.Fatalf("pieces of %d: %+v", n, st)
				}
			}
		})
	}
}

// ffmpegLayout writes video as ffmpeg's PS muxers do: the elementary stream
// cut into fixed-size packets, each with the timestamps of the first frame
// that starts in it, if any. The frames that start in a packet after
// another one come back without timestamps.
func ffmpegLayout(p *psBuilder, frames []Frame) []Frame {
	var es []byte
	var starts []int
	for _, f := range frames {
		starts = append(starts, len(es))
		es = append(es, f.Data...)
	}
	want := slices.Clone(frames)
	next := 0 // first frame not yet starting in a packet
	for off := 0; off < len(es); off += 2000 {
		end := min(off+2000, len(es))
		pts, dts := int64(-1), int64(-1)
		for first := next; next < len(starts) && starts[next] < end; next++ {
			if next == first {
				pts, dts = frames[next].PTS, frames[next].DTS
			} else {
				want[next].PTS, want[next].DTS = -1, -1
			}
		}
		p.pack(max(dts, 0), 0)
		if off == 0 {
			p.system()
		}
		p.pes(frames[0].StreamID, pts, dts, es[off:end])
	}
	return want
}
