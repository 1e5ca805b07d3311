// Command webrtc measures the server's CPU per WebRTC viewer: one
// ffmpeg publishes a clip over RTMP in a loop, N pion WHEP viewers (in
// this process) play it, and the server's user+system CPU time over the
// measurement window is read from /proc, without the viewers' share.
// Targets: mediakit (its [webrtc] on a loopback port) and MediaMTX (its
// WebRTC server, WHEP on its own HTTP port). See bench/webrtc.sh.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/mediakit/mediakit/bench/internal/benchio"
	"github.com/mediakit/mediakit/bench/internal/procstat"
)

type options struct {
	target, mediakit, mediamtx, clip, out string
	pprof                                 string
	viewers                               int
	warmup, duration                      time.Duration
}

// result is one JSON line of bench/results/webrtc-*.jsonl.
type result struct {
	Target         string  `json:"target"`
	Viewers        int     `json:"viewers"`
	Connected      int     `json:"connected"`
	Seconds        float64 `json:"seconds"`
	ServerCPU      float64 `json:"server_cpu_s"`
	ServerCPUUser  float64 `json:"server_cpu_user_s"`
	DeliveredMB    float64 `json:"delivered_mb"`
	CPUPerGB       float64 `json:"cpu_s_per_gb"`
	CPUPctPerView  float64 `json:"cpu_pct_per_viewer"`
	RSSMB          float64 `json:"rss_mb"`
	ViewersCPU     float64 `json:"viewers_cpu_s"`
	PacketsPerView float64 `json:"packets_per_viewer_s"`
}

func main() {
	var o options
	flag.StringVar(&o.target, "target", "mediakit", "mediakit or mediamtx")
	flag.StringVar(&o.mediakit, "mediakit", "mediakit", "mediakit binary")
	flag.StringVar(&o.mediamtx, "mediamtx", "mediamtx", "MediaMTX binary")
	flag.StringVar(&o.clip, "clip", "", "FLV clip (H.264) to publish in a loop (required)")
	flag.IntVar(&o.viewers, "viewers", 20, "WHEP viewers")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "time after the viewers connect before measuring")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "measurement window")
	flag.StringVar(&o.out, "out", "", "append the JSON result to this file")
	flag.StringVar(&o.pprof, "pprof", "", "mediakit: save a CPU profile of the measurement window to this file (turns http.pprof on)")
	flag.Parse()
	if o.clip == "" || (o.target != "mediakit" && o.target != "mediamtx") {
		fmt.Fprintln(os.Stderr, "webrtc: -clip is required and -target is mediakit or mediamtx")
		os.Exit(2)
	}
	res, err := run(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "webrtc: %s with %d viewers: %v\n", o.target, o.viewers, err)
		os.Exit(1)
	}
	benchio.Emit(o.out, res)
}

// server is the child process under test.
type server struct {
	cmd      *exec.Cmd
	dir      string
	rtmpPort int
	whep     string // the stream's WHEP URL
	http     string // host:port of its HTTP listener
}

func startServer(o options) (*server, error) {
	dir, err := os.MkdirTemp("", "webrtc-bench-")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir, rtmpPort: benchio.FreePort()}
	httpPort, icePort := benchio.FreePort(), benchio.FreePort()
	s.http = fmt.Sprintf("127.0.0.1:%d", httpPort)
	switch o.target {
	case "mediakit":
		conf := filepath.Join(dir, "mediakit.toml")
		if err := os.WriteFile(conf, fmt.Appendf(nil, "[webrtc]\naddr = \"127.0.0.1:%d\"\n[http]\npprof = %v\n", icePort, o.pprof != ""), 0o644); err != nil {
			return nil, err
		}
		s.cmd = exec.Command(o.mediakit, "serve", "--config", conf, "--log-level", "warn", "--data-dir", dir,
			"--rtmp-addr", fmt.Sprintf("127.0.0.1:%d", s.rtmpPort), "--http-addr", fmt.Sprintf("127.0.0.1:%d", httpPort),
			"--rtsp-addr", "", "--rtp-addr", "")
		s.whep = fmt.Sprintf("http://127.0.0.1:%d/live/bench/whep", httpPort)
	case "mediamtx":
		// WebRTC on a loopback UDP port, its host candidate announced
		// (loopback addresses are not gathered otherwise), no ICE-TCP.
		yml := fmt.Sprintf(`logLevel: warn
api: no
metrics: no
pprof: no
playback: no
rtsp: no
hls: no
srt: no
rtmp: yes
rtmpAddress: 127.0.0.1:%d
webrtc: yes
webrtcAddress: 127.0.0.1:%d
webrtcLocalUDPAddress: 127.0.0.1:%d
webrtcLocalTCPAddress: ""
webrtcIPsFromInterfaces: no
webrtcAdditionalHosts: [127.0.0.1]
writeQueueSize: 2048
paths:
  all_others:
`, s.rtmpPort, httpPort, icePort)
		conf := filepath.Join(dir, "mediamtx.yml")
		if err := os.WriteFile(conf, []byte(yml), 0o644); err != nil {
			return nil, err
		}
		s.cmd = exec.Command(o.mediamtx, conf)
		s.cmd.Env = append(os.Environ(), "MTX_MOQ=no")
		s.cmd.Dir = dir
		s.whep = fmt.Sprintf("http://127.0.0.1:%d/live/bench/whep", httpPort)
	}
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	if err := benchio.WaitListening(10*time.Second, s.rtmpPort, httpPort); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *server) stop() {
	benchio.Stop(s.cmd, 5*time.Second)
	os.RemoveAll(s.dir)
}

// viewer is one WHEP peer counting what it receives.
type viewer struct {
	pc        *pwebrtc.PeerConnection
	connected atomic.Bool
}

func newViewer(api *pwebrtc.API, whep string, bytes, packets *atomic.Int64) (*viewer, error) {
	pc, err := api.NewPeerConnection(pwebrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	v := &viewer{pc: pc}
	for _, kind := range []pwebrtc.RTPCodecType{pwebrtc.RTPCodecTypeVideo, pwebrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			pc.Close()
			return nil, err
		}
	}
	pc.OnConnectionStateChange(func(st pwebrtc.PeerConnectionState) {
		if st == pwebrtc.PeerConnectionStateConnected {
			v.connected.Store(true)
		}
	})
	pc.OnTrack(func(t *pwebrtc.TrackRemote, _ *pwebrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		for {
			n, _, err := t.Read(buf)
			if err != nil {
				return
			}
			bytes.Add(int64(n))
			packets.Add(1)
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		pc.Close()
		return nil, err
	}
	gathered := pwebrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		pc.Close()
		return nil, err
	}
	<-gathered
	resp, err := http.Post(whep, "application/sdp", strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		pc.Close()
		return nil, err
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		pc.Close()
		return nil, fmt.Errorf("WHEP %s: %s %s", whep, resp.Status, strings.TrimSpace(string(answer)))
	}
	if err := pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		pc.Close()
		return nil, err
	}
	return v, nil
}

func run(o options) (*result, error) {
	s, err := startServer(o)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	pub := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1",
		"-i", o.clip, "-c", "copy", "-f", "flv", fmt.Sprintf("rtmp://127.0.0.1:%d/live/bench", s.rtmpPort))
	pub.Stderr = os.Stderr
	if err := pub.Start(); err != nil {
		return nil, err
	}
	defer func() { pub.Process.Kill(); pub.Wait() }()

	var se pwebrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]pwebrtc.NetworkType{pwebrtc.NetworkTypeUDP4})
	api := pwebrtc.NewAPI(pwebrtc.WithSettingEngine(se))
	var bytes, packets atomic.Int64
	var viewers []*viewer
	defer func() {
		for _, v := range viewers {
			v.pc.Close()
		}
	}()
	// The first viewer waits for the stream (the publisher connecting).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(viewers) < o.viewers {
		v, err := newViewer(api, s.whep, &bytes, &packets)
		if err != nil {
			if len(viewers) == 0 && ctx.Err() == nil {
				time.Sleep(200 * time.Millisecond)
				continue
			}
			return nil, err
		}
		viewers = append(viewers, v)
	}
	connected := func() int {
		n := 0
		for _, v := range viewers {
			if v.connected.Load() {
				n++
			}
		}
		return n
	}
	for connected() < len(viewers) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	if connected() == 0 {
		return nil, errors.New("no viewer connected")
	}
	time.Sleep(o.warmup)

	pid := s.cmd.Process.Pid
	u0, s0 := procstat.CPUSplit(pid)
	self0 := procstat.CPUSeconds(os.Getpid())
	b0, p0 := bytes.Load(), packets.Load()
	t0 := time.Now()
	if o.pprof != "" && o.target == "mediakit" {
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.http, int(o.duration.Seconds())))
		if err != nil {
			return nil, err
		}
		prof, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := os.WriteFile(o.pprof, prof, 0o644); err != nil {
			return nil, err
		}
	}
	if rest := o.duration - time.Since(t0); rest > 0 {
		time.Sleep(rest)
	}
	u1, s1 := procstat.CPUSplit(pid)
	self1 := procstat.CPUSeconds(os.Getpid())
	b1, p1 := bytes.Load(), packets.Load()
	secs := time.Since(t0).Seconds()
	rss, _ := procstat.MemMB(pid)

	res := &result{Target: o.target, Viewers: o.viewers, Connected: connected(), Seconds: secs,
		ServerCPU: (u1 + s1) - (u0 + s0), ServerCPUUser: u1 - u0, DeliveredMB: float64(b1-b0) / 1e6,
		RSSMB: rss, ViewersCPU: self1 - self0}
	if b1 > b0 {
		res.CPUPerGB = res.ServerCPU / (float64(b1-b0) / 1e9)
	}
	res.CPUPctPerView = 100 * res.ServerCPU / secs / float64(o.viewers)
	res.PacketsPerView = float64(p1-p0) / secs / float64(o.viewers)
	return res, nil
}
