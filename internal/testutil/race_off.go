//go:build !race

package testutil

// RaceEnabled reports whether the race detector is on: it makes goroutine
// stacks and allocations larger, so memory bounds are checked without it.
const RaceEnabled = false
