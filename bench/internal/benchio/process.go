package benchio

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"time"
)

// Pin makes cmd run on the CPUs listed (a taskset list, e.g. "0") by
// starting it through taskset, which execs it: the pid, and so the
// process's CPU and RSS figures, stay cmd's own. An empty list leaves cmd
// as it is.
func Pin(cmd *exec.Cmd, cpus string) error {
	if cpus == "" {
		return nil
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return err
	}
	cmd.Args = append([]string{"taskset", "-c", cpus, cmd.Path}, cmd.Args[1:]...)
	cmd.Path = taskset
	return nil
}

// WaitListening waits until every port accepts a TCP connection on
// loopback, or the timeout passes.
func WaitListening(timeout time.Duration, ports ...int) error {
	deadline := time.Now().Add(timeout)
	for _, port := range ports {
		for {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("server did not start listening on port %d", port)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// Stop interrupts a started child server and waits for it, killing it
// after grace.
func Stop(cmd *exec.Cmd, grace time.Duration) {
	if cmd.Process == nil {
		return
	}
	cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		cmd.Process.Kill()
		<-done
	}
}
