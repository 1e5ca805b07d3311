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
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
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

// ErrIsTerminal reports whether ErrOut is the process's standard error
// and a terminal: progress bars, status lines and the serve banner are
// for people, never for pipes, files or tests.
func (s *IO) ErrIsTerminal() bool {
	return s.ErrOut == io.Writer(os.Stderr) && term.IsTerminal(int(os.Stderr.Fd()))
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

// FlagsFromEnv sets each flag of cmd not given on the command line from
// MEDIAKIT_<FLAG> (dashes become underscores, upper case), as
// contract.md promises for every command: MEDIAKIT_LOG_LEVEL=debug works
// for relay as for serve. A value the flag refuses is a usage error
// naming the variable.
func FlagsFromEnv(cmd *cobra.Command, getenv func(string) string) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" || f.Name == "version" {
			return
		}
		name := EnvName(f.Name)
		v := getenv(name)
		if v == "" {
			return
		}
		if e := cmd.Flags().Set(f.Name, v); e != nil {
			err = UsageError(fmt.Errorf("%s=%q: %v", name, v, e))
		}
	})
	return err
}

// EnvName is the environment variable of a flag: log-level gives
// MEDIAKIT_LOG_LEVEL.
func EnvName(flag string) string {
	return "MEDIAKIT_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Arguments counts positional arguments for an error message:
// "no arguments", "1 argument", "3 arguments".
func Arguments(n int) string {
	switch n {
	case 0:
		return "no arguments"
	case 1:
		return "1 argument"
	}
	return fmt.Sprintf("%d arguments", n)
}

// Wrap breaks text into lines of at most width characters at spaces, for
// help texts built from sentences kept elsewhere.
func Wrap(text string, width int) string {
	var b strings.Builder
	line := 0
	for i, word := range strings.Fields(text) {
		switch {
		case i == 0:
		case line+1+len(word) > width:
			b.WriteByte('\n')
			line = 0
		default:
			b.WriteByte(' ')
			line++
		}
		b.WriteString(word)
		line += len(word)
	}
	return b.String()
}

// Set at build time by `make build` and goreleaser with -ldflags
// "-X github.com/mediakit/mediakit/pkg/cli/cmdutil.version=v1.2.3" (and
// commit, date). Without them, Build falls back to what the Go toolchain
// recorded (module version, vcs.revision, vcs.time).
var (
	version = ""
	commit  = ""
	date    = ""
)

// BuildInfo says which build this is.
type BuildInfo struct {
	Version string // v1.2.3, or "dev"
	Commit  string // the VCS revision, "" if unknown
	Date    string // the build or commit time (RFC 3339), "" if unknown
}

// Build returns the build's version, commit and date.
func Build() BuildInfo {
	b := BuildInfo{Version: version, Commit: commit, Date: date}
	info, ok := debug.ReadBuildInfo()
	if b.Version == "" {
		b.Version = "dev"
		if ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
	}
	if ok {
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && b.Commit == "":
				b.Commit = s.Value
			case s.Key == "vcs.time" && b.Date == "":
				b.Date = s.Value
			}
		}
	}
	return b
}

// Version returns the build's version, commit, date and toolchain in one
// line: "v1.2.3 (commit 0123abc, 2026-12-03T09:00:00Z, go1.26.8 linux/amd64)".
func Version() string {
	b := Build()
	detail := ""
	if b.Commit != "" {
		detail += "commit " + b.Commit[:min(len(b.Commit), 12)] + ", "
	}
	if b.Date != "" {
		detail += b.Date + ", "
	}
	return fmt.Sprintf("%s (%s%s %s/%s)", b.Version, detail, runtime.Version(), runtime.GOOS, runtime.GOARCH)
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
