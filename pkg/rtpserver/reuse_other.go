//go:build !(linux || darwin || freebsd)

package rtpserver

func setReuse(fd uintptr, network string, reusePort bool) error { return nil }
