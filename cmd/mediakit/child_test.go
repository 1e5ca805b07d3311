package main

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
)

// child is a running one-shot command (`mediakit record`, `mediakit
// relay`) with stdout and stderr going to buffers (so stderr is not a
// terminal). A cleanup kills it if the test left it running.
type child struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr testutil.SyncBuffer
	done           chan struct{}
}

func startChild(t *testing.T, name string, args ...string) *child {
	t.Helper()
	c := &child{name: name, cmd: exec.Command(binary, append([]string{name}, args...)...), done: make(chan struct{})}
	c.cmd.Env = environ()
	c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

func (c *child) running() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// wait waits up to timeout for the process to exit and returns its state;
// it kills the process and fails the test when it does not exit in time.
func (c *child) wait(t *testing.T, timeout time.Duration, what string) *os.ProcessState {
	t.Helper()
	select {
	case <-c.done:
		return c.cmd.ProcessState
	case <-time.After(timeout):
		_ = c.cmd.Process.Kill()
		<-c.done
		t.Fatalf("mediakit %s still running %v after %s; stdout %q stderr:\n%s", c.name, timeout, what, c.stdout.String(), c.stderr.String())
		return nil
	}
}

// runFor lets c run for d, failing the test if it exits early.
func (c *child) runFor(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-c.done:
		t.Fatalf("mediakit %s exited early (%v); stdout %q stderr:\n%s", c.name, c.cmd.ProcessState, c.stdout.String(), c.stderr.String())
	case <-time.After(d):
	}
}
