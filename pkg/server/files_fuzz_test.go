package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzRecordingPath: whatever a URL path after /record/ holds, a file is
// served only from inside the recording root, symbolic links followed.
func FuzzRecordingPath(f *testing.F) {
	for _, seed := range []string{
		"live/cam/2026-12-01/10-00-00.mp4", "../secret.mp4", "live/../../secret.mp4", "live/cam/link.mp4",
		"live//cam/x.mp4", "/etc/passwd", "live/cam/2026-12-01/", "live\\..\\..\\secret.mp4", "a\x00b",
		"live/cam/../../../" + "secret.mp4", ".", "live/./cam/x.mp4",
	} {
		f.Add(seed)
	}
	base := f.TempDir()
	root := filepath.Join(base, "record")
	secret := filepath.Join(base, "secret.mp4")
	for _, p := range []string{filepath.Join(root, "live", "cam", "2026-12-01", "10-00-00.mp4"), secret} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	if err := os.Symlink(secret, filepath.Join(root, "live", "cam", "link.mp4")); err != nil {
		f.Fatal(err)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, rel string) {
		if !cleanRel(rel) {
			return
		}
		file, ok := fileUnder(root, rel)
		if !ok {
			return
		}
		if !strings.HasPrefix(file, realRoot+string(filepath.Separator)) {
			t.Fatalf("%q served %s, outside %s", rel, file, realRoot)
		}
	})
}
