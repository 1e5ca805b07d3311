package media_test

import (
	"bytes"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
)

// clipUnits returns the first SPS, PPS and IDR slice of the H.264 clip.
func clipUnits(t *testing.T) (sps, pps, idr []byte) {
	for _, n := range testutil.ClipAccessUnits(t, "h264.h264", false)[0] {
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			sps = n
		case h264.NALUTypePPS:
			pps = n
		case h264.NALUTypeIDR:
			idr = n
		}
	}
	if sps == nil || pps == nil || idr == nil {
		t.Fatal("the clip's first access unit lacks SPS, PPS or IDR")
	}
	return sps, pps, idr
}

func equalUnits(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestAppendAccessUnit(t *testing.T) {
	sps, pps, idr := clipUnits(t)
	track, err := media.NewH264Track(sps, pps)
	if err != nil {
		t.Fatal(err)
	}
	sei := []byte{6, 5, 1, 0x80}
	aud := media.AccessUnitDelimiter(media.CodecH264)
	tests := []struct {
		name  string
		key   bool
		in    [][]byte
		want  [][]byte
		wantN int
	}{
		{"keyframe without them", true, [][]byte{sei, idr}, [][]byte{sps, pps, sei, idr}, 2},
		{"keyframe with them", true, [][]byte{aud, sps, pps, idr}, [][]byte{sps, pps, idr}, 3},
		{"keyframe with SPS only", true, [][]byte{sps, idr}, [][]byte{sps, pps, sps, idr}, 2},
		{"other frame", false, [][]byte{aud, sei, idr}, [][]byte{sei, idr}, 2},
		{"nothing but a delimiter", true, [][]byte{aud}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &media.Frame{Track: track, Key: tt.key, Payload: media.AppendAVCC(nil, tt.in...)}
			prefix := []byte{0xaa}
			got, n := media.AppendAccessUnit([][]byte{prefix}, f)
			if n != tt.wantN || !bytes.Equal(got[0], prefix) {
				t.Fatalf("n = %d, first unit %x; want n = %d after the prefix", n, got[0], tt.wantN)
			}
			if n > 0 && !equalUnits(got[1:], tt.want) {
				t.Fatalf("got %d units %x, want %d", len(got)-1, got[1:], len(tt.want))
			}
		})
	}
	// A truncated payload holds no unit: nothing to send.
	f := &media.Frame{Track: track, Key: true, Payload: []byte{0, 0, 0, 9, 1}}
	if _, n := media.AppendAccessUnit(nil, f); n != 0 {
		t.Errorf("truncated payload: n = %d, want 0", n)
	}
}

// H.265 keyframes get VPS, SPS and PPS.
func TestAppendAccessUnitH265(t *testing.T) {
	var vps, sps, pps, irap []byte
	for _, n := range testutil.ClipAccessUnits(t, "h265.hevc", true)[0] {
		switch h265.NALUType((n[0] >> 1) & 0x3f) {
		case h265.NALUType_VPS_NUT:
			vps = n
		case h265.NALUType_SPS_NUT:
			sps = n
		case h265.NALUType_PPS_NUT:
			pps = n
		case h265.NALUType_IDR_W_RADL, h265.NALUType_IDR_N_LP:
			irap = n
		}
	}
	tr, err := media.NewH265Track(vps, sps, pps)
	if err != nil {
		t.Fatal(err)
	}
	got, n := media.AppendAccessUnit(nil, &media.Frame{Track: tr, Key: true, Payload: media.AppendAVCC(nil, irap)})
	if n != 1 || !equalUnits(got, [][]byte{vps, sps, pps, irap}) {
		t.Fatalf("n = %d, got %d units, want VPS, SPS, PPS, IRAP", n, len(got))
	}
}

func TestAppendAnnexB(t *testing.T) {
	got := media.AppendAnnexB([]byte{9}, [][]byte{{1, 2}, {3}})
	if want := []byte{9, 0, 0, 0, 1, 1, 2, 0, 0, 0, 1, 3}; !bytes.Equal(got, want) {
		t.Errorf("AppendAnnexB = %x, want %x", got, want)
	}
}
