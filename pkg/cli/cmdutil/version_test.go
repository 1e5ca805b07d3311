package cmdutil

import (
	"strings"
	"testing"
)

func TestVersionFromLdflags(t *testing.T) {
	oldV, oldC, oldD := version, commit, date
	t.Cleanup(func() { version, commit, date = oldV, oldC, oldD })

	version, commit, date = "v1.2.3", "0123456789abcdef0123", "2026-12-03T09:00:00Z"
	if b := Build(); b != (BuildInfo{Version: "v1.2.3", Commit: "0123456789abcdef0123", Date: "2026-12-03T09:00:00Z"}) {
		t.Errorf("Build() = %+v", b)
	}
	v := Version()
	if !strings.HasPrefix(v, "v1.2.3 (commit 0123456789ab, 2026-12-03T09:00:00Z, go") {
		t.Errorf("Version() = %q", v)
	}

	version, commit, date = "", "", ""
	if b := Build(); b.Version == "" {
		t.Errorf("Build() without ldflags has no version: %+v", b)
	}
}
