// Command fanout measures a media server fanning one live stream out to
// many players on loopback: server CPU seconds per delivered gigabyte,
// resident memory per player, and time to first keyframe for a joining
// HTTP-FLV or RTSP player. It drives mediakit and, as references measured
// in the same run, other servers (MediaMTX, nginx-rtmp, SRS, ZLMediaKit)
// with identical load.
//
// The server runs as a child process so its CPU time and memory are read
// from /proc without the load generator's share. One ffmpeg publishes a
// clip in real time; players are goroutines that read with large buffers
// and count bytes, so the client side costs as little as it can.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/handshake"

	"github.com/mediakit/mediakit/bench/fanout/report"
	"github.com/mediakit/mediakit/bench/internal/benchio"
	"github.com/mediakit/mediakit/bench/internal/procstat"
	"github.com/mediakit/mediakit/bench/internal/zlmconf"
	"github.com/mediakit/mediakit/pkg/rtmp"
)

type options struct {
	target     string
	mediakit   string
	mediamtx   string
	nginx      string
	srs        string
	zlm        string
	clip       string
	readers    int
	warmup     time.Duration
	duration   time.Duration
	ttfkProbes int
	mergeWrite string
	out        string
	idle       bool
	rtspPlayer string
	pprofDir   string
	cpus       string // taskset CPU list the server runs on ("" = any)
	round      int
}

type result = report.Result

func main() {
	var o options
	flag.StringVar(&o.target, "target", "mediakit-flv", "mediakit-flv, mediakit-rtmp, mediakit-rtsp, mediamtx-rtmp, mediamtx-rtsp, nginx-rtmp, srs-flv, srs-rtmp, zlm-flv or zlm-rtmp")
	flag.StringVar(&o.mediakit, "mediakit", "mediakit", "mediakit binary")
	flag.StringVar(&o.mediamtx, "mediamtx", "mediamtx", "MediaMTX binary")
	flag.StringVar(&o.nginx, "nginx", "nginx", "nginx binary with the rtmp module")
	flag.StringVar(&o.srs, "srs", "srs", "SRS binary (objs/srs of a build)")
	flag.StringVar(&o.zlm, "zlm", "MediaServer", "ZLMediaKit's MediaServer binary (release/linux/Release/MediaServer of a build)")
	flag.StringVar(&o.clip, "clip", "", "FLV clip to publish in a loop (required)")
	flag.IntVar(&o.readers, "readers", 100, "players")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "time after the players join before measuring")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "measurement window")
	flag.IntVar(&o.ttfkProbes, "ttfk", 30, "joins timed to the first keyframe (HTTP-FLV for mediakit-flv, RTSP for the -rtsp targets)")
	flag.StringVar(&o.mergeWrite, "merge-write", "", "write batching window: mediakit's --merge-write, SRS's mw_latency, ZLMediaKit's general.mergeWriteMS (a Go duration; empty: each server's default)")
	flag.StringVar(&o.out, "out", "", "append the JSON result to this file")
	flag.StringVar(&o.rtspPlayer, "rtsp-player", "raw", "RTSP players: raw (minimal client that counts bytes) or gortsplib (gortsplib's Client, parses every packet)")
	flag.StringVar(&o.pprofDir, "pprof", "", "mediakit targets: save a CPU profile of the measurement window and an allocation profile into this directory (turns http.pprof on)")
	flag.BoolVar(&o.idle, "idle", false, "measure idle players: stop the publisher once they joined and measure memory per player while the stream waits for its publisher (mediakit only)")
	flag.StringVar(&o.cpus, "server-cpus", "", "run the server on these CPUs only (a taskset list, e.g. 0); run the load generator elsewhere with taskset")
	flag.IntVar(&o.round, "round", 0, "the round this run belongs to, recorded in the result (bench/fanout.sh's ROUNDS)")
	flag.Parse()
	if o.clip == "" {
		fmt.Fprintln(os.Stderr, "fanout: -clip is required")
		os.Exit(2)
	}
	if o.rtspPlayer != "raw" && o.rtspPlayer != "gortsplib" {
		fmt.Fprintf(os.Stderr, "fanout: -rtsp-player %q: want raw or gortsplib\n", o.rtspPlayer)
		os.Exit(2)
	}
	res, err := run(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fanout: %s with %d readers: %v\n", o.target, o.readers, err)
		os.Exit(1)
	}
	benchio.Emit(o.out, res)
}

// server is a child process under test.
type server struct {
	cmd      *exec.Cmd
	rtmpPort int
	httpPort int
	rtspPort int // 0: RTSP off
	dir      string
	zlmConf  zlmconf.Config // ZLMediaKit: its config, checked once it listens
	secret   string         // ZLMediaKit: api.secret
}

// hasRTSPFlags reports whether a mediakit binary has the RTSP server's
// flags; binaries from before it (A/B runs against old builds) do not.
func hasRTSPFlags(bin string) bool {
	out, _ := exec.Command(bin, "serve", "--help").CombinedOutput()
	return strings.Contains(string(out), "--rtsp-addr")
}

// isFLV reports whether a target's players are HTTP-FLV players.
func isFLV(target string) bool { return strings.HasSuffix(target, "-flv") }

// flvPath is where a server serves the stream as HTTP-FLV.
func flvPath(target string) string {
	if strings.HasPrefix(target, "srs-") {
		return "/live/bench.flv"
	}
	return "/live/bench.live.flv"
}

// isRTSP reports whether a target's players are RTSP players.
func isRTSP(target string) bool { return strings.HasSuffix(target, "-rtsp") }

func startServer(o options) (*server, error) {
	dir, err := os.MkdirTemp("", "fanout-")
	if err != nil {
		return nil, err
	}
	s := &server{rtmpPort: benchio.FreePort(), httpPort: benchio.FreePort(), dir: dir}
	if isRTSP(o.target) {
		s.rtspPort = benchio.FreePort()
	}
	switch {
	case strings.HasPrefix(o.target, "mediakit"):
		args := []string{"serve", "--continue-push", "120s", "--rtmp-addr", fmt.Sprintf("127.0.0.1:%d", s.rtmpPort),
			"--http-addr", fmt.Sprintf("127.0.0.1:%d", s.httpPort), "--log-level", "warn", "--data-dir", dir}
		if o.mergeWrite != "" {
			args = append(args, "--merge-write", o.mergeWrite)
		}
		if o.pprofDir != "" {
			conf := filepath.Join(dir, "pprof.toml")
			if err := os.WriteFile(conf, []byte("[http]\npprof = true\n"), 0o644); err != nil {
				return nil, err
			}
			args = append(args, "--config", conf)
		}
		if isRTSP(o.target) || hasRTSPFlags(o.mediakit) {
			// RTSP stays on, as in serve's defaults, but on a free loopback
			// port instead of :8554, and TCP only like the players (the
			// fixed UDP ports :8000/:8001 may be taken on a shared box).
			if s.rtspPort == 0 {
				s.rtspPort = benchio.FreePort()
			}
			args = append(args, "--rtsp-addr", fmt.Sprintf("127.0.0.1:%d", s.rtspPort), "--rtsp-rtp-addr=", "--rtsp-rtcp-addr=")
		}
		s.cmd = exec.Command(o.mediakit, args...)
	case o.target == "mediamtx-rtmp" || o.target == "mediamtx-rtsp":
		conf := filepath.Join(dir, "mediamtx.yml")
		// RTMP takes the publisher; RTSP, when measured, serves the
		// players over TCP only (no UDP listeners to open or poll).
		rtsp := "rtsp: no"
		if s.rtspPort != 0 {
			rtsp = fmt.Sprintf("rtsp: yes\nrtspTransports: [tcp]\nrtspEncryption: \"no\"\nrtspAddress: 127.0.0.1:%d", s.rtspPort)
		}
		yml := fmt.Sprintf(`logLevel: warn
api: no
metrics: no
pprof: no
playback: no
%s
webrtc: no
hls: no
srt: no
rtmp: yes
rtmpAddress: 127.0.0.1:%d
writeQueueSize: 2048
paths:
  all_others:
`, rtsp, s.rtmpPort)
		if err := os.WriteFile(conf, []byte(yml), 0o644); err != nil {
			return nil, err
		}
		s.cmd = exec.Command(o.mediamtx, conf)
		// Newer MediaMTX also serves MoQ, on fixed ports, writing a
		// self-signed certificate into its working directory. The
		// environment turns it off where the key exists and is ignored by
		// older versions, which would refuse an unknown key in the file.
		s.cmd.Env = append(os.Environ(), "MTX_MOQ=no")
		s.cmd.Dir = dir
	case strings.HasPrefix(o.target, "srs-"):
		conf := filepath.Join(dir, "srs.conf")
		// SRS's defaults but for the ports, logs to the console at warn,
		// HTTP-FLV mounted, and the batching window when one is asked for
		// (mw_latency; its default is 350 ms).
		play := ""
		if o.mergeWrite != "" {
			d, err := time.ParseDuration(o.mergeWrite)
			if err != nil {
				return nil, fmt.Errorf("-merge-write %q: %w", o.mergeWrite, err)
			}
			play = fmt.Sprintf("play { mw_latency %d; }", d.Milliseconds())
			if d == 0 {
				play = "min_latency on; play { mw_latency 0; mw_msgs 0; }"
			}
		}
		text := fmt.Sprintf(`listen 127.0.0.1:%d;
max_connections 10000;
daemon off;
pid %s/srs.pid;
srs_log_tank console;
srs_log_level warn;
http_api { enabled off; }
http_server { enabled on; listen 127.0.0.1:%d; dir %s; }
vhost __defaultVhost__ {
  %s
  http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }
}
`, s.rtmpPort, dir, s.httpPort, dir, play)
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			return nil, err
		}
		s.cmd = exec.Command(o.srs, "-c", conf)
		s.cmd.Dir = dir
	case o.target == "zlm-flv" || o.target == "zlm-rtmp":
		// ZLMediaKit's defaults but for the listeners and paths (zlmBase),
		// and the batching window when one is asked for
		// (general.mergeWriteMS; its default is 0, no batching).
		s.secret = zlmconf.Secret()
		s.zlmConf = zlmconf.Base(dir, s.secret, s.httpPort, s.rtmpPort, benchio.FreePort())
		if o.mergeWrite != "" {
			d, err := time.ParseDuration(o.mergeWrite)
			if err != nil {
				return nil, fmt.Errorf("-merge-write %q: %w", o.mergeWrite, err)
			}
			s.zlmConf.Set("general.mergeWriteMS", fmt.Sprint(d.Milliseconds()))
		}
		conf := filepath.Join(dir, "zlm.ini")
		if err := s.zlmConf.Write(conf); err != nil {
			return nil, err
		}
		s.cmd = exec.Command(o.zlm, zlmconf.Args(conf, dir)...)
		s.cmd.Dir = dir
	case o.target == "nginx-rtmp":
		conf := filepath.Join(dir, "nginx.conf")
		text := fmt.Sprintf(`load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off;
master_process off;
worker_processes 1;
error_log %s/error.log warn;
pid %s/nginx.pid;
events { worker_connections 4096; }
rtmp {
  server {
    listen 127.0.0.1:%d;
    chunk_size 65536;
    application live { live on; }
  }
}
`, dir, dir, s.rtmpPort)
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			return nil, err
		}
		s.cmd = exec.Command(o.nginx, "-c", conf, "-p", dir)
	default:
		return nil, fmt.Errorf("unknown target %q", o.target)
	}
	if err := benchio.Pin(s.cmd, o.cpus); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("-server-cpus: %w", err)
	}
	s.cmd.Stdout = os.Stderr
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	ports := []int{s.rtmpPort}
	if isFLV(o.target) || s.zlmConf != nil {
		ports = append(ports, s.httpPort)
	}
	if s.rtspPort != 0 {
		ports = append(ports, s.rtspPort)
	}
	if err := benchio.WaitListening(10*time.Second, ports...); err != nil {
		s.stop()
		return nil, err
	}
	if s.zlmConf != nil {
		if err := s.zlmConf.Check(fmt.Sprintf("127.0.0.1:%d", s.httpPort), s.secret); err != nil {
			s.stop()
			return nil, err
		}
	}
	return s, nil
}

func (s *server) stop() {
	benchio.Stop(s.cmd, 5*time.Second)
	os.RemoveAll(s.dir)
}

// cpuSeconds is the process's user+system CPU time.
func (s *server) cpuSeconds() float64 { return procstat.CPUSeconds(s.cmd.Process.Pid) }

// selfCPUSeconds is the load generator's own user+system CPU time: what
// its players cost, reported so player implementations can be compared.
func selfCPUSeconds() float64 { return procstat.CPUSeconds(os.Getpid()) }

// playerKind names the player implementation in the result.
func playerKind(o options) string {
	switch {
	case isFLV(o.target):
		return "http-flv"
	case isRTSP(o.target):
		return "rtsp-" + o.rtspPlayer
	default:
		return "rtmp"
	}
}

// memMB returns VmRSS and VmHWM in MiB.
func (s *server) memMB() (rss, peak float64) { return procstat.MemMB(s.cmd.Process.Pid) }

// player reads a stream and counts bytes.
type player struct {
	bytes atomic.Int64
	err   atomic.Pointer[error]
}

func (p *player) fail(err error) {
	if p.err.Load() == nil {
		p.err.Store(&err)
	}
}

func (p *player) drain(ctx context.Context, c net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		p.bytes.Add(int64(n))
		if err != nil {
			if ctx.Err() == nil {
				p.fail(err)
			}
			return
		}
	}
}

func (p *player) playFLV(ctx context.Context, addr, path string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		p.fail(err)
		return
	}
	context.AfterFunc(ctx, func() { c.Close() })
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, addr)
	p.drain(ctx, c)
}

// playRTMP is a minimal RTMP player: handshake, connect, createStream,
// play, then acknowledgements while it counts bytes.
func (p *player) playRTMP(ctx context.Context, addr, app, stream string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		p.fail(err)
		return
	}
	context.AfterFunc(ctx, func() { c.Close() })
	if _, _, err := handshake.DoClient(c, false, false); err != nil {
		p.fail(err)
		return
	}
	send := func(msid uint32, values ...any) {
		body, _ := amf0.Data(values).Marshal()
		c.Write(rtmp.AppendMessage(nil, 3, rtmp.MsgCommandAMF0, msid, 0, body, 128))
	}
	send(0, "connect", float64(1), amf0.Object{
		{Key: "app", Value: app},
		{Key: "flashVer", Value: "LNX 9,0,124,2"},
		{Key: "tcUrl", Value: "rtmp://" + addr + "/" + app},
		{Key: "fpad", Value: false},
		{Key: "capabilities", Value: float64(15)},
		{Key: "audioCodecs", Value: float64(4071)},
		{Key: "videoCodecs", Value: float64(252)},
		{Key: "videoFunction", Value: float64(1)},
	})
	send(0, "createStream", float64(2), nil)
	send(1, "play", float64(0), nil, stream, float64(-2000))
	buf := make([]byte, 64<<10)
	var unacked int64
	var total uint32
	for {
		n, err := c.Read(buf)
		p.bytes.Add(int64(n))
		total += uint32(n)
		unacked += int64(n)
		if unacked > 1<<20 {
			unacked = 0
			var b [4]byte
			b[0], b[1], b[2], b[3] = byte(total>>24), byte(total>>16), byte(total>>8), byte(total)
			c.Write(rtmp.AppendMessage(nil, 2, rtmp.MsgAcknowledgement, 0, 0, b[:], 128))
		}
		if err != nil {
			if ctx.Err() == nil {
				p.fail(err)
			}
			return
		}
	}
}

func publish(o options, s *server) (*exec.Cmd, error) {
	cmd := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1",
		"-i", o.clip, "-c", "copy", "-f", "flv", fmt.Sprintf("rtmp://127.0.0.1:%d/live/bench", s.rtmpPort))
	cmd.Stderr = os.Stderr
	return cmd, cmd.Start()
}

// saveProfile fetches /debug/pprof/WHAT from a mediakit started with
// http.pprof on and writes it to file.
func saveProfile(addr, what, file string) error {
	resp, err := http.Get("http://" + addr + "/debug/pprof/" + what)
	if err != nil {
		return fmt.Errorf("pprof %s: %w", what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof %s: %s", what, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("pprof %s: %w", what, err)
	}
	return os.WriteFile(file, b, 0o644)
}

func percentile(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	i := int(q * float64(len(d)-1))
	return float64(d[i].Microseconds()) / 1000
}

func metric(addr, name string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, _ := strconv.ParseFloat(rest, 64)
			return v
		}
	}
	return 0
}

func run(o options) (*result, error) {
	s, err := startServer(o)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	pub, err := publish(o, s)
	if err != nil {
		return nil, err
	}
	defer func() { pub.Process.Kill(); pub.Wait() }()
	time.Sleep(3 * time.Second) // publisher connected, GOP cache filled

	res := &result{Target: o.target, Readers: o.readers, Batching: o.mergeWrite, ServerCPUs: o.cpus, Round: o.round}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", s.httpPort)
	rtmpAddr := fmt.Sprintf("127.0.0.1:%d", s.rtmpPort)
	rtspURL := fmt.Sprintf("rtsp://127.0.0.1:%d/live/bench", s.rtspPort)
	if (isFLV(o.target) || isRTSP(o.target)) && o.ttfkProbes > 0 {
		var ttfk []time.Duration
		for i := 0; i < o.ttfkProbes; i++ {
			var d time.Duration
			var err error
			if isRTSP(o.target) {
				// Join at a random point of the clip's 2 s GOP: a server
				// without a GOP cache makes a player wait for the next
				// keyframe, and back-to-back probes would each start just
				// after one and always wait a whole GOP.
				time.Sleep(rand.N(2 * time.Second))
				d, err = firstKeyframeRTSP(rtspURL)
			} else {
				d, err = benchio.FirstKeyframe(context.Background(), httpAddr, flvPath(o.target))
			}
			if err != nil {
				return nil, fmt.Errorf("first keyframe probe: %w", err)
			}
			ttfk = append(ttfk, d)
			time.Sleep(20 * time.Millisecond)
		}
		res.TTFKp50ms = percentile(ttfk, 0.5)
		res.TTFKp99ms = percentile(ttfk, 0.99)
	}

	res.RSSBaseMB, _ = s.memMB()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	players := make([]*player, o.readers)
	var wg sync.WaitGroup
	for i := range players {
		p := &player{}
		players[i] = p
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch {
			case isFLV(o.target):
				p.playFLV(ctx, httpAddr, flvPath(o.target))
			case isRTSP(o.target) && o.rtspPlayer == "gortsplib":
				p.playRTSPLib(ctx, rtspURL)
			case isRTSP(o.target):
				p.playRTSP(ctx, rtspURL)
			default:
				p.playRTMP(ctx, rtmpAddr, "live", "bench")
			}
		}()
		if i%50 == 49 {
			time.Sleep(20 * time.Millisecond) // do not look like a SYN flood
		}
	}
	time.Sleep(o.warmup)
	if o.idle {
		return measureIdle(o, s, res, players, pub, cancel, &wg)
	}

	start := make([]int64, len(players))
	for i, p := range players {
		start[i] = p.bytes.Load()
	}
	cpu0, self0 := s.cpuSeconds(), selfCPUSeconds()
	user0, _ := procstat.CPUSplit(s.cmd.Process.Pid)
	t0 := time.Now()
	profiled := make(chan error, 1)
	if o.pprofDir != "" {
		go func() {
			profiled <- saveProfile(httpAddr, fmt.Sprintf("profile?seconds=%d", int(o.duration.Seconds())),
				filepath.Join(o.pprofDir, fmt.Sprintf("cpu-%s-%d.pb.gz", o.target, o.readers)))
		}()
	}
	time.Sleep(o.duration)
	cpu1, self1 := s.cpuSeconds(), selfCPUSeconds()
	user1, _ := procstat.CPUSplit(s.cmd.Process.Pid)
	res.UserCPUSeconds = user1 - user0
	if o.pprofDir != "" {
		if err := <-profiled; err != nil {
			return nil, err
		}
		if err := saveProfile(httpAddr, "allocs", filepath.Join(o.pprofDir, fmt.Sprintf("allocs-%s-%d.pb.gz", o.target, o.readers))); err != nil {
			return nil, err
		}
	}
	elapsed := time.Since(t0).Seconds()
	var total int64
	res.ReaderMbpsMin = -1
	rates := make([]float64, len(players))
	for i, p := range players {
		n := p.bytes.Load() - start[i]
		total += n
		rates[i] = float64(n) * 8 / elapsed / 1e6
		if p.err.Load() != nil {
			res.Dropped++
		}
	}
	rss, peak := s.memMB()
	cancel()
	wg.Wait()

	mean := float64(total) * 8 / elapsed / 1e6 / float64(len(players))
	for _, r := range rates {
		if res.ReaderMbpsMin < 0 || r < res.ReaderMbpsMin {
			res.ReaderMbpsMin = r
		}
		if r < 0.8*mean {
			res.Slow++
		}
	}
	res.Seconds = elapsed
	res.CPUSeconds = cpu1 - cpu0
	res.ClientCPUSeconds = self1 - self0
	res.Player = playerKind(o)
	res.DeliveredGB = float64(total) / 1e9
	res.CPUPerGB = res.CPUSeconds / res.DeliveredGB
	res.ReaderMbps = mean
	res.RSSPeakMB = peak
	res.KiBPerReader = (rss - res.RSSBaseMB) * 1024 / float64(o.readers)
	if strings.HasPrefix(o.target, "mediakit") {
		res.Skipped = metric(httpAddr, "mediakit_frames_skipped_total")
		res.ServerDropped = metric(httpAddr, "mediakit_readers_dropped_total")
	}
	return res, nil
}

// measureIdle stops the publisher so the stream sits in its grace period
// with every player attached and nothing to send, then reads the memory
// the players hold.
func measureIdle(o options, s *server, res *result, players []*player, pub *exec.Cmd, cancel context.CancelFunc, wg *sync.WaitGroup) (*result, error) {
	res.Idle = true
	pub.Process.Kill()
	pub.Wait()
	time.Sleep(5 * time.Second) // let the runtime scavenge freed frames
	rss, peak := s.memMB()
	if o.pprofDir != "" {
		httpAddr := fmt.Sprintf("127.0.0.1:%d", s.httpPort)
		for what, file := range map[string]string{"heap": "heap-idle", "goroutine?debug=1": "goroutines-idle"} {
			if err := saveProfile(httpAddr, what, filepath.Join(o.pprofDir, fmt.Sprintf("%s-%s-%d.txt", file, o.target, o.readers))); err != nil {
				return nil, err
			}
		}
	}
	for _, p := range players {
		if p.err.Load() != nil {
			res.Dropped++
		}
	}
	res.RSSPeakMB = peak
	res.KiBPerReader = (rss - res.RSSBaseMB) * 1024 / float64(o.readers)
	cancel()
	wg.Wait()
	return res, nil
}
