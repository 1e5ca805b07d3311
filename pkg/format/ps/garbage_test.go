package ps

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// validPS is a short clean program stream and its frames.
func validPS(seed uint64) ([]byte, []Frame) {
	c := clip{video: StreamH264, audio: StreamAAC, frames: 6, gop: 3}
	frames := c.generate(seed)
	return muxAll(NewMuxer(c.streams()), frames), frames
}

func randomBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return b
}

// TestGarbage writes garbage, then a valid stream: the garbage gives no
// frames and no errors, memory stays bounded, and the valid stream's
// frames come out whole (for the garbage cases marked so) once the
// demuxer has found its way back.
func TestGarbage(t *testing.T) {
	psm := func(length int, body ...byte) []byte {
		return append([]byte{0, 0, 1, codePSM, byte(length >> 8), byte(length)}, body...)
	}
	cases := []struct {
		name    string
		garbage []byte
		whole   bool // every frame of the valid stream after it comes out; else those after the first 64 KiB
		check   func(t *testing.T, st Stats)
	}{
		{"random bytes", randomBytes(1, 256<<10), true, func(t *testing.T, st Stats) {
			if st.Garbage < 256<<10-64 {
				t.Errorf("garbage %d", st.Garbage)
			}
		}},
		{"zeros", make([]byte, 64<<10), true, nil},
		{"start codes below 0xB9", bytes.Repeat([]byte{0, 0, 1, 0x67, 0, 0, 1}, 5000), true, nil},
		{"pack start codes with bad bytes", bytes.Repeat([]byte{0, 0, 1, codePack, 0xC4}, 5000), true, func(t *testing.T, st Stats) {
			if st.Resyncs < 5000 {
				t.Errorf("resyncs %d", st.Resyncs)
			}
		}},
		{"truncated pack header", []byte{0, 0, 1, codePack, 0x44, 0, 4}, true, nil},
		{"truncated PES header", []byte{0, 0, 1, 0xE0, 0x10, 0x00, 0x80, 0xC0}, false, nil},
		{"huge PES length", append([]byte{0, 0, 1, 0xE0, 0xFF, 0xFF, 0x80, 0x80, 0x05, 0x21, 0, 1, 0, 1, 0, 0, 0, 1, 0x41, 0x9A}, randomBytes(2, 100)...), false, nil},
		{"PES header longer than the packet", []byte{0, 0, 1, 0xE0, 0x00, 0x04, 0x80, 0x80, 0x05, 0x21, 0, 1, 0, 1}, true, nil},
		{"MPEG-1 PES with too much stuffing", append([]byte{0, 0, 1, 0xC0, 0x00, 0x30}, bytes.Repeat([]byte{0xFF}, 30)...), true, nil},
		{"PSM length 0xFFFF", psm(0xFFFF, 0xE0, 0xFF, 0, 0, 0, 4, 0x1B, 0xE0, 0, 0), true, func(t *testing.T, st Stats) {
			if st.Resyncs == 0 || st.PSMs == 0 { // the valid stream's PSMs are read
				t.Errorf("%+v", st)
			}
		}},
		{"PSM length too short", psm(4, 0xE0, 0xFF, 0, 0), true, nil},
		{"PSM info length past the end", psm(14, 0xE0, 0xFF, 0xFF, 0xF0, 0, 4, 0x24, 0xE0, 0, 0, 1, 2, 3, 4), true, func(t *testing.T, st Stats) {
			if st.BadPSMs != 1 {
				t.Errorf("%+v", st)
			}
		}},
		{"PSM entry past the end", psm(18, 0xE0, 0xFF, 0, 0, 0, 8, 0x24, 0xE0, 0, 0, 0x0F, 0xC0, 0x7F, 0xFF, 1, 2, 3, 4), true, func(t *testing.T, st Stats) {
			if st.BadPSMs != 1 {
				t.Errorf("%+v", st)
			}
		}},
		{"system header length 0xFFFF", []byte{0, 0, 1, codeSystemHeader, 0xFF, 0xFF, 1, 2, 3}, true, nil},
		{"unbounded video PES of garbage", append([]byte{0, 0, 1, 0xE0, 0, 0, 0x80, 0, 0}, randomBytes(3, 100<<10)...), true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			valid, want := validPS(9)
			var places []placed
			if !tc.whole { // a longer stream, of which a PES packet may swallow the start
				c := clip{video: StreamH264, audio: StreamAAC, frames: 80, gop: 20, maxVideo: 6000}
				m := NewMuxer(c.streams())
				m.MaxPESPayload = 1400
				valid, places = muxPlaced(m, c.generate(9))
			}
			for _, n := range []int{1, 1400, 0} {
				d := NewDemuxer()
				d.MaxFrameSize = 64 << 10
				var got []Frame
				emit := func(f Frame) { got = append(got, f) }
				for _, piece := range chunks(tc.garbage, n) {
					if err := d.Write(piece, emit); err != nil && !errors.Is(err, ErrFrameTooLarge) {
						t.Fatal(err)
					}
					if b := d.Buffered(); b > 2*d.MaxFrameSize+hdrMax {
						t.Fatalf("%d bytes buffered", b)
					}
				}
				got = got[:0]
				for _, piece := range chunks(valid, n) {
					if err := d.Write(piece, emit); err != nil {
						t.Fatal(err)
					}
				}
				d.Flush(emit)
				if tc.whole {
					if diff := diffFrames(got, want); diff != "" {
						t.Fatalf("pieces of %d: %s (%+v)", n, diff, d.Stats())
					}
				} else {
					after := func(i int) bool { return places[i].start >= pesMaxPayload+6 }
					var late []Frame
					for _, f := range got {
						for i, p := range places {
							if after(i) && p.StreamID == f.StreamID && p.PTS == f.PTS {
								late = append(late, f)
							}
						}
					}
					checkDelivered(t, late, places, after)
				}
				if tc.check != nil {
					tc.check(t, d.Stats())
				}
			}
		})
	}
}

// TestTruncated writes every prefix of a valid stream and flushes: no
// panic, and every frame but the last of each stream is whole.
func TestTruncated(t *testing.T) {
	valid, want := validPS(4)
	frames := make([]placed, len(want))
	for i, f := range want {
		frames[i] = placed{Frame: f}
	}
	for n := range len(valid) {
		d := NewDemuxer()
		var got []Frame
		emit := func(f Frame) { got = append(got, f) }
		if err := d.Write(valid[:n], emit); err != nil {
			t.Fatal(err)
		}
		d.Flush(emit)
		if len(got) == 0 {
			continue
		}
		// The flushed ones may be cut short: leave out the last of each stream.
		last := map[byte]int{}
		for i, f := range got {
			last[f.StreamID] = i
		}
		var whole []Frame
		for i, f := range got {
			if last[f.StreamID] != i {
				whole = append(whole, f)
			}
		}
		checkDelivered(t, whole, frames, func(int) bool { return false })
	}
}

// TestMaxFrameSize checks that a frame over the limit is dropped with an
// error, for video and audio, and that the frames after it come out.
func TestMaxFrameSize(t *testing.T) {
	for _, tc := range []struct {
		name string
		clip clip
		id   byte // of the stream whose 5th frame to blow up
	}{
		{"video", clip{video: StreamH264, audio: StreamG711A, frames: 10, gop: 4}, 0xE0},
		{"audio", clip{audio: StreamG711A, frames: 10}, 0xC0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frames := tc.clip.generate(2)
			big := -1
			for i, k := 0, 0; big < 0; i++ {
				if frames[i].StreamID == tc.id {
					if k == 4 {
						big = i
					}
					k++
				}
			}
			bigID, bigPTS := frames[big].StreamID, frames[big].PTS
			if IsVideoID(bigID) {
				frames[big].Data = append(frames[big].Data, nalu(nil, rand.New(rand.NewPCG(1, 1)), 300<<10, 0x41, 0x20)...)
			} else {
				frames[big].Data = g711Frame(rand.New(rand.NewPCG(1, 1)), 300<<10)
			}
			ps := muxAll(NewMuxer(tc.clip.streams()), frames)
			for _, n := range []int{1400, 0} {
				d := NewDemuxer()
				d.MaxFrameSize = 256 << 10
				var got []Frame
				var errs []error
				for _, piece := range chunks(ps, n) {
					if err := d.Write(piece, func(f Frame) { got = append(got, f) }); err != nil {
						errs = append(errs, err)
					}
					if b := d.Buffered(); b > 2*d.MaxFrameSize+hdrMax {
						t.Fatalf("%d bytes buffered", b)
					}
				}
				d.Flush(func(f Frame) { got = append(got, f) })
				if len(errs) != 1 || !errors.Is(errs[0], ErrFrameTooLarge) {
					t.Fatalf("errors %v, want one ErrFrameTooLarge", errs)
				}
				t.Log(errs[0])
				var want []Frame
				for _, f := range frames {
					if f.StreamID != bigID || f.PTS != bigPTS {
						want = append(want, f)
					}
				}
				if diff := diffFrames(got, want); diff != "" {
					t.Fatal(diff)
				}
				if st := d.Stats(); st.Oversize != 1 || st.DroppedFrames != 1 {
					t.Errorf("%+v", st)
				}
			}
		})
	}
}

// TestBoundedMemory feeds streams that would grow a frame forever.
func TestBoundedMemory(t *testing.T) {
	const limit = 64 << 10
	rng := rand.New(rand.NewPCG(3, 3))
	// One IDR slice that never ends, in unbounded PES packets.
	endless := []byte{0, 0, 1, 0xE0, 0, 0, 0x80, 0x80, 0x05, 0x21, 0, 1, 0, 1, 0, 0, 0, 1, 0x65, 0x88}
	endless = appendRBSP(endless, rng, 300<<10)
	// Slices of one picture on each of the 48 streams, PES after PES.
	var many []byte
	for i := range 20 {
		for id := 0xC0; id <= 0xEF; id++ {
			data := nalu(nil, rng, 4000, 0x65, 0x40)
			if i == 0 {
				data = nalu(nil, rng, 4000, 0x65, 0x88)
			}
			pts := int64(-1) // continuation packets of one frame
			if i == 0 {
				pts = 0
			}
			many = appendPESHeader(many, byte(id), len(data), pts, -1, false)
			many = append(many, data...)
		}
	}
	for _, tc := range []struct {
		name  string
		input []byte
	}{{"endless slice", endless}, {"48 streams", many}} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDemuxer()
			d.MaxFrameSize = limit
			peak := 0
			var err error
			for _, piece := range chunks(tc.input, 1400) {
				if e := d.Write(piece, func(Frame) {}); e != nil && err == nil {
					err = e
				}
				peak = max(peak, d.Buffered())
			}
			if !errors.Is(err, ErrFrameTooLarge) {
				t.Errorf("error %v, want ErrFrameTooLarge", err)
			}
			if peak > 2*limit+hdrMax {
				t.Errorf("peak %d bytes buffered, limit %d", peak, limit)
			}
			t.Logf("peak %d bytes buffered; %+v", peak, d.Stats())
		})
	}
}
