//go:build !unix

package httpfmp4

import "time"

func processCPU() time.Duration { return 0 }
