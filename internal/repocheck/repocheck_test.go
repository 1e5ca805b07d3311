package repocheck

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// root is the repository's root, two levels up from this package.
func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("no go.mod in %s: %v", dir, err)
	}
	return dir
}

func goCmd(t *testing.T, dir string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Logf("go %s: %s", strings.Join(args, " "), stderr.String())
	}
	return out, err
}

// TestGoModTidy fails when `go mod tidy` would change go.mod or go.sum
// (a direct import marked indirect, a module no longer used).
func TestGoModTidy(t *testing.T) {
	out, err := goCmd(t, root(t), "mod", "tidy", "-diff")
	if err != nil || len(out) > 0 {
		t.Errorf("go mod tidy would change go.mod/go.sum (run go mod tidy): %v\n%s", err, out)
	}
}

// TestNoticeListsLinkedModules fails when NOTICE misses a module linked
// into the binary, or names another version of it (run make notice).
func TestNoticeListsLinkedModules(t *testing.T) {
	dir := root(t)
	out, err := goCmd(t, dir, "list", "-deps", "-f",
		"{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}}{{end}}{{end}}", "./cmd/mediakit")
	if err != nil {
		t.Fatal(err)
	}
	notice, err := os.ReadFile(filepath.Join(dir, "NOTICE"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(string(notice), "\n") {
		if f := strings.Fields(line); strings.HasPrefix(line, "  ") && len(f) >= 2 {
			listed[f[0]+" "+f[1]] = true
		}
	}
	linked := map[string]bool{} // go list names a module once per package
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		mod := strings.TrimSpace(sc.Text())
		if mod == "" || linked[mod] {
			continue
		}
		linked[mod] = true
		if !listed[mod] {
			t.Errorf("NOTICE does not list %s (run make notice)", mod)
		}
	}
	if len(linked) == 0 {
		t.Fatal("go list named no modules")
	}
	if len(listed) != len(linked) {
		t.Errorf("NOTICE lists %d modules, the binary links %d (run make notice)", len(listed), len(linked))
	}
}
