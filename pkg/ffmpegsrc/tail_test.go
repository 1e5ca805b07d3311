package ffmpegsrc

import (
	"fmt"
	"strings"
	"testing"
)

func TestTailBounded(t *testing.T) {
	tl := newTail(256)
	for i := range 1000 {
		fmt.Fprintf(tl, "frame=%5d fps=25 size=1kB\r", i)
	}
	fmt.Fprintf(tl, "\n[rtmp @ 0x1] Server error: Already publishing\n")
	s := tl.String()
	if len(s) > 256 {
		t.Fatalf("tail holds %d bytes, want at most 256", len(s))
	}
	if !strings.HasPrefix(s, "frame=") {
		t.Errorf("a truncated tail starts mid-line: %q", s)
	}
	if got := tl.LastLine(); got != "[rtmp @ 0x1] Server error: Already publishing" {
		t.Errorf("LastLine = %q", got)
	}
	// One write larger than the tail keeps its end.
	big := strings.Repeat("x", 1000) + "\nend"
	tl.Write([]byte(big))
	if got := tl.String(); len(got) > 256 || !strings.HasSuffix(got, "end") {
		t.Errorf("after a large write: %d bytes %q", len(got), got)
	}
	if got := newTail(0).LastLine(); got != "" {
		t.Errorf("empty tail's last line %q", got)
	}
}
