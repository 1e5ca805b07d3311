package ps

import (
	"testing"
)

var roundTrips = []struct {
	name string
	clip clip
	mux  Muxer // options
}{
	{"H264+AAC", clip{video: StreamH264, audio: StreamAAC, frames: 12, gop: 5}, Muxer{}},
	{"H265+G711A", clip{video: StreamH265, audio: StreamG711A, frames: 12, gop: 5}, Muxer{}},
	{"AAC only", clip{audio: StreamAAC, frames: 30}, Muxer{}},
	{"G711U only", clip{audio: StreamG711U, frames: 30}, Muxer{}},
	{"H264 only", clip{video: StreamH264, frames: 12, gop: 5}, Muxer{}},
	{"H264+AAC no PSM", clip{video: StreamH264, audio: StreamAAC, frames: 12, gop: 5}, Muxer{OmitPSM: true}},
	{"H265+G711A no PSM", clip{video: StreamH265, audio: StreamG711A, frames: 12, gop: 5}, Muxer{OmitPSM: true}},
	{"H264 B-frames small PES", clip{video: StreamH264, audio: StreamAAC, frames: 12, gop: 6, bframes: true}, Muxer{MaxPESPayload: 700}},
	{"H265 frames without PTS", clip{video: StreamH265, frames: 12, gop: 6, noPTS: 3}, Muxer{MaxPESPayload: 1000}},
}

// TestRoundTrip muxes synthetic frames and demuxes them back, the program
// stream written in pieces of every size from 1 to 1500 bytes.
func TestRoundTrip(t *testing.T) {
	for _, tc := range roundTrips {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := tc.clip.generate(1)
			m := NewMuxer(tc.clip.streams())
			m.MaxPESPayload, m.OmitPSM = tc.mux.MaxPESPayload, tc.mux.OmitPSM
			ps := muxAll(m, want)
			for n := 1; n <= 1500; n++ {
				d := NewDemuxer()
				got := demuxPieces(t, d, ps, n)
				if diff := diffFrames(got, want); diff != "" {
					t.Fatalf("pieces of %d bytes: %s", n, diff)
				}
				if st := d.Stats(); st.Garbage != 0 || st.Dropped != 0 || st.Resyncs != 0 {
					t.Fatalf("pieces of %d bytes: %+v", n, st)
				}
			}
		})
	}
}
