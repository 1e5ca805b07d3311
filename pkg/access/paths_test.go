package access

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPathGuard(t *testing.T) {
	tmp := t.TempDir()
	data := filepath.Join(tmp, "data")
	nvr := filepath.Join(tmp, "nvr")
	outside := filepath.Join(tmp, "etc")
	for _, d := range []string{data, nvr, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A link inside the data dir that leads out of it, and one into an
	// allowed root.
	if err := os.Symlink(outside, filepath.Join(data, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(nvr, filepath.Join(data, "to-nvr")); err != nil {
		t.Fatal(err)
	}
	g, err := NewPathGuard(data, []string{nvr})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		ok   bool
		want string // resolved, when ok
	}{
		{"record", true, filepath.Join(data, "record")},
		{filepath.Join(data, "a", "b"), true, filepath.Join(data, "a", "b")},
		{data, true, data},
		{filepath.Join(nvr, "cam1"), true, filepath.Join(nvr, "cam1")},
		{"../../etc", false, ""},
		{"../etc", false, ""},
		{filepath.Join(data, "..", "etc"), false, ""},
		{outside, false, ""},
		{"/", false, ""},
		{"escape", false, ""},
		{"escape/sub/dir", false, ""},
		{"to-nvr/cam2", true, filepath.Join(nvr, "cam2")},
		{data + "-sibling", false, ""},
		{"", false, ""},
		{"a\x00b", false, ""},
	} {
		got, err := g.Confine(c.path)
		if (err == nil) != c.ok {
			t.Errorf("Confine(%q) = %q, %v; want ok=%v", c.path, got, err, c.ok)
			continue
		}
		if c.ok && got != resolveExisting(c.want) {
			t.Errorf("Confine(%q) = %q, want %q", c.path, got, c.want)
		}
		if !c.ok && c.path != "" && !strings.Contains(err.Error(), "outside") && !strings.Contains(err.Error(), "not a path") {
			t.Errorf("Confine(%q) error %q does not say why", c.path, err)
		}
	}
	// Nothing was created by any of this.
	entries, _ := os.ReadDir(data)
	if len(entries) != 2 {
		t.Errorf("data dir holds %d entries, want the 2 links only", len(entries))
	}
}
