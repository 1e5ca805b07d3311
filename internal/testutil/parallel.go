package testutil

import (
	"flag"
	"runtime"
	"strconv"
)

// DefaultParallel makes n (at least GOMAXPROCS) the number of parallel
// tests run at once when go test was not given -parallel, whose default
// is GOMAXPROCS. Call it from TestMain before m.Run: it parses the
// command line.
//
// It is for packages whose parallel tests wait on real time (ffmpeg
// publishing with -re, players, timeouts of seconds) rather than compute:
// GOMAXPROCS of them at once leave a small machine mostly idle.
func DefaultParallel(n int) {
	if !flag.Parsed() {
		flag.Parse()
	}
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		if err := flag.Set("test.parallel", strconv.Itoa(max(n, runtime.GOMAXPROCS(0)))); err != nil {
			panic("testutil.DefaultParallel: " + err.Error())
		}
	}
}
