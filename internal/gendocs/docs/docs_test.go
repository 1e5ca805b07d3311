package docs

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// TestGeneratedDocsUpToDate fails when man/, completions/ or CONFIG.md differ from
// what the command tree generates: run `make docs` after changing a
// command or flag.
func TestGeneratedDocsUpToDate(t *testing.T) {
	files, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join("..", "..", "..")
	var want []string
	for name, content := range files {
		want = append(want, name)
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Errorf("%s: %v (run make docs)", name, err)
			continue
		}
		if !bytes.Equal(got, content) {
			t.Errorf("%s is stale (run make docs)", name)
		}
	}
	for _, dir := range []string{"man", "completions"} {
		entries, _ := os.ReadDir(filepath.Join(root, dir))
		for _, e := range entries {
			if _, ok := files[filepath.Join(dir, e.Name())]; !ok {
				t.Errorf("%s/%s is not generated any more (run make docs)", dir, e.Name())
			}
		}
	}
	sort.Strings(want)
	if len(want) < 5 {
		t.Fatalf("only %d files generated", len(want))
	}
}
