//go:build unix && !linux

package ffmpegsrc

import "syscall"

// sysProcAttr puts ffmpeg in a group of its own, killed as a whole. There
// is no Pdeathsig here: a kill -9 of mediakit leaves ffmpeg running until
// its RTMP connection fails.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// awaitExit cannot watch without reaping here; the group is signalled
// only while the leader has not been reaped.
func awaitExit(pid int) bool { return false }
