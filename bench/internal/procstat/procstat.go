// Package procstat reads a process's CPU time and memory from /proc, for
// the benchmarks that measure a server in a child process.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// CPUSeconds is the process's user+system CPU time.
func CPUSeconds(pid int) float64 {
	user, sys := CPUSplit(pid)
	return user + sys
}

// CPUSplit is the process's user and system CPU time, apart: on
// loopback the system part includes the receiving side's TCP work, which
// every server under the same load pays alike.
func CPUSplit(pid int) (user, sys float64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	// fields after the parenthesised command name
	rest := string(data[strings.LastIndexByte(string(data), ')')+2:])
	f := strings.Fields(rest)
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return utime / 100, stime / 100 // USER_HZ
}

// MemMB returns VmRSS and VmHWM in MiB.
func MemMB(pid int) (rss, peak float64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return rss, peak
}
