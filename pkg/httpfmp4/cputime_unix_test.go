//go:build unix

package httpfmp4

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system) the process used so far,
// garbage collection included.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
