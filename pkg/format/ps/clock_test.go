package ps

import (
	"testing"
	"time"
)

func TestClockStamp(t *testing.T) {
	const ms = 90 // ticks
	steps := []struct {
		pts, dts     int64
		wantPTS      time.Duration
		wantDTS      time.Duration
		wantOK       bool
		wantDescribe string
	}{
		{-1, -1, 0, 0, false, "no PTS before any: dropped"},
		{1000 * ms, -1, time.Second, time.Second, true, "first PTS"},
		{1040 * ms, -1, 1040 * time.Millisecond, 1040 * time.Millisecond, true, "pace learnt: 40 ms"},
		{-1, -1, 1080 * time.Millisecond, 1080 * time.Millisecond, true, "no PTS: carried on at the pace"},
		{1200 * ms, 1120 * ms, 1200 * time.Millisecond, 1120 * time.Millisecond, true, "DTS before PTS"},
		{1<<33 - 10*ms, -1, -10 * time.Millisecond, -10 * time.Millisecond, true, "just below the wrap point reads as just before 0"},
	}
	var c Clock
	for i, s := range steps {
		pts, dts, ok := c.Stamp(Frame{PTS: s.pts, DTS: s.dts})
		if ok != s.wantOK {
			t.Fatalf("step %d (%s): ok %v", i, s.wantDescribe, ok)
		}
		if pts != s.wantPTS || dts != s.wantDTS {
			t.Errorf("step %d (%s): %v/%v, want %v/%v", i, s.wantDescribe, pts, dts, s.wantPTS, s.wantDTS)
		}
	}
}

func TestOpusPayload(t *testing.T) {
	pkt := []byte{0xfc, 1, 2, 3}
	for _, tt := range []struct {
		name string
		in   []byte
		want []byte
	}{
		{"bare packet", pkt, pkt},
		{"control header", append([]byte{0x7f, 0xe0, 4}, pkt...), pkt},
		{"header with trims", append([]byte{0x7f, 0xf8, 4, 0, 1, 0, 2}, pkt...), pkt},
		{"header cut", []byte{0x7f, 0xf8, 4, 0}, nil},
	} {
		if got := OpusPayload(tt.in); string(got) != string(tt.want) || (got == nil) != (tt.want == nil) {
			t.Errorf("%s: %x, want %x", tt.name, got, tt.want)
		}
	}
}
