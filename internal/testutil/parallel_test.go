package testutil

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestDefaultParallel runs this test binary again: without -parallel,
// DefaultParallel sets it; an explicit -parallel wins.
func TestDefaultParallel(t *testing.T) {
	if os.Getenv("TESTUTIL_DEFAULT_PARALLEL_CHILD") == "1" {
		DefaultParallel(7)
		fmt.Printf("parallel=%s\n", flag.Lookup("test.parallel").Value)
		return
	}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, max(7, runtime.GOMAXPROCS(0))},
		{[]string{"-test.parallel=3"}, 3},
	} {
		cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestDefaultParallel$", "-test.v"}, tc.args...)...)
		cmd.Env = append(os.Environ(), "TESTUTIL_DEFAULT_PARALLEL_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", tc.args, err, out)
		}
		if want := "parallel=" + strconv.Itoa(tc.want) + "\n"; !strings.Contains(string(out), want) {
			t.Errorf("%v: want %q in\n%s", tc.args, want, out)
		}
	}
}
