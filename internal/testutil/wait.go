package testutil

import (
	"testing"
	"time"
)

// Eventually polls cond until it reports true and fails the test with
// "timed out after TIMEOUT waiting for WHAT" if it has not by timeout. It is
// how a test waits for something to happen: never a fixed sleep followed by
// an assert, which is a race on a shared, slow machine. The timeout only
// bounds a hang; make it generous, it costs nothing when cond comes true.
//
// cond runs on the test's goroutine, first at once, then with a pause
// growing from 1 ms to 20 ms between calls. Eventually returns as soon as
// cond does.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// Poll is [Eventually] without the test: it reports whether cond came
// true within timeout. Helpers that want their own failure message, or
// that run off the test's goroutine (where t.Fatal must not be called),
// use it.
func Poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for !cond() {
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(min(pause, time.Until(deadline)+time.Millisecond))
		pause = min(2*pause, 20*time.Millisecond)
	}
	return true
}
