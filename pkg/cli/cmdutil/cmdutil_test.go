package cmdutil_test

import (
	"errors"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/mediakit/mediakit/pkg/cli/cmdutil"
)

func TestUsageError(t *testing.T) {
	err := cmdutil.UsageError(fs.ErrNotExist)
	var ue *cmdutil.UsageErr
	if !errors.As(err, &ue) || !errors.Is(err, fs.ErrNotExist) || err.Error() != fs.ErrNotExist.Error() {
		t.Errorf("UsageError(%v) = %v; As %v, Is %v", fs.ErrNotExist, err, errors.As(err, &ue), errors.Is(err, fs.ErrNotExist))
	}
}

func TestNoArgs(t *testing.T) {
	root := &cobra.Command{Use: "mediakit"}
	sub := &cobra.Command{Use: "version"}
	root.AddCommand(sub)
	if err := cmdutil.NoArgs(sub, nil); err != nil {
		t.Errorf("no args: %v", err)
	}
	err := cmdutil.NoArgs(sub, []string{"extra", "more"})
	var ue *cmdutil.UsageErr
	if !errors.As(err, &ue) {
		t.Fatalf("error %v is not a usage error", err)
	}
	if !strings.Contains(err.Error(), "mediakit version") || !strings.Contains(err.Error(), `"extra"`) {
		t.Errorf("error %q does not name the command and the argument", err)
	}
}

func TestEnv(t *testing.T) {
	io := &cmdutil.IO{Getenv: func(k string) string { return "x" + k }}
	if got := io.Env()("A"); got != "xA" {
		t.Errorf("Env() with Getenv set = %q", got)
	}
	t.Setenv("MEDIAKIT_CMDUTIL_TEST", "yes")
	if got := (&cmdutil.IO{}).Env()("MEDIAKIT_CMDUTIL_TEST"); got != os.Getenv("MEDIAKIT_CMDUTIL_TEST") || got != "yes" {
		t.Errorf("Env() without Getenv = %q, want the process environment", got)
	}
}

func TestVersion(t *testing.T) {
	v := cmdutil.Version()
	for _, want := range []string{runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH} {
		if !strings.Contains(v, want) {
			t.Errorf("Version() = %q lacks %q", v, want)
		}
	}
	if strings.ContainsAny(v, "\n") || strings.HasPrefix(v, " ") {
		t.Errorf("Version() = %q", v)
	}
}

func TestWrap(t *testing.T) {
	for _, tc := range []struct {
		in   string
		w    int
		want string
	}{
		{"", 10, ""},
		{"one two three", 7, "one two\nthree"},
		{"one  two\nthree", 20, "one two three"},
		{"averyveryverylongword x", 5, "averyveryverylongword\nx"},
	} {
		if got := cmdutil.Wrap(tc.in, tc.w); got != tc.want {
			t.Errorf("Wrap(%q, %d) = %q, want %q", tc.in, tc.w, got, tc.want)
		}
	}
}

func TestArguments(t *testing.T) {
	for n, want := range map[int]string{0: "no arguments", 1: "1 argument", 3: "3 arguments"} {
		if got := cmdutil.Arguments(n); got != want {
			t.Errorf("Arguments(%d) = %q, want %q", n, got, want)
		}
	}
}
