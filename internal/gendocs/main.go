// Command gendocs writes mediakit's man pages (man/), shell completions
// (completions/) and CONFIG.md from the command tree and the settings
// table, so they never drift from --help and the code.
//
//	go run ./internal/gendocs [-root DIR]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mediakit/mediakit/internal/gendocs/docs"
)

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	files, err := docs.Generate()
	if err != nil {
		fmt.Fprintf(os.Stderr, "gendocs: %v\n", err)
		os.Exit(1)
	}
	if err := docs.Write(*root, files); err != nil {
		fmt.Fprintf(os.Stderr, "gendocs: %v\n", err)
		os.Exit(1)
	}
}
