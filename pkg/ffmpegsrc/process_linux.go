package ffmpegsrc

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// sysProcAttr puts ffmpeg in a group of its own (killed as a whole) and
// asks the kernel to kill it when mediakit dies, kill -9 included.
// Pdeathsig follows the thread that started the child; the Go runtime
// ends a thread only when a goroutine locked to it exits, which mediakit
// does not do.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// awaitExit blocks until pid has exited, without reaping it (WNOWAIT).
func awaitExit(pid int) bool {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return err == nil
		}
	}
}
