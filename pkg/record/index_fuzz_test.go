package record

import (
	"testing"
	"time"
)

// FuzzStartFromName: any file name a recording directory may hold gives a
// start or an error, never a panic, and a start is on the named day.
func FuzzStartFromName(f *testing.F) {
	for _, s := range [][2]string{{"2026-12-01", "10-00-00"}, {"2026-12-01", "10-00-00-3"}, {"2026-12-01", "10-00-00--1"},
		{"2026-13-01", "10-00-00"}, {"2026-12-01", "99-99-99"}, {"2026-12-01", "10-00-00-99999999999999999999"}, {"", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, day, stem string) {
		start, err := startFromName(day, stem)
		if err != nil {
			return
		}
		if got := start.Format("2006-01-02"); got != day {
			t.Fatalf("%s/%s: start %v is on %s", day, stem, start, got)
		}
		if start.Sub(start.Truncate(time.Second)) >= time.Millisecond {
			t.Fatalf("%s/%s: start %v", day, stem, start)
		}
	})
}
