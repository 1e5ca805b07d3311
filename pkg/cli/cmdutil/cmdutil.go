// Package cmdutil holds what every mediakit subcommand shares: output
// streams, usage errors, argument checks and the version string.
package cmdutil

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// IO carries a command's output streams and environment, so commands are
// tested without a shell.
type IO struct {
	Out    io.Writer // results
	ErrOut io.Writer // logs, warnings, progress
	Getenv func(string) string
}

// Env returns the environment lookup, os.Getenv by default.
func (io *IO) Env() func(string) string {
	if io.Getenv != nil {
		return io.Getenv
	}
	return os.Getenv
}

// UsageErr marks an error in how the command was called (exit code 2).
type UsageErr struct{ Err error }

func (e *UsageErr) Error() string { return e.Err.Error() }
func (e *UsageErr) Unwrap() error { return e.Err }

// UsageError wraps err as a usage error.
func UsageError(err error) error { return &UsageErr{Err: err} }

// NoArgs rejects positional arguments as a usage error.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return UsageError(fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args[0]))
	}
	return nil
}

// version is set at build time with -ldflags "-X ...cmdutil.version=v1.2.3".
var version = ""

// Version returns the build's version and toolchain.
func Version() string {
	v := version
	if v == "" {
		v = "dev"
		if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
	}
	return fmt.Sprintf("%s (%s, %s/%s)", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// HumanBytes writes a byte count for people: 1.5 MiB, 812 B.
func HumanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// PrintJSON writes v as one line of JSON: a --json summary.
func PrintJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
