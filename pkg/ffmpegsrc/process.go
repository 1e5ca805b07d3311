package ffmpegsrc

import (
	"io"
	"os/exec"
	"sync"
	"time"
)

// waitDelay bounds how long Wait waits for ffmpeg's stderr to close after
// it exited (a child of a wrapper script could hold it open).
const waitDelay = 2 * time.Second

// process is one run of ffmpeg. Only its task's supervisor holds it.
type process struct {
	cmd    *exec.Cmd
	pid    int
	exited chan struct{} // closed once ffmpeg is reaped
	err    error         // cmd.Wait's result, valid after exited

	mu   sync.Mutex
	gone bool // the leader exited: its group must not be signalled any more
}

// startProcess starts args with stdin and stdout on /dev/null and stderr
// into w, in a process group of its own (and, on Linux, killed by the
// kernel if mediakit dies).
func startProcess(args []string, w io.Writer) (*process, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = w
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = waitDelay
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, pid: cmd.Process.Pid, exited: make(chan struct{})}
	go p.wait()
	return p, nil
}

func (p *process) wait() {
	// Where the platform can watch for the exit without reaping, the
	// leader stays a zombie while its group is killed, so the group id
	// cannot have been reused by then: a wrapper's children go too.
	if awaitExit(p.pid) {
		p.mu.Lock()
		p.gone = true
		p.mu.Unlock()
		signalGroup(p, true)
	}
	err := p.cmd.Wait()
	p.mu.Lock()
	p.gone = true
	p.mu.Unlock()
	p.err = err
	close(p.exited)
}

// signal sends SIGTERM (or SIGKILL with kill) to ffmpeg's group unless
// the leader is already gone. The lock is held for the one system call,
// so the group id is still ffmpeg's when it is used.
func (p *process) signal(kill bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.gone {
		signalGroup(p, kill)
	}
}

// stop ends ffmpeg: SIGTERM to its group (ffmpeg then closes its output
// cleanly), SIGKILL after grace. It returns once ffmpeg is reaped, and
// whether it had to be killed.
func (p *process) stop(grace time.Duration) (killed bool) {
	p.signal(false)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
		return false
	case <-t.C:
	}
	p.signal(true)
	<-p.exited
	return true
}
