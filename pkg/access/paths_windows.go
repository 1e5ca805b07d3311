//go:build windows

package access

import "syscall"

var syscallENOTDIR error = syscall.ERROR_PATH_NOT_FOUND
