package remux

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
)

// firstByteWriter discards what it gets and notes when the first byte
// came.
type firstByteWriter struct {
	first time.Time
	n     int64
}

func (w *firstByteWriter) Write(p []byte) (int, error) {
	if w.first.IsZero() {
		w.first = time.Now()
	}
	w.n += int64(len(p))
	return len(p), nil
}

// BenchmarkSpan10Min cuts a 10-minute span out of eleven one-minute MP4
// recordings (from 30 s into the first), as GET /record/APP/STREAM.mp4?
// start=&duration=600 does, into fragmented MP4, and reports the time to
// the first byte and to the whole span. The reference in the same run is
// ffmpeg's concat demuxer with -ss/-t and -c copy into fragmented MP4,
// what one would run by hand (it reads the same files; its first byte is
// not measured).
func BenchmarkSpan10Min(b *testing.B) {
	testutil.RequireFFmpeg(b)
	dir := b.TempDir()
	clip := testutil.Clip(b, "h264_aac.flv")
	inputs := make([]string, 10)
	for i := range inputs {
		inputs[i] = clip
	}
	minute := filepath.Join(dir, "minute.mp4")
	made, err := Run(context.Background(), Options{Inputs: inputs, Output: minute, Concat: true})
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(minute)
	if err != nil {
		b.Fatal(err)
	}
	var files []string
	var list strings.Builder
	for i := range 11 {
		f := filepath.Join(dir, fmt.Sprintf("10-%02d-00.mp4", i))
		if err := os.WriteFile(f, data, 0o644); err != nil {
			b.Fatal(err)
		}
		files = append(files, f)
		fmt.Fprintf(&list, "file '%s'\n", f)
	}
	clips := make([]Clip, len(files))
	clips[0] = Clip{From: 30 * time.Second}
	// The span ends 600 s after 30 s into the first file.
	clips[len(clips)-1] = Clip{To: 630*time.Second - 10*made.Duration}
	b.Run("mediakit", func(b *testing.B) {
		var ttfb, total time.Duration
		for b.Loop() {
			w := &firstByteWriter{}
			start := time.Now()
			res, err := Run(context.Background(), Options{Inputs: files, Output: "-", Stdout: w, Format: FormatFMP4, Concat: true, Clips: clips})
			if err != nil {
				b.Fatal(err)
			}
			// From the keyframe at or before 30 s: up to a GOP (1 s) more.
			if d := res.Duration; d < 600*time.Second || d > 601100*time.Millisecond {
				b.Fatalf("span of %v, want 600 s and at most a GOP more", d)
			}
			ttfb += w.first.Sub(start)
			total += time.Since(start)
		}
		b.ReportMetric(float64(ttfb.Microseconds())/1000/float64(b.N), "ms-first-byte")
		b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-whole")
	})
	listFile := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(listFile, []byte(list.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Run("ffmpeg-concat", func(b *testing.B) {
		var total time.Duration
		for b.Loop() {
			start := time.Now()
			cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "concat", "-safe", "0", "-i", listFile,
				"-ss", "30", "-t", "600", "-c", "copy", "-f", "mp4", "-movflags", "frag_keyframe+empty_moov", "-")
			var stderr strings.Builder
			cmd.Stdout, cmd.Stderr = io.Discard, &stderr
			if err := cmd.Run(); err != nil {
				b.Fatalf("%v: %s", err, stderr.String())
			}
			total += time.Since(start)
		}
		b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-whole")
	})
}
