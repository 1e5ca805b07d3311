package testutil

import "runtime"

// HeapAndStacks is the Go heap in use plus goroutine stacks after two
// collections: what a test of memory per connection compares before and
// after opening connections.
func HeapAndStacks() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}
