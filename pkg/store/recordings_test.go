package store

import (
	"fmt"
	"testing"
	"time"
)

func TestRecordingsIndex(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.Local)
	var recs []Recording
	for i := range 5 { // 10:00-10:01, ..., 10:04-10:05
		recs = append(recs, Recording{Stream: "__defaultVhost__/live/cam", Path: fmt.Sprintf("/rec/live/cam/2026-12-01/10-0%d-00.mp4", i),
			Start: t0.Add(time.Duration(i) * time.Minute), Duration: time.Minute, Size: int64(1000 + i)})
	}
	other := Recording{Stream: "__defaultVhost__/live/door", Path: "/rec/live/door/a.mp4", Start: t0, Duration: time.Hour}
	if err := s.PutRecordings(append(recs, other)); err != nil {
		t.Fatal(err)
	}
	names := func(list []Recording) string {
		out := ""
		for _, r := range list {
			out += r.Start.Format("04") + " "
		}
		return out
	}
	for _, tc := range []struct {
		from, to time.Time
		want     string
	}{
		{time.Time{}, time.Time{}, "00 01 02 03 04 "},
		{t0.Add(90 * time.Second), t0.Add(3 * time.Minute), "01 02 "},
		{t0.Add(2 * time.Minute), t0.Add(2*time.Minute + time.Second), "02 "},
		{t0.Add(10 * time.Minute), time.Time{}, ""},
		{t0.Add(4*time.Minute + 59*time.Second), time.Time{}, "04 "},
		{time.Time{}, t0, ""},
		{t0.Add(-time.Hour), t0.Add(time.Nanosecond), "00 "},
	} {
		got, err := s.Recordings("__defaultVhost__/live/cam", tc.from, tc.to)
		if err != nil {
			t.Fatal(err)
		}
		if names(got) != tc.want {
			t.Errorf("[%v, %v): %q, want %q", tc.from.Format("15:04:05"), tc.to.Format("15:04:05"), names(got), tc.want)
		}
	}
	// Replacing a path keeps one entry; deleting takes it out everywhere.
	recs[1].Duration, recs[1].Size = 30*time.Second, 5
	if err := s.PutRecordings(recs[1:2]); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteRecordings([]string{recs[3].Path, "/not/indexed.mp4"}); err != nil || n != 1 {
		t.Fatalf("DeleteRecordings = %d, %v", n, err)
	}
	s.Close()
	if s, err = Open(dir, time.Second); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Recordings("__defaultVhost__/live/cam", time.Time{}, time.Time{})
	if err != nil || names(got) != "00 01 02 04 " || got[1].Duration != 30*time.Second || got[1].Size != 5 || got[1].Path != recs[1].Path {
		t.Fatalf("after replace, delete and reopen: %q %+v, %v", names(got), got, err)
	}
	paths, err := s.RecordingPaths()
	if err != nil || len(paths) != 5 || !paths[other.Path] || paths[recs[3].Path] {
		t.Fatalf("paths %v, %v", paths, err)
	}
}
