package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mediakit/mediakit/bench/internal/benchio"
	"github.com/mediakit/mediakit/bench/internal/procstat"
)

// proc is a child process: a server, a publisher or a relayer.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// start runs a child that dies with this program (Pdeathsig), its output
// appended to logPath.
func start(name, logPath string, argv ...string) (*proc, error) {
	return startEnv(name, logPath, nil, argv...)
}

// startEnv is start with variables added to the environment.
func startEnv(name, logPath string, env []string, argv ...string) (*proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if logPath != "" {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = f, f
		defer f.Close() // the child has its own copy
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop interrupts the process and kills it if it has not ended in 5 s.
func (p *proc) stop() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill ends the process at once (a crash).
func (p *proc) kill() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

func cpuOf(ps []*proc) float64 {
	var s float64
	for _, p := range ps {
		s += procstat.CPUSeconds(p.pid())
	}
	return s
}

func rssOf(ps []*proc) float64 {
	var s float64
	for _, p := range ps {
		rss, _ := procstat.MemMB(p.pid())
		s += rss
	}
	return s
}

func stopAll(ps []*proc) {
	for _, p := range ps {
		_ = p.cmd.Process.Signal(os.Interrupt)
	}
	for _, p := range ps {
		p.stop()
	}
}

// mkServer is a `mediakit serve` child with its ports and data dir.
type mkServer struct {
	*proc
	bin        string
	rtmp, http string // host:port
	dir        string
	args       []string
}

var httpc = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

// newMK prepares a mediakit server on free ports; hls selects live HLS
// (the default of `serve`) or off.
func newMK(bin, name, parent string, hls bool) (*mkServer, error) {
	// A directory of its own each time: a data dir used before would
	// restore the proxies stored in it.
	dir, err := os.MkdirTemp(parent, name+"-")
	if err != nil {
		return nil, err
	}
	s := &mkServer{bin: bin, dir: dir,
		rtmp: fmt.Sprintf("127.0.0.1:%d", benchio.FreePort()), http: fmt.Sprintf("127.0.0.1:%d", benchio.FreePort())}
	s.args = []string{"serve", "--rtmp-addr", s.rtmp, "--http-addr", s.http, "--rtp-addr", "", "--rtsp-addr", "",
		"--data-dir", filepath.Join(dir, "data"), "--log-level", "warn"}
	if !hls {
		conf := filepath.Join(dir, "mediakit.toml")
		if err := os.WriteFile(conf, []byte("[protocol]\nenable_hls = false\n"), 0o644); err != nil {
			return nil, err
		}
		s.args = append(s.args, "--config", conf)
	}
	return s, s.start(name)
}

// start runs (or runs again, on the same ports) the server and waits for
// /healthz.
func (s *mkServer) start(name string) error {
	p, err := start(name, filepath.Join(s.dir, "server.log"), append([]string{s.bin}, s.args...)...)
	if err != nil {
		return err
	}
	s.proc = p
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited: %v (see %s/server.log)", name, p.err, s.dir)
		}
		if resp, err := httpc.Get("http://" + s.http + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.kill()
	return fmt.Errorf("%s did not answer /healthz", name)
}

// api calls a ZLMediaKit-style endpoint.
func (s *mkServer) api(name string, kv ...string) (map[string]any, error) {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return getJSON("http://" + s.http + "/index/api/" + name + "?" + q.Encode())
}

func getJSON(u string) (map[string]any, error) {
	resp, err := httpc.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	return m, nil
}

func (s *mkServer) metric(name string) float64 {
	resp, err := httpc.Get("http://" + s.http + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return -1
}

// online reports whether app/stream is published (isMediaOnline).
func (s *mkServer) online(app, stream string) bool {
	m, err := s.api("isMediaOnline", "schema", "rtmp", "vhost", "__defaultVhost__", "app", app, "stream", stream)
	return err == nil && m["online"] == true
}

// streams counts the distinct published app/stream pairs (getMediaList).
func (s *mkServer) streams() int {
	m, err := s.api("getMediaList")
	if err != nil {
		return -1
	}
	list, _ := m["data"].([]any)
	seen := map[string]bool{}
	for _, it := range list {
		if item, ok := it.(map[string]any); ok {
			seen[fmt.Sprint(item["app"], "/", item["stream"])] = true
		}
	}
	return len(seen)
}

// proxyState is one row of listStreamProxy.
type proxyState struct {
	Key        string  `json:"key"`
	Status     int     `json:"status"`
	State      string  `json:"state"`
	TotalBytes float64 `json:"totalBytes"`
	Failures   int     `json:"failures"`
	Restarts   int     `json:"rePullCount"`
	Error      string  `json:"error"`
}

func (s *mkServer) proxies() (map[string]proxyState, error) {
	resp, err := httpc.Get("http://" + s.http + "/index/api/listStreamProxy")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Code int          `json:"code"`
		Msg  string       `json:"msg"`
		Data []proxyState `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	if r.Code != 0 {
		return nil, fmt.Errorf("listStreamProxy: %d %s", r.Code, r.Msg)
	}
	out := make(map[string]proxyState, len(r.Data))
	for _, p := range r.Data {
		out[p.Key] = p
	}
	return out, nil
}

// waitUntil polls cond every interval until it holds or timeout passes.
func waitUntil(timeout, interval time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("timed out waiting for " + what)
		}
		time.Sleep(interval)
	}
}

// publisher is one ffmpeg that publishes the clip in a loop, in real
// time, to every URL (the tee muxer: one demuxer, N RTMP outputs).
func startPublisher(ffmpeg, clip, logPath string, urls []string) (*proc, error) {
	outs := make([]string, len(urls))
	for i, u := range urls {
		outs[i] = "[f=flv:onfail=ignore:flvflags=no_duration_filesize]" + u
	}
	return start("publisher", logPath, ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
		"-re", "-stream_loop", "-1", "-i", clip, "-map", "0", "-c", "copy", "-f", "tee", strings.Join(outs, "|"))
}

// portOpen reports whether something listens on addr.
func portOpen(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
