package server

import (
	"os"
	"testing"

	"github.com/mediakit/mediakit/internal/testutil"
)

// TestMain runs 4 parallel tests at once unless go test is given
// -parallel (whose default, GOMAXPROCS, is 2 on the CI machine).
//
// Most tests here start a server of their own (every listener on
// 127.0.0.1:0, the data dir a t.TempDir) and wait on real-time media:
// ffmpeg publishing with -re, ffprobe playing, segments and timeouts of
// seconds. They spend their time waiting rather than computing, so they
// call t.Parallel. Tests that count the whole process's goroutines, file
// descriptors or heap, or that bound how long something takes, or drive
// Chromium, do not: go test runs every serial test before it releases
// the parallel ones, so those run alone. More than 4 at once saturate two
// cores (the race detector is costly) and real-time media then falls
// behind: RTP over UDP loses packets, players fall behind the live edge.
func TestMain(m *testing.M) {
	testutil.DefaultParallel(4)
	os.Exit(m.Run())
}
