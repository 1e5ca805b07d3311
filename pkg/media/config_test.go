package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"

	"github.com/mediakit/mediakit/internal/testutil"
)

// clipParamSets returns the first VPS (H.265 only), SPS and PPS of a raw
// Annex-B clip, after checking that every repetition of them in the clip is
// identical and counting the slices.
func clipParamSets(t testing.TB, name string, hevc bool) (vps, sps, pps []byte, counts map[string]int) {
	t.Helper()
	data, err := os.ReadFile(testutil.Clip(t, name))
	if err != nil {
		t.Fatal(err)
	}
	counts = map[string]int{}
	keep := func(kind string, dst *[]byte, nalu []byte) {
		counts[kind]++
		if *dst == nil {
			*dst = nalu
		} else if !bytes.Equal(*dst, nalu) {
			t.Fatalf("%s: %s #%d differs from the first", name, kind, counts[kind])
		}
	}
	for _, nalu := range testutil.SplitAnnexB(t, data) {
		if hevc {
			switch typ := h265.NALUType((nalu[0] >> 1) & 0x3f); {
			case typ == h265.NALUType_VPS_NUT:
				keep("vps", &vps, nalu)
			case typ == h265.NALUType_SPS_NUT:
				keep("sps", &sps, nalu)
			case typ == h265.NALUType_PPS_NUT:
				keep("pps", &pps, nalu)
			case typ < 32:
				counts["slice"]++
			}
			continue
		}
		switch typ := h264.NALUType(nalu[0] & 0x1f); typ {
		case h264.NALUTypeSPS:
			keep("sps", &sps, nalu)
		case h264.NALUTypePPS:
			keep("pps", &pps, nalu)
		case h264.NALUTypeIDR, h264.NALUTypeNonIDR:
			counts["slice"]++
		}
	}
	return vps, sps, pps, counts
}

func TestClipTracks(t *testing.T) {
	tests := []struct {
		clip        string
		hevc        bool
		codec       Codec
		paramSets   int // SPS/PPS (and VPS) repetitions: one per keyframe
		slices      int
		width, high int
		fps         float64
	}{
		{clip: "h264.h264", codec: CodecH264, paramSets: 6, slices: 150, width: 320, high: 240, fps: 25},
		{clip: "h265.hevc", hevc: true, codec: CodecH265, paramSets: 4, slices: 100, width: 320, high: 240, fps: 25},
	}
	for _, tt := range tests {
		t.Run(tt.clip, func(t *testing.T) {
			vps, sps, pps, counts := clipParamSets(t, tt.clip, tt.hevc)
			if counts["sps"] != tt.paramSets || counts["pps"] != tt.paramSets {
				t.Errorf("SPS/PPS count = %d/%d, want %d", counts["sps"], counts["pps"], tt.paramSets)
			}
			if tt.hevc && counts["vps"] != tt.paramSets {
				t.Errorf("VPS count = %d, want %d", counts["vps"], tt.paramSets)
			}
			if counts["slice"] != tt.slices {
				t.Errorf("slices = %d, want %d", counts["slice"], tt.slices)
			}
			var tr *Track
			var err error
			if tt.hevc {
				tr, err = NewH265Track(vps, sps, pps)
			} else {
				tr, err = NewH264Track(sps, pps)
			}
			if err != nil {
				t.Fatal(err)
			}
			if tr.Codec != tt.codec || tr.Kind() != KindVideo {
				t.Errorf("codec = %v (%v), want %v", tr.Codec, tr.Kind(), tt.codec)
			}
			if tr.Width != tt.width || tr.Height != tt.high {
				t.Errorf("size = %dx%d, want %dx%d", tr.Width, tr.Height, tt.width, tt.high)
			}
			if tr.FPS != tt.fps {
				t.Errorf("fps = %v, want %v", tr.FPS, tt.fps)
			}
			if !bytes.Equal(tr.SPS, sps) || !bytes.Equal(tr.PPS, pps) || !bytes.Equal(tr.VPS, vps) {
				t.Error("track parameter sets differ from the clip's")
			}
			// The track owns copies.
			if len(sps) > 0 && &tr.SPS[0] == &sps[0] {
				t.Error("track SPS aliases the caller's buffer")
			}
		})
	}
}

func TestNewVideoTrackErrors(t *testing.T) {
	_, sps, pps, _ := clipParamSets(t, "h264.h264", false)
	vps5, sps5, pps5, _ := clipParamSets(t, "h265.hevc", true)
	tests := []struct {
		name string
		fn   func() (*Track, error)
	}{
		{"h264 no SPS", func() (*Track, error) { return NewH264Track(nil, pps) }},
		{"h264 no PPS", func() (*Track, error) { return NewH264Track(sps, nil) }},
		{"h264 garbage SPS", func() (*Track, error) { return NewH264Track([]byte{0x67, 0xff}, pps) }},
		{"h264 truncated SPS", func() (*Track, error) { return NewH264Track(sps[:4], pps) }},
		{"h265 no VPS", func() (*Track, error) { return NewH265Track(nil, sps5, pps5) }},
		{"h265 no SPS", func() (*Track, error) { return NewH265Track(vps5, nil, pps5) }},
		{"h265 no PPS", func() (*Track, error) { return NewH265Track(vps5, sps5, nil) }},
		{"h265 truncated SPS", func() (*Track, error) { return NewH265Track(vps5, sps5[:6], pps5) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tr, err := tt.fn(); err == nil {
				t.Fatalf("got track %v, want an error", tr)
			}
		})
	}
}

func TestAVCConfigRoundTrip(t *testing.T) {
	_, sps, pps, _ := clipParamSets(t, "h264.h264", false)
	prefix := []byte{0xaa, 0xbb}
	rec := AppendAVCConfig(append([]byte(nil), prefix...), sps, pps)
	if !bytes.Equal(rec[:2], prefix) {
		t.Fatal("AppendAVCConfig did not append to dst")
	}
	rec = rec[2:]
	if want := []byte{1, sps[1], sps[2], sps[3], 0xff, 0xe1}; !bytes.Equal(rec[:6], want) {
		t.Errorf("record header = % x, want % x", rec[:6], want)
	}
	c, err := ParseAVCConfig(rec)
	if err != nil {
		t.Fatal(err)
	}
	if c.LengthSize != 4 {
		t.Errorf("LengthSize = %d, want 4", c.LengthSize)
	}
	if len(c.SPS) != 1 || !bytes.Equal(c.SPS[0], sps) {
		t.Errorf("SPS = %x, want [%x]", c.SPS, sps)
	}
	if len(c.PPS) != 1 || !bytes.Equal(c.PPS[0], pps) {
		t.Errorf("PPS = %x, want [%x]", c.PPS, pps)
	}
	tr, err := NewH264Track(c.SPS[0], c.PPS[0])
	if err != nil || tr.Width != 320 || tr.Height != 240 {
		t.Errorf("track from parsed record = %v, %v", tr, err)
	}
}

// avcRecord builds an avcC by hand.
func avcRecord(lengthSizeMinusOne byte, sps, pps [][]byte) []byte {
	b := []byte{1, 0x42, 0xc0, 0x1e, 0xfc | lengthSizeMinusOne, 0xe0 | byte(len(sps))}
	for _, s := range sps {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	b = append(b, byte(len(pps)))
	for _, p := range pps {
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
		b = append(b, p...)
	}
	return b
}

func TestParseAVCConfig(t *testing.T) {
	sps1, sps2 := []byte{0x67, 1, 2, 3}, []byte{0x67, 4, 5}
	pps1, pps2 := []byte{0x68, 9}, []byte{0x68, 8, 7}
	valid := avcRecord(3, [][]byte{sps1}, [][]byte{pps1})
	tests := []struct {
		name       string
		in         []byte
		wantErr    bool
		lengthSize int
		sps, pps   [][]byte
	}{
		{name: "one each", in: valid, lengthSize: 4, sps: [][]byte{sps1}, pps: [][]byte{pps1}},
		{name: "two each", in: avcRecord(3, [][]byte{sps1, sps2}, [][]byte{pps1, pps2}), lengthSize: 4,
			sps: [][]byte{sps1, sps2}, pps: [][]byte{pps1, pps2}},
		{name: "length size 1", in: avcRecord(0, [][]byte{sps1}, [][]byte{pps1}), lengthSize: 1, sps: [][]byte{sps1}, pps: [][]byte{pps1}},
		{name: "length size 2", in: avcRecord(1, [][]byte{sps1}, [][]byte{pps1}), lengthSize: 2, sps: [][]byte{sps1}, pps: [][]byte{pps1}},
		// High-profile records carry chroma/bit depth after the PPS.
		{name: "trailing extension", in: append(append([]byte(nil), valid...), 0xfd, 0xf8, 0xf8, 0), lengthSize: 4,
			sps: [][]byte{sps1}, pps: [][]byte{pps1}},
		// Zero counts are legal (avc3: parameter sets in band); the caller
		// decides whether it needs them.
		{name: "zero SPS", in: avcRecord(3, nil, [][]byte{pps1}), lengthSize: 4, pps: [][]byte{pps1}},
		{name: "zero PPS", in: avcRecord(3, [][]byte{sps1}, nil), lengthSize: 4, sps: [][]byte{sps1}},
		{name: "zero both", in: avcRecord(3, nil, nil), lengthSize: 4},

		{name: "empty", in: nil, wantErr: true},
		{name: "six bytes", in: valid[:6], wantErr: true},
		{name: "version 0", in: append([]byte{0}, valid[1:]...), wantErr: true},
		{name: "version 2", in: append([]byte{2}, valid[1:]...), wantErr: true},
		{name: "length size 3", in: avcRecord(2, [][]byte{sps1}, [][]byte{pps1}), wantErr: true},
		{name: "SPS length cut", in: valid[:7], wantErr: true},
		{name: "SPS cut", in: valid[:9], wantErr: true},
		{name: "no PPS count", in: valid[:8+len(sps1)], wantErr: true},
		{name: "PPS length cut", in: valid[:8+len(sps1)+2], wantErr: true},
		{name: "PPS cut", in: valid[:len(valid)-1], wantErr: true},
		{name: "SPS count beyond data", in: avcRecord(3, [][]byte{sps1, sps2}, nil)[:8+len(sps1)+len(sps2)+1], wantErr: true},
		{name: "zero-length SPS", in: avcRecord(3, [][]byte{{}}, [][]byte{pps1}), wantErr: true},
		{name: "zero-length PPS", in: avcRecord(3, [][]byte{sps1}, [][]byte{{}}), wantErr: true},
		{name: "SPS length 0xffff", in: []byte{1, 0x42, 0, 0x1e, 0xff, 0xe1, 0xff, 0xff, 0x67}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseAVCConfig(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %+v, want an error", c)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.LengthSize != tt.lengthSize {
				t.Errorf("LengthSize = %d, want %d", c.LengthSize, tt.lengthSize)
			}
			if !equalUnits(c.SPS, tt.sps) || !equalUnits(c.PPS, tt.pps) {
				t.Errorf("SPS/PPS = %x/%x, want %x/%x", c.SPS, c.PPS, tt.sps, tt.pps)
			}
			checkWithin(t, tt.in, c.SPS, c.PPS)
		})
	}
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

func TestHEVCConfigRoundTrip(t *testing.T) {
	vps, sps, pps, _ := clipParamSets(t, "h265.hevc", true)
	rec := AppendHEVCConfig([]byte{0xaa}, vps, sps, pps)
	if rec[0] != 0xaa {
		t.Fatal("AppendHEVCConfig did not append to dst")
	}
	rec = rec[1:]
	c, err := ParseHEVCConfig(rec)
	if err != nil {
		t.Fatal(err)
	}
	if c.LengthSize != 4 {
		t.Errorf("LengthSize = %d, want 4", c.LengthSize)
	}
	for _, p := range []struct {
		name      string
		got       [][]byte
		want      []byte
		wantFirst byte
	}{{"VPS", c.VPS, vps, 0x40}, {"SPS", c.SPS, sps, 0x42}, {"PPS", c.PPS, pps, 0x44}} {
		if len(p.got) != 1 || !bytes.Equal(p.got[0], p.want) {
			t.Errorf("%s = %x, want [%x]", p.name, p.got, p.want)
		}
		if p.want[0] != p.wantFirst {
			t.Errorf("%s NAL header %#x, want %#x", p.name, p.want[0], p.wantFirst)
		}
	}
	tr, err := NewH265Track(c.VPS[0], c.SPS[0], c.PPS[0])
	if err != nil || tr.Width != 320 || tr.Height != 240 {
		t.Errorf("track from parsed record = %v, %v", tr, err)
	}
}

// TestHEVCConfigMatchesMP4 compares the record AppendHEVCConfig builds with
// the hvcC box ffmpeg/x265 wrote into h265_aac.mp4 for the same stream.
func TestHEVCConfigMatchesMP4(t *testing.T) {
	data, err := os.ReadFile(testutil.Clip(t, "h265_aac.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	box := findHvcC(t, data)
	vps, sps, pps, _ := clipParamSets(t, "h265.hevc", true)

	// The box's own parameter sets are the clip's.
	fromMP4, err := ParseHEVCConfig(box)
	if err != nil {
		t.Fatal(err)
	}
	if len(fromMP4.VPS) != 1 || !bytes.Equal(fromMP4.VPS[0], vps) ||
		len(fromMP4.SPS) != 1 || !bytes.Equal(fromMP4.SPS[0], sps) ||
		len(fromMP4.PPS) != 1 || !bytes.Equal(fromMP4.PPS[0], pps) {
		t.Fatalf("hvcC parameter sets differ from h265.hevc's")
	}

	ours := AppendHEVCConfig(nil, vps, sps, pps)
	fields := []struct {
		name     string
		from, to int
	}{
		{"configurationVersion", 0, 1},
		{"profile_space/tier/profile_idc", 1, 2},
		{"profile_compatibility_flags", 2, 6},
		{"constraint_indicator_flags", 6, 12},
		{"level_idc", 12, 13},
		{"min_spatial_segmentation_idc", 13, 15},
		{"parallelismType", 15, 16},
		{"chromaFormat", 16, 17},
		{"bitDepthLumaMinus8", 17, 18},
		{"bitDepthChromaMinus8", 18, 19},
		{"avgFrameRate", 19, 21},
		{"frame rate/layers/nesting/lengthSize", 21, 22},
	}
	for _, f := range fields {
		if got, want := ours[f.from:f.to], box[f.from:f.to]; !bytes.Equal(got, want) {
			t.Errorf("%s = % x, mp4 hvcC has % x", f.name, got, want)
		}
	}
	// Main profile, Main tier, level 2 (level_idc 60) for 320x240@25.
	if ours[1] != 0x01 || ours[12] != 60 {
		t.Errorf("profile byte %#x level %d, want 0x01 and 60", ours[1], ours[12])
	}
}

// findHvcC walks the MP4 box tree down to the hvcC box of the hvc1 sample
// entry and returns its payload.
func findHvcC(t *testing.T, file []byte) []byte {
	t.Helper()
	path := []struct {
		typ  string
		skip int // bytes between the box header and its children
	}{
		{"moov", 0}, {"trak", 0}, {"mdia", 0}, {"minf", 0}, {"stbl", 0},
		{"stsd", 8},  // version/flags, entry_count
		{"hvc1", 78}, // VisualSampleEntry fields
		{"hvcC", 0},
	}
	var walk func(buf []byte, depth int) []byte
	walk = func(buf []byte, depth int) []byte {
		for len(buf) >= 8 {
			size := int(binary.BigEndian.Uint32(buf))
			hdr := 8
			if size == 1 {
				size = int(binary.BigEndian.Uint64(buf[8:]))
				hdr = 16
			} else if size == 0 {
				size = len(buf)
			}
			if size < hdr || size > len(buf) {
				t.Fatalf("bad box size %d", size)
			}
			typ := string(buf[4:8])
			if typ == path[depth].typ {
				payload := buf[hdr:size]
				if depth == len(path)-1 {
					return payload
				}
				if r := walk(payload[path[depth].skip:], depth+1); r != nil {
					return r
				}
			}
			buf = buf[size:]
		}
		return nil
	}
	box := walk(file, 0)
	if box == nil {
		t.Fatal("no hvcC box in the MP4")
	}
	return box
}

// hvcRecord builds an hvcC by hand: a 23-byte header then arrays of
// (type, units).
func hvcRecord(lengthSizeMinusOne byte, arrays ...hvcArray) []byte {
	b := make([]byte, 23)
	b[0] = 1
	b[21] = 0x0c | lengthSizeMinusOne
	b[22] = byte(len(arrays))
	for _, a := range arrays {
		b = append(b, 0x80|byte(a.typ))
		b = binary.BigEndian.AppendUint16(b, uint16(len(a.units)))
		for _, u := range a.units {
			b = binary.BigEndian.AppendUint16(b, uint16(len(u)))
			b = append(b, u...)
		}
	}
	return b
}

type hvcArray struct {
	typ   h265.NALUType
	units [][]byte
}

func TestParseHEVCConfig(t *testing.T) {
	vps := []byte{0x40, 1, 2}
	sps := []byte{0x42, 1, 3, 4}
	sps2 := []byte{0x42, 1, 5}
	pps := []byte{0x44, 1}
	sei := []byte{0x4e, 1, 5, 6}
	vpsA := hvcArray{h265.NALUType_VPS_NUT, [][]byte{vps}}
	spsA := hvcArray{h265.NALUType_SPS_NUT, [][]byte{sps}}
	ppsA := hvcArray{h265.NALUType_PPS_NUT, [][]byte{pps}}
	valid := hvcRecord(3, vpsA, spsA, ppsA)
	tests := []struct {
		name          string
		in            []byte
		wantErr       bool
		lengthSize    int
		vps, sps, pps [][]byte
	}{
		{name: "one each", in: valid, lengthSize: 4, vps: [][]byte{vps}, sps: [][]byte{sps}, pps: [][]byte{pps}},
		{name: "SEI array ignored", in: hvcRecord(3, vpsA, spsA, ppsA, hvcArray{h265.NALUType_PREFIX_SEI_NUT, [][]byte{sei}}),
			lengthSize: 4, vps: [][]byte{vps}, sps: [][]byte{sps}, pps: [][]byte{pps}},
		{name: "two SPS", in: hvcRecord(3, vpsA, hvcArray{h265.NALUType_SPS_NUT, [][]byte{sps, sps2}}, ppsA),
			lengthSize: 4, vps: [][]byte{vps}, sps: [][]byte{sps, sps2}, pps: [][]byte{pps}},
		{name: "length size 1", in: hvcRecord(0, vpsA, spsA, ppsA), lengthSize: 1, vps: [][]byte{vps}, sps: [][]byte{sps}, pps: [][]byte{pps}},
		{name: "length size 2", in: hvcRecord(1, vpsA, spsA, ppsA), lengthSize: 2, vps: [][]byte{vps}, sps: [][]byte{sps}, pps: [][]byte{pps}},
		{name: "zero arrays", in: hvcRecord(3), lengthSize: 4},
		{name: "zero units", in: hvcRecord(3, hvcArray{h265.NALUType_SPS_NUT, nil}, ppsA), lengthSize: 4, pps: [][]byte{pps}},
		{name: "zero-length unit skipped", in: hvcRecord(3, vpsA, hvcArray{h265.NALUType_SPS_NUT, [][]byte{{}, sps}}, ppsA),
			lengthSize: 4, vps: [][]byte{vps}, sps: [][]byte{sps}, pps: [][]byte{pps}},

		{name: "empty", in: nil, wantErr: true},
		{name: "22 bytes", in: valid[:22], wantErr: true},
		{name: "version 0", in: append([]byte{0}, valid[1:]...), wantErr: true},
		{name: "length size 3", in: hvcRecord(2, vpsA, spsA, ppsA), wantErr: true},
		{name: "arrays without data", in: valid[:23], wantErr: true},
		{name: "array header cut", in: valid[:25], wantErr: true},
		{name: "unit length cut", in: valid[:27], wantErr: true},
		{name: "unit cut", in: valid[:28], wantErr: true},
		{name: "last unit cut", in: valid[:len(valid)-1], wantErr: true},
		{name: "unit count beyond data", in: hvcRecord(3, hvcArray{h265.NALUType_SPS_NUT, [][]byte{sps, sps2}})[:23+3+2+len(sps)], wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseHEVCConfig(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %+v, want an error", c)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.LengthSize != tt.lengthSize {
				t.Errorf("LengthSize = %d, want %d", c.LengthSize, tt.lengthSize)
			}
			if !equalUnits(c.VPS, tt.vps) || !equalUnits(c.SPS, tt.sps) || !equalUnits(c.PPS, tt.pps) {
				t.Errorf("VPS/SPS/PPS = %x/%x/%x, want %x/%x/%x", c.VPS, c.SPS, c.PPS, tt.vps, tt.sps, tt.pps)
			}
			checkWithin(t, tt.in, c.VPS, c.SPS, c.PPS)
		})
	}
}

func TestErrShortConfigWrapped(t *testing.T) {
	if _, err := ParseAVCConfig([]byte{1}); !errors.Is(err, errShortConfig) {
		t.Errorf("ParseAVCConfig short: %v, want errShortConfig", err)
	}
	if _, err := ParseHEVCConfig([]byte{1}); !errors.Is(err, errShortConfig) {
		t.Errorf("ParseHEVCConfig short: %v, want errShortConfig", err)
	}
}
