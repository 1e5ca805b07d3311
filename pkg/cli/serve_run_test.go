package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/cli"
)

// server is `mediakit serve` running in Main.
type server struct {
	cancel         context.CancelFunc
	code           chan int
	stdout, stderr *syncBuffer
	rtmp, http     string // bound addresses from the ready line
}

var (
	readyText = regexp.MustCompile(`msg="mediakit ready".* rtmp=(\S*) http=(\S*)`)
)

// startServe runs Main("serve", args...) and waits for the ready line.
func startServe(t *testing.T, env map[string]string, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{cancel: cancel, code: make(chan int, 1), stdout: new(syncBuffer), stderr: new(syncBuffer)}
	go func() {
		s.code <- cli.Main(ctx, append([]string{"serve"}, args...), s.stdout, s.stderr, envFunc(env))
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.code:
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop within 10s of cancel")
		}
	})
	deadline := time.After(10 * time.Second)
	for {
		out := s.stderr.String()
		if strings.Contains(out, "mediakit ready") {
			s.rtmp, s.http = parseReady(t, out)
			return s
		}
		select {
		case code := <-s.code:
			s.code <- code // for Cleanup
			t.Fatalf("serve exited with %d before ready; stderr:\n%s", code, out)
		case <-deadline:
			t.Fatalf("no \"mediakit ready\" line within 10s; stderr:\n%s", out)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// parseReady returns the addresses of the ready line, text or JSON.
func parseReady(t *testing.T, logs string) (rtmp, http string) {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, "mediakit ready") {
			continue
		}
		if strings.HasPrefix(line, "{") {
			var rec struct{ RTMP, HTTP string }
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("ready line %q: %v", line, err)
			}
			return rec.RTMP, rec.HTTP
		}
		if m := readyText.FindStringSubmatch(line); m != nil {
			return m[1], m[2]
		}
		t.Fatalf("cannot parse the ready line %q", line)
	}
	t.Fatalf("no ready line in %q", logs)
	return "", ""
}

// stop cancels the context as a signal would and returns the exit code.
func (s *server) stop(t *testing.T) int {
	t.Helper()
	s.cancel()
	select {
	case code := <-s.code:
		s.code <- code
		return code
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not stop within 10s; stderr:\n%s", s.stderr.String())
		return -1
	}
}

func getHealthz(t *testing.T, addr string) (int, map[string]any) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("/healthz body %q: %v", body, err)
	}
	return resp.StatusCode, v
}

func TestServeRuns(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			s := startServe(t, map[string]string{"MEDIAKIT_LOG_FORMAT": format},
				"--rtmp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--rtp-addr", "127.0.0.1:0", "--data-dir", dataDir,
				"--rtsp-addr", "127.0.0.1:0", "--rtsp-rtp-addr", "127.0.0.1:0", "--rtsp-rtcp-addr", "127.0.0.1:0")

			for _, addr := range []string{s.rtmp, s.http} {
				host, port, err := net.SplitHostPort(addr)
				if err != nil || host != "127.0.0.1" || port == "0" {
					t.Fatalf("ready line gives address %q, want 127.0.0.1 and the bound port", addr)
				}
			}
			if fi, err := os.Stat(dataDir); err != nil || !fi.IsDir() {
				t.Errorf("data dir %s not created: %v", dataDir, err)
			}
			code, body := getHealthz(t, s.http)
			if code != http.StatusOK || body["status"] != "ok" {
				t.Errorf("/healthz: %d %v", code, body)
			}
			if _, ok := body["streams"].(float64); !ok {
				t.Errorf("/healthz has no streams count: %v", body)
			}
			conn, err := net.DialTimeout("tcp", s.rtmp, 5*time.Second)
			if err != nil {
				t.Errorf("RTMP listener: %v", err)
			} else {
				conn.Close()
			}

			if code := s.stop(t); code != cli.ExitOK {
				t.Errorf("exit %d after cancel, want 0; stderr:\n%s", code, s.stderr.String())
			}
			logs := s.stderr.String()
			if !strings.Contains(logs, "mediakit stopped") {
				t.Errorf("no \"mediakit stopped\" line; stderr:\n%s", logs)
			}
			if strings.Count(logs, "mediakit ready") != 1 {
				t.Errorf("want one ready line; stderr:\n%s", logs)
			}
			if format == "json" {
				for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
					if !json.Valid([]byte(line)) {
						t.Errorf("--log-format json, but a stderr line is not JSON: %q", line)
					}
				}
			}
			if out := s.stdout.String(); out != "" {
				t.Errorf("serve wrote to stdout: %q", out)
			}
			// The listeners are closed.
			if conn, err := net.DialTimeout("tcp", s.http, time.Second); err == nil {
				conn.Close()
				t.Errorf("HTTP listener %s still open after stop", s.http)
			}
		})
	}
}

func TestServeBindFailure(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"rtmp", []string{"--rtmp-addr", addr, "--http-addr", "127.0.0.1:0", "--rtp-addr", "127.0.0.1:0"}},
		{"http", []string{"--rtmp-addr", "127.0.0.1:0", "--http-addr", addr}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--data-dir", t.TempDir()}, tc.args...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			code := cli.Main(ctx, args, &stdout, &stderr, envFunc(nil))
			r := result{code, stdout.String(), stderr.String()}
			if r.code != cli.ExitFailure {
				t.Errorf("exit %d, want 1; stderr %q", r.code, r.stderr)
			}
			checkOneLineError(t, r)
			for _, w := range []string{addr, tc.name, "address already in use"} {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("error %q does not mention %q", r.stderr, w)
				}
			}
			if strings.Contains(r.stderr, "mediakit ready") {
				t.Error("ready logged although a listener failed")
			}
		})
	}
}

// TestServeCancelledBeforeStart: a context that is already done (a
// signal during start-up) still gives a clean start, stop and exit 0.
func TestServeCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	code := cli.Main(ctx, []string{"serve", "--rtmp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--rtp-addr", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--rtsp-addr", "127.0.0.1:0", "--rtsp-rtp-addr", "127.0.0.1:0", "--rtsp-rtcp-addr", "127.0.0.1:0"},
		&stdout, &stderr, envFunc(nil))
	if code != cli.ExitOK || !strings.Contains(stderr.String(), "mediakit stopped") || stdout.Len() != 0 {
		t.Errorf("exit %d, stdout %q, stderr:\n%s", code, stdout.String(), stderr.String())
	}
}
