package remux

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func fuzzSeeds(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/seed-*")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"))
	f.Add([]byte{0, 0, 1, 0xBA, 0x44, 0, 4, 0, 4, 1, 1, 0x89, 0xc3, 0xf8})
	f.Add(bytes.Repeat([]byte{0x47, 0x40, 0, 0x10}, 94))
}

// FuzzRemuxStdin feeds any bytes as stdin (FLV, MPEG-TS or MPEG-PS by
// their first bytes) into each streaming output: an error or a result,
// never a panic or a hang.
func FuzzRemuxStdin(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, format := range []string{FormatFLV, FormatMPEGTS, FormatFMP4} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, _ = Run(ctx, Options{Inputs: []string{"-"}, Output: "-", Format: format, Stdin: bytes.NewReader(data), Stdout: io.Discard})
			cancel()
		}
	})
}

// FuzzFaststart rewrites any bytes as if they were a finalised MP4.
func FuzzFaststart(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "f.mp4")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _ = Faststart(p)
	})
}
