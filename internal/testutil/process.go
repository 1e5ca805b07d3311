package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stderrTail is how much of a child's stderr is kept.
const stderrTail = 64 << 10

// stopGrace is how long Stop waits after SIGINT before killing.
const stopGrace = 3 * time.Second

// Process is an ffmpeg child process started by [StartFFmpeg] or
// [PublishClip]. Its methods are safe for concurrent use.
type Process struct {
	args     []string
	cmd      *exec.Cmd
	stderr   *tailBuffer
	done     chan struct{} // closed once the process has exited
	err      error         // result of cmd.Wait, valid after done is closed
	stopOnce sync.Once
	stopped  atomic.Bool // Stop interrupted a running process
}

// StartFFmpeg starts
//
//	ffmpeg -hide_banner -nostdin -loglevel error ARGS...
//
// with stdin and stdout on /dev/null and the last 64 KiB of stderr kept for
// [Process.Stderr] and error messages. It skips or fails the test as
// [RequireFFmpeg] does when ffmpeg is missing, and fails it if ffmpeg cannot
// be started, so call it from the test goroutine. A t.Cleanup stops the
// process (see [Process.Stop]) so it never outlives the test, and logs its
// stderr if the test failed.
func StartFFmpeg(t testing.TB, args ...string) *Process {
	t.Helper()
	RequireFFmpeg(t)
	full := append([]string{"-hide_banner", "-nostdin", "-loglevel", "error"}, args...)
	p := &Process{
		args:   full,
		stderr: newTailBuffer(stderrTail),
		done:   make(chan struct{}),
	}
	p.cmd = exec.Command("ffmpeg", full...)
	p.cmd.Stderr = p.stderr
	p.cmd.WaitDelay = 2 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", p, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			if tail := p.Stderr(); tail != "" {
				t.Logf("%s stderr:\n%s", p, tail)
			}
		}
	})
	return p
}

// PublishClip streams a clip to url in real time as FLV:
//
//	ffmpeg -re [-stream_loop -1] -i CLIP -c copy -f flv URL
//
// clip is a file path, or a bare file name that is resolved with [Clip]. With
// loop the clip repeats until the process is stopped. Note that ffmpeg 5.1
// cannot put H.265 into FLV, so h265_aac.mp4 cannot be published this way.
func PublishClip(t testing.TB, clip, url string, loop bool) *Process {
	t.Helper()
	if !strings.ContainsRune(clip, filepath.Separator) && !strings.ContainsRune(clip, '/') {
		clip = Clip(t, clip)
	}
	args := []string{"-re"}
	if loop {
		args = append(args, "-stream_loop", "-1")
	}
	args = append(args, "-i", clip, "-c", "copy", "-f", "flv", url)
	return StartFFmpeg(t, args...)
}

// String returns the command line.
func (p *Process) String() string { return "ffmpeg " + strings.Join(p.args, " ") }

// Wait waits up to timeout (forever if timeout <= 0) for ffmpeg to exit. If it
// is still running then, it is killed and an error is returned. Wait returns
// nil if ffmpeg exited with status 0 or was ended by [Process.Stop];
// otherwise the error includes the tail of ffmpeg's stderr. Wait may be
// called any number of times.
func (p *Process) Wait(timeout time.Duration) error {
	var expired <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		expired = timer.C
	}
	select {
	case <-p.done:
		return p.result()
	case <-expired:
	}
	select {
	case <-p.done: // exited just now; report the real result
		return p.result()
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%s: still running after %v, killed; stderr tail:\n%s", p, timeout, p.Stderr())
}

func (p *Process) result() error {
	if p.err == nil || p.stopped.Load() {
		return nil
	}
	return fmt.Errorf("%s: %w; stderr tail:\n%s", p, p.err, p.Stderr())
}

// Stop ends ffmpeg: SIGINT (so it can finish writing its output), then SIGKILL
// if it has not exited after 3 s. It returns once the process has exited and
// is a no-op if it already has.
func (p *Process) Stop() {
	p.stopOnce.Do(func() {
		if p.Exited() {
			return
		}
		p.stopped.Store(true)
		if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
			_ = p.cmd.Process.Kill()
		}
		timer := time.NewTimer(stopGrace)
		defer timer.Stop()
		select {
		case <-p.done:
		case <-timer.C:
			_ = p.cmd.Process.Kill()
		}
	})
	<-p.done
}

// Exited reports whether ffmpeg has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stderr returns the last 64 KiB of ffmpeg's stderr so far.
func (p *Process) Stderr() string { return p.stderr.String() }

// tailBuffer is an io.Writer that keeps only the last max bytes written.
type tailBuffer struct {
	mu        sync.Mutex
	max       int
	buf       []byte
	truncated bool
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if len(p) >= b.max {
		b.truncated = b.truncated || len(b.buf) > 0 || len(p) > b.max
		b.buf = append(b.buf[:0], p[len(p)-b.max:]...)
		return n, nil
	}
	if over := len(b.buf) + len(p) - b.max; over > 0 {
		b.buf = b.buf[:copy(b.buf, b.buf[over:])]
		b.truncated = true
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.truncated {
		return "[...earlier output dropped...]\n" + string(b.buf)
	}
	return string(b.buf)
}
