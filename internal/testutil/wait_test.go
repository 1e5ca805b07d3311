package testutil

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestEventually(t *testing.T) {
	tests := []struct {
		name      string
		trueAfter int32 // cond is true from this call on; 0: never
		wantFatal bool
		wantCalls int32 // exact count; 0: at least 2
	}{
		{name: "at once", trueAfter: 1, wantCalls: 1},
		{name: "after polling", trueAfter: 5, wantCalls: 5},
		{name: "never", wantFatal: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			f := runFake(t, func(tb testing.TB) {
				Eventually(tb, 50*time.Millisecond, "the thing", func() bool {
					n := calls.Add(1)
					return tc.trueAfter > 0 && n >= tc.trueAfter
				})
			})
			if f.fatal != tc.wantFatal {
				t.Fatalf("fatal %v (%q), want %v", f.fatal, f.msg, tc.wantFatal)
			}
			if tc.wantFatal && !strings.Contains(f.msg, "waiting for the thing") {
				t.Errorf("message %q does not say what it waited for", f.msg)
			}
			if n := calls.Load(); tc.wantCalls != 0 && n != tc.wantCalls || tc.wantCalls == 0 && n < 2 {
				t.Errorf("cond called %d times, want %d", n, tc.wantCalls)
			}
		})
	}
}

// TestPollChecksAfterDeadline: a condition that comes true while Poll
// sleeps past its deadline is still seen, so a slow machine does not turn
// a success into a timeout.
func TestPollChecksAfterDeadline(t *testing.T) {
	start := time.Now()
	ok := Poll(time.Millisecond, func() bool { return time.Since(start) >= time.Millisecond })
	if !ok {
		t.Error("Poll missed a condition true at its deadline")
	}
	if Poll(0, func() bool { return false }) {
		t.Error("Poll reported a condition that was never true")
	}
}
