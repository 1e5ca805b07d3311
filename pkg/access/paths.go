package access

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// PathGuard confines file paths that arrive from the API or a hook reply
// (startRecord's customized_path, record roots set through
// setServerConfig) to the data dir and the directories an operator listed
// in record.allow_paths, after symbolic links are followed.
type PathGuard struct {
	base  string   // relative paths are taken from here (the data dir)
	roots []string // absolute, symlinks resolved as far as they exist
}

// NewPathGuard allows dataDir and allow; relative paths given to Confine
// are taken relative to dataDir.
func NewPathGuard(dataDir string, allow []string) (*PathGuard, error) {
	base, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dataDir, err)
	}
	g := &PathGuard{base: base}
	for _, root := range append([]string{base}, allow...) {
		abs, err := filepath.Abs(root)
		if err != nil {
			return nil, fmt.Errorf("record.allow_paths %s: %w", root, err)
		}
		g.roots = append(g.roots, resolveExisting(abs))
	}
	return g, nil
}

// NewRootsGuard allows only roots (not base, unless listed); relative
// paths given to Confine are taken relative to base.
func NewRootsGuard(base string, roots []string) (*PathGuard, error) {
	abs, err := filepath.Abs(base)
	if err != nil {
		return nil, fmt.Errorf("base %s: %w", base, err)
	}
	g := &PathGuard{base: abs}
	for _, root := range roots {
		r, err := filepath.Abs(root)
		if err != nil {
			return nil, fmt.Errorf("root %s: %w", root, err)
		}
		g.roots = append(g.roots, resolveExisting(r))
	}
	return g, nil
}

// Confine returns p as an absolute path with its existing symbolic links
// resolved, or an error naming p when it leads outside every allowed
// root. It creates nothing, so a refused path leaves no trace.
func (g *PathGuard) Confine(p string) (string, error) {
	if p == "" || strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("path %q is not a path", p)
	}
	abs := p
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(g.base, abs)
	}
	resolved := resolveExisting(filepath.Clean(abs))
	for _, root := range g.roots {
		if within(root, resolved) {
			return resolved, nil
		}
	}
	return "", fmt.Errorf("path %q resolves to %s, outside %s", p, resolved, strings.Join(g.roots, ", "))
}

// Roots returns the allowed roots.
func (g *PathGuard) Roots() []string { return append([]string(nil), g.roots...) }

// within reports whether path is root or below it.
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return false
	}
	return rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)))
}

// resolveExisting follows symbolic links in the longest existing prefix
// of an absolute, clean path and appends the rest unchanged (it does not
// exist yet, so it holds no links).
func resolveExisting(path string) string {
	rest := ""
	for cur := path; ; {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		} else if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscallENOTDIR) {
			// Unreadable: judge the path as written.
			return path
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return path
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}
