// Package docs renders the man pages and shell completions of the mediakit
// command tree, and CONFIG.md from the settings table.
package docs

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/mediakit/mediakit/pkg/cli"
	"github.com/mediakit/mediakit/pkg/cli/cmdutil"
)

// manDate is fixed so the pages are reproducible; bump it with releases.
var manDate = time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC)

// Generate returns every generated file by its path relative to the
// repository root.
func Generate() (map[string][]byte, error) {
	files := map[string][]byte{}
	root := cli.NewRootCommand(&cmdutil.IO{Out: io.Discard, ErrOut: io.Discard})
	root.DisableAutoGenTag = true
	hdr := &doc.GenManHeader{Title: "MEDIAKIT", Section: "1", Source: "mediakit", Manual: "mediakit manual", Date: &manDate}
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		for _, sub := range c.Commands() {
			if err := walk(sub); err != nil {
				return err
			}
		}
		if !c.IsAvailableCommand() && c != root || c.IsAdditionalHelpTopicCommand() {
			return nil
		}
		c.DisableAutoGenTag = true
		var b bytes.Buffer
		if err := doc.GenMan(c, hdr, &b); err != nil {
			return fmt.Errorf("man page of %s: %w", c.CommandPath(), err)
		}
		name := strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"
		files[filepath.Join("man", name)] = b.Bytes()
		return nil
	}
	if err := walk(root); err != nil {
		return nil, err
	}
	for _, sh := range []struct {
		file string
		gen  func(io.Writer) error
	}{
		{"mediakit.bash", func(w io.Writer) error { return root.GenBashCompletionV2(w, true) }},
		{"_mediakit", root.GenZshCompletion},
		{"mediakit.fish", func(w io.Writer) error { return root.GenFishCompletion(w, true) }},
		{"mediakit.ps1", root.GenPowerShellCompletionWithDesc},
	} {
		var b bytes.Buffer
		if err := sh.gen(&b); err != nil {
			return nil, fmt.Errorf("completion %s: %w", sh.file, err)
		}
		files[filepath.Join("completions", sh.file)] = b.Bytes()
	}
	files["CONFIG.md"] = configReference()
	return files, nil
}

// Write replaces man/ and completions/ under root with files.
func Write(root string, files map[string][]byte) error {
	for _, dir := range []string{"man", "completions"} {
		if err := os.RemoveAll(filepath.Join(root, dir)); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(root, name), files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}
