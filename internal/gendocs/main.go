// Command gendocs writes mediakit's man pages (man/) and shell completions
// (completions/) from the command tree, so they never drift from --help.
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
