package ffmpegsrc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// TestKill9LeavesNoOrphan: when mediakit is killed with SIGKILL, and so
// cannot stop anything, the kernel ends its ffmpeg (Pdeathsig).
func TestKill9LeavesNoOrphan(t *testing.T) {
	dir := t.TempDir()
	mk := exec.Command(os.Args[0], "-mode", "manager", "-dir", dir)
	if err := mk.Start(); err != nil {
		t.Fatal(err)
	}
	var ffmpeg int
	waitFor(t, "the miniature mediakit's ffmpeg", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "ffmpeg-pid"))
		if err != nil {
			return false
		}
		ffmpeg, err = strconv.Atoi(string(b))
		return err == nil
	})
	t.Cleanup(func() {
		if alive(ffmpeg) { // the test failed: leave nothing behind
			_ = syscall.Kill(ffmpeg, syscall.SIGKILL)
		}
	})
	if !alive(ffmpeg) {
		t.Fatalf("ffmpeg %d not running", ffmpeg)
	}
	if err := mk.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = mk.Wait()
	waitGone(t, ffmpeg)
}
