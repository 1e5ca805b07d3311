//go:build !windows

package access

import "syscall"

// syscallENOTDIR: a component of the path is a file, so nothing below it
// exists either.
var syscallENOTDIR error = syscall.ENOTDIR
