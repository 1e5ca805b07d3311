//go:build !unix

package ffmpegsrc

import "syscall"

// Without process groups only ffmpeg itself is ended, and at once.
func sysProcAttr() *syscall.SysProcAttr { return nil }

func awaitExit(pid int) bool { return false }

func signalGroup(p *process, kill bool) { _ = p.cmd.Process.Kill() }
