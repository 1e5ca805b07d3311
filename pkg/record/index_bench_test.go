package record

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/store"
)

// BenchmarkListMonth lists 30 days of a stream recorded in one-minute
// files (43 200 files): from the recording index, a day and the month
// (start, duration, size and path of each), against reading the 30 day
// directories as getMP4RecordFile period=YYYY-MM does (names only; a
// duration would need each file's headers read too), and with a stat of
// each file for its size.
func BenchmarkListMonth(b *testing.B) {
	const days, perDay = 30, 1440
	root := b.TempDir()
	st, err := store.Open(b.TempDir(), time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	stream := StreamName(testKey)
	first := time.Date(2026, 11, 1, 0, 0, 0, 0, time.Local)
	streamDir := filepath.Join(root, testKey.App, testKey.Stream)
	for d := range days {
		day := first.AddDate(0, 0, d)
		dir := filepath.Join(streamDir, day.Format("2006-01-02"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		recs := make([]store.Recording, 0, perDay)
		for m := range perDay {
			start := day.Add(time.Duration(m) * time.Minute)
			path := filepath.Join(dir, start.Format("15-04-05")+".mp4")
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				b.Fatal(err)
			}
			recs = append(recs, store.Recording{Stream: stream, Path: path, Start: start, Duration: time.Minute, Size: 7 << 20})
		}
		if err := st.PutRecordings(recs); err != nil {
			b.Fatal(err)
		}
	}
	count := func(b *testing.B, n, want int) {
		if n != want {
			b.Fatalf("%d listed, want %d", n, want)
		}
	}
	b.Run("index/day", func(b *testing.B) {
		from := first.AddDate(0, 0, 14)
		for b.Loop() {
			list, err := st.Recordings(stream, from, from.AddDate(0, 0, 1))
			if err != nil {
				b.Fatal(err)
			}
			count(b, len(list), perDay)
		}
	})
	b.Run("index/month", func(b *testing.B) {
		for b.Loop() {
			list, err := st.Recordings(stream, first, first.AddDate(0, 0, days))
			if err != nil {
				b.Fatal(err)
			}
			count(b, len(list), days*perDay)
		}
	})
	readMonth := func(b *testing.B, stat bool) {
		for b.Loop() {
			n := 0
			dirs, err := os.ReadDir(streamDir)
			if err != nil {
				b.Fatal(err)
			}
			for _, d := range dirs {
				files, err := os.ReadDir(filepath.Join(streamDir, d.Name()))
				if err != nil {
					b.Fatal(err)
				}
				for _, f := range files {
					if stat {
						if _, err := f.Info(); err != nil {
							b.Fatal(err)
						}
					}
					n++
				}
			}
			count(b, n, days*perDay)
		}
	}
	b.Run("readdir/month", func(b *testing.B) { readMonth(b, false) })
	b.Run("readdir+stat/month", func(b *testing.B) { readMonth(b, true) })
}
