package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
)

// binary is the mediakit executable TestMain builds.
var binary string

// TestMain builds the binary and runs the tests, 4 parallel ones at once
// unless go test is given -parallel (whose default, GOMAXPROCS, is 2 on the
// CI machine): most tests run servers and ffmpeg as child processes on
// ports and directories of their own and wait on real-time media. Tests
// that set the environment, reuse a port after releasing it, or bound
// how fast something is (TestSoak, TestMaxConnsFlood) stay serial, and go
// test runs every serial test before it releases the parallel ones.
func TestMain(m *testing.M) {
	testutil.DefaultParallel(4)
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mediakit-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "mediakit")
	goTool, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "go tool not found:", err)
		return 1
	}
	build := exec.Command(goTool, "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "go build:", err)
		return 1
	}
	return m.Run()
}

// environ is the process environment without MEDIAKIT_* variables, plus
// extra.
func environ(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MEDIAKIT_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// runBinary runs mediakit to completion (at most 10 s).
func runBinary(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = environ(env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		code = ee.ExitCode()
	default:
		t.Fatalf("mediakit %q: %v; stderr:\n%s", args, err, errOut.String())
	}
	return code, out.String(), errOut.String()
}

var readyLine = regexp.MustCompile(`msg="mediakit ready".* rtmp=(\S+) http=(\S+) rtsp=(\S*)`)

// process is a running `mediakit serve`.
type process struct {
	cmd        *exec.Cmd
	stdout     bytes.Buffer
	stderr     chan string // lines
	logs       []string    // lines read so far
	done       chan error
	rtmp, http string
	rtsp       string // "" when off
}

// startServe starts `mediakit serve` on free loopback ports and waits
// for the ready line.
func startServe(t *testing.T, args ...string) *process {
	t.Helper()
	args = append([]string{"serve", "--rtmp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--rtp-addr", "127.0.0.1:0",
		"--rtsp-addr", "127.0.0.1:0", "--rtsp-rtp-addr", "127.0.0.1:0", "--rtsp-rtcp-addr", "127.0.0.1:0",
		"--data-dir", filepath.Join(t.TempDir(), "data")}, args...)
	p := &process{cmd: exec.Command(binary, args...), stderr: make(chan string, 100), done: make(chan error, 1)}
	p.cmd.Env = environ()
	p.cmd.Stdout = &p.stdout
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			p.stderr <- sc.Text()
		}
		close(p.stderr)
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.wait(t)
		}
	})
	deadline := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-p.stderr:
			if !ok {
				p.wait(t)
				t.Fatalf("mediakit serve exited before ready (%v); stderr:\n%s", p.cmd.ProcessState, strings.Join(p.logs, "\n"))
			}
			p.logs = append(p.logs, line)
			if m := readyLine.FindStringSubmatch(line); m != nil {
				p.rtmp, p.http, p.rtsp = m[1], m[2], m[3]
				return p
			}
		case <-deadline:
			t.Fatalf("no ready line within 10s; stderr:\n%s", strings.Join(p.logs, "\n"))
		}
	}
}

// wait reads the rest of stderr and waits for the process to exit.
func (p *process) wait(t *testing.T) {
	t.Helper()
	for line := range p.stderr {
		p.logs = append(p.logs, line)
	}
	if err := p.cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Errorf("wait: %v", err)
		}
	}
}

func TestServeSignals(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startServe(t)
			for _, addr := range []string{p.rtmp, p.http} {
				if host, port, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" || port == "0" {
					t.Fatalf("ready line gives %q, want a bound loopback address", addr)
				}
			}

			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := client.Get("http://" + p.http + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var health map[string]any
			if err := json.Unmarshal(body, &health); err != nil {
				t.Fatalf("/healthz body %q: %v", body, err)
			}
			if resp.StatusCode != http.StatusOK || health["status"] != "ok" {
				t.Errorf("/healthz: %d %s", resp.StatusCode, body)
			}
			if _, ok := health["streams"]; !ok {
				t.Errorf("/healthz lacks streams: %s", body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("/healthz Content-Type %q", ct)
			}

			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { p.wait(t); close(exited) }()
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				p.cmd.Process.Kill()
				<-exited
				t.Fatalf("still running 10s after %v; stderr:\n%s", sig, strings.Join(p.logs, "\n"))
			}
			if code := p.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("exit code %d after %v, want 0 (%v); stderr:\n%s", code, sig, p.cmd.ProcessState, strings.Join(p.logs, "\n"))
			}
			logs := strings.Join(p.logs, "\n")
			if !strings.Contains(logs, "mediakit stopped") {
				t.Errorf("no \"mediakit stopped\" after %v; stderr:\n%s", sig, logs)
			}
			if p.stdout.Len() != 0 {
				t.Errorf("serve wrote to stdout: %q", p.stdout.String())
			}
		})
	}
}

func TestServeBusyPort(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	code, stdout, stderr := runBinary(t, nil, "serve", "--rtmp-addr", addr, "--http-addr", "127.0.0.1:0", "--rtp-addr", "127.0.0.1:0", "--rtsp-addr", "",
		"--data-dir", t.TempDir())
	if code != 1 {
		t.Errorf("exit %d, want 1; stderr %q", code, stderr)
	}
	testutil.CheckOneLineError(t, stdout, stderr)
	if !strings.Contains(stderr, addr) {
		t.Errorf("error %q does not name %s", stderr, addr)
	}
}

func TestUsageExitCodes(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--bogus"}, {"bogus"}, {"serve", "--bogus"}, {"serve", "extra"}, {"serve", "--log-level", "loud"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := runBinary(t, nil, args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr %q", code, stderr)
			}
			testutil.CheckOneLineError(t, stdout, stderr)
		})
	}
}

func TestVersionAndPrintConfig(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runBinary(t, nil, "version")
	if code != 0 || !strings.HasPrefix(stdout, "mediakit ") || stderr != "" {
		t.Errorf("version: exit %d stdout %q stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = runBinary(t, []string{"MEDIAKIT_CONTINUE_PUSH=7s"}, "serve", "--print-config")
	if code != 0 || !strings.Contains(stdout, "\ncontinue_push_ms = 7000\n") || stderr != "" {
		t.Errorf("print-config: exit %d stdout %q stderr %q", code, stdout, stderr)
	}
}
