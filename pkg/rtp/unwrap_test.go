package rtp

import (
	"testing"
	"time"
)

func TestUnwrapper(t *testing.T) {
	type step struct {
		in   uint64
		want int64
		disc bool
	}
	tests := []struct {
		name  string
		u     Unwrapper
		steps []step
	}{
		{"32-bit wrap", Unwrapper{}, []step{
			{0xffff_f000, 0xffff_f000, false},
			{0xffff_ff00, 0xffff_ff00, false},
			{0x0000_0e00, 0x1_0000_0e00, false},
			{0x0001_0000, 0x1_0001_0000, false},
		}},
		{"B-frames step back", Unwrapper{}, []step{
			{9000, 9000, false},
			{18000, 18000, false},
			{12000, 12000, false},
			{15000, 15000, false},
			{27000, 27000, false},
		}},
		{"step back across the wrap", Unwrapper{}, []step{
			{0xffff_fff0, 0xffff_fff0, false},
			{0x0000_2000, 0x1_0000_2000, false},
			{0xffff_fff8, 0xffff_fff8, false},
			{0x0000_3000, 0x1_0000_3000, false},
		}},
		{"forward jump over 10 s", Unwrapper{}, []step{
			{1000, 1000, false},
			{1000 + 900_000, 901_000, false}, // 10 s exactly: still continuous
			{1000 + 900_000 + 900_001, 901_000, true},
			{1000 + 900_000 + 900_001 + 3600, 904_600, false},
		}},
		{"backward jump over 1 s", Unwrapper{}, []step{
			{500_000, 500_000, false},
			{500_000 - 90_001, 500_000, true},
			{500_000 - 90_001 + 3600, 503_600, false},
		}},
		{"33-bit PTS", Unwrapper{Bits: 33}, []step{
			{1<<33 - 3000, 1<<33 - 3000, false},
			{600, 1<<33 + 600, false},
			{1<<34 + 4200, 1<<33 + 4200, false}, // bits above 33 ignored
		}},
		{"8 kHz, custom limits", Unwrapper{ClockRate: 8000, MaxForward: 2 * time.Second, MaxBackward: time.Second}, []step{
			{0, 0, false},
			{16000, 16000, false},
			{32001, 16000, true},
			{32001 - 8001, 16000, true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.u
			for i, s := range tc.steps {
				got, disc := u.Unwrap(s.in)
				if got != s.want || disc != s.disc {
					t.Fatalf("step %d: Unwrap(%#x) = %#x, %v; want %#x, %v", i, s.in, got, disc, s.want, s.disc)
				}
			}
			u.Reset()
			if got, disc := u.Unwrap(77); got != 77 || disc {
				t.Fatalf("after Reset: %d, %v", got, disc)
			}
		})
	}
}

func TestUnwrapperLongRun(t *testing.T) {
	// Ten hours of 25 fps at 90 kHz wrap the 32-bit timestamp several
	// times; the extended value must keep counting.
	var u Unwrapper
	start := uint32(0xfff0_0000)
	for i := int64(0); i < 10*3600*25; i++ {
		got, disc := u.Unwrap(uint64(start + uint32(i*3600)))
		if disc || got != int64(start)+i*3600 {
			t.Fatalf("frame %d: %d, %v", i, got, disc)
		}
	}
}
