//go:build unix

package ffmpegsrc

import "syscall"

// signalGroup signals the process group p leads.
func signalGroup(p *process, kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	_ = syscall.Kill(-p.pid, sig)
}
