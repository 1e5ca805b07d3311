package testutil

import (
	"encoding/json"
	"strings"
	"testing"
)

// CheckOneLineError checks the contract's shape of a command-line error:
// nothing on stdout, exactly one "mediakit: ..." line on stderr, and no
// Go internals (stack traces, file positions) or usage text.
func CheckOneLineError(t testing.TB, stdout, stderr string) {
	t.Helper()
	if stdout != "" {
		t.Errorf("stdout not empty: %q", stdout)
	}
	if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") || !strings.HasPrefix(stderr, "mediakit: ") {
		t.Errorf("stderr is not one \"mediakit: ...\" line: %q", stderr)
	}
	for _, bad := range []string{"goroutine ", "panic", ".go:", "Usage:"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("stderr contains %q: %q", bad, stderr)
		}
	}
}

// DecodeJSONLine decodes out, which must be exactly one JSON line (a
// --json summary), into v, refusing fields v does not declare.
func DecodeJSONLine(t testing.TB, out string, v any) {
	t.Helper()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("--json stdout is not one line: %q", out)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("--json stdout %q: %v", out, err)
	}
}
