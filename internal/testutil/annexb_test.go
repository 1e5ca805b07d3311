package testutil

import "testing"

func TestClipAccessUnits(t *testing.T) {
	for _, c := range []struct {
		name string
		hevc bool
		want int
	}{{"h264.h264", false, 150}, {"h265.hevc", true, 100}} {
		if got := len(ClipAccessUnits(t, c.name, c.hevc)); got != c.want {
			t.Errorf("%s: %d access units, want %d", c.name, got, c.want)
		}
	}
}

func TestSplitAnnexB(t *testing.T) {
	got := SplitAnnexB(t, []byte{0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4})
	want := [][]byte{{0x67, 1, 2}, {0x68, 3}, {0x65, 4}}
	if len(got) != len(want) {
		t.Fatalf("got %d NAL units, want %d", len(got), len(want))
	}
	for i := range want {
		if string(got[i]) != string(want[i]) {
			t.Errorf("unit %d: %x, want %x", i, got[i], want[i])
		}
	}
}

func TestNALUnitsWithoutStartCode(t *testing.T) {
	if nalus, ok := NALUnits([]byte{0x67, 1, 0, 0, 2}); ok || nalus != nil {
		t.Fatalf("got %x, %v", nalus, ok)
	}
	if nalus, ok := NALUnits([]byte{0, 0, 1}); !ok || len(nalus) != 0 {
		t.Fatalf("start code only: %x, %v", nalus, ok)
	}
}
