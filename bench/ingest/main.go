// Command ingest measures what it costs a media server to take in many
// live streams: server CPU seconds per ingested gigabit, for N concurrent
// streams of the same clip sent in real time either as GB28181-style
// MPEG-PS over RTP (UDP) into openRtpServer ports, or over RTMP. Both
// senders run in this process, paced by the clip's timestamps, so the
// server (a child process, its CPU read from /proc) sees the same media
// either way; the RTMP figure is the reference for the RTP one. SRS and
// ZLMediaKit run under the same load as reference servers.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/mediakit/mediakit/bench/ingest/report"
	"github.com/mediakit/mediakit/bench/internal/benchio"
	"github.com/mediakit/mediakit/bench/internal/procstat"
	"github.com/mediakit/mediakit/bench/internal/zlmconf"
	"github.com/mediakit/mediakit/internal/gbsender"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/format/ps"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/rtmp"
)

type options struct {
	server   string // "mediakit", "srs" or "zlm"
	mediakit string
	srs      string
	zlm      string
	clip     string
	ingest   string // "rtp" or "rtmp"
	streams  int
	idle     int // registered streams that receive nothing (openRtpServer ports)
	players  int // HTTP-FLV players per stream
	hlsMode  string
	warmup   time.Duration
	duration time.Duration
	out      string
	pprof    string // mediakit: write a CPU profile of the window here
	trace    string // mediakit: write an execution trace of the probes here
	cpus     string // taskset CPU list the server runs on ("" = any)
}

type result = report.Result

func main() {
	var o options
	flag.StringVar(&o.server, "server", "mediakit", "mediakit, srs (RTMP ingest only) or zlm (ZLMediaKit)")
	flag.StringVar(&o.mediakit, "mediakit", "mediakit", "mediakit binary")
	flag.StringVar(&o.srs, "srs", "srs", "SRS binary (objs/srs of a build)")
	flag.StringVar(&o.zlm, "zlm", "MediaServer", "ZLMediaKit's MediaServer binary (release/linux/Release/MediaServer of a build)")
	flag.IntVar(&o.idle, "idle", 0, "also register this many streams that receive nothing (openRtpServer ports; mediakit and zlm)")
	flag.IntVar(&o.players, "players", 0, "HTTP-FLV players per stream")
	flag.StringVar(&o.hlsMode, "hls", "off", "live HLS: off, on (muxed from publish) or demand (from the first request; mediakit and zlm)")
	flag.StringVar(&o.clip, "clip", "", "FLV clip (H.264 + AAC), longer than warmup+duration")
	flag.StringVar(&o.ingest, "ingest", "rtp", "rtp (MPEG-PS over RTP/UDP) or rtmp")
	flag.IntVar(&o.streams, "streams", 50, "concurrent streams")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "time after every stream started before measuring")
	flag.DurationVar(&o.duration, "duration", 15*time.Second, "measurement window")
	flag.StringVar(&o.out, "out", "", "append the JSON result to this file")
	flag.StringVar(&o.pprof, "pprof", "", "mediakit: write a CPU profile of the measurement window to this file, the first 5 s of the latency probes (joins, stream-listing calls) to FILE-api.pprof and the heap at the window's end to FILE-heap.pprof (turns http.pprof on)")
	flag.StringVar(&o.trace, "trace", "", "mediakit: write an execution trace of the first 5 s of the latency probes to this file, for go tool trace (turns http.pprof on)")
	flag.StringVar(&o.cpus, "server-cpus", "", "run the server on these CPUs only (a taskset list, e.g. 0); run the load generator elsewhere with taskset, so that latencies are the server's")
	var probes probeClient
	var paths string
	flag.StringVar(&probes.list, "probe-list", "", "internal: time calls to this stream-listing URL from this process (the load generator runs its probes as a child)")
	flag.StringVar(&probes.join, "probe-join", "", "internal: with -probe-paths, the HTTP address to join on")
	flag.StringVar(&paths, "probe-paths", "", "internal: HTTP-FLV paths to time joins to, comma-separated")
	flag.IntVar(&probes.calls, "probe-calls", 50, "internal: with -probe-list, the number of calls")
	flag.DurationVar(&probes.gap, "probe-gap", 50*time.Millisecond, "internal: the pause between probes")
	flag.BoolVar(&probes.check, "probe-check", false, "internal: with -probe-list, read each reply's ZLMediaKit code")
	flag.Parse()
	if probes.list != "" || paths != "" {
		if paths != "" {
			probes.paths = strings.Split(paths, ",")
		}
		if err := probes.run(os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "ingest: probes:", err)
			os.Exit(1)
		}
		return
	}
	switch o.hlsMode {
	case "off", "on", "demand":
	default:
		fmt.Fprintf(os.Stderr, "ingest: -hls %q: want off, on or demand\n", o.hlsMode)
		os.Exit(2)
	}
	if o.server == "srs" && (o.ingest != "rtmp" || o.idle > 0 || o.hlsMode == "demand") {
		fmt.Fprintln(os.Stderr, "ingest: -server srs measures RTMP ingest, without -idle or -hls demand")
		os.Exit(2)
	}
	if (o.pprof != "" || o.trace != "") && o.server != "mediakit" {
		fmt.Fprintln(os.Stderr, "ingest: -pprof and -trace profile mediakit only")
		os.Exit(2)
	}
	res, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
	benchio.Emit(o.out, res)
}

// clip is the media every sender sends: FLV frames for RTMP, and the same
// frames muxed as PS for RTP.
type clip struct {
	tracks []*media.Track
	frames []*media.Frame
	ps     [][]byte // PS bytes of each frame
	bytes  int64
	dur    time.Duration
}

func loadClip(path string) (*clip, error) {
	tracks, frames, err := clipframes.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cl := &clip{tracks: tracks, frames: frames}
	var video, audio *media.Track
	for _, t := range tracks {
		if t.Kind() == media.KindVideo {
			video = t
		} else {
			audio = t
		}
	}
	if video == nil || video.Codec != media.CodecH264 || audio == nil || audio.Codec != media.CodecAAC {
		return nil, fmt.Errorf("%s: want H.264 + AAC, got %v", path, tracks)
	}
	var asc mpeg4audio.AudioSpecificConfig
	if err := asc.Unmarshal(audio.AACConfig); err != nil {
		return nil, fmt.Errorf("%s: AAC config: %w", path, err)
	}
	mux := ps.NewMuxer([]ps.Stream{{ID: 0xE0, Type: ps.StreamH264}, {ID: 0xC0, Type: ps.StreamAAC}})
	for _, fr := range frames {
		var data []byte
		id, typ := byte(0xE0), ps.StreamH264
		if fr.Track.Kind() == media.KindVideo {
			// As a camera sends it: Annex-B, parameter sets before a keyframe.
			nalus, _ := media.AppendAccessUnit(nil, fr)
			data = media.AppendAnnexB(nil, nalus)
		} else {
			id, typ = 0xC0, ps.StreamAAC
			pkt := mpeg4audio.ADTSPacket{Type: asc.Type, SampleRate: asc.SampleRate, ChannelConfig: asc.ChannelConfig, AU: fr.Payload}
			if data, err = (mpeg4audio.ADTSPackets{&pkt}).Marshal(); err != nil {
				return nil, fmt.Errorf("%s: ADTS: %w", path, err)
			}
		}
		pts := int64(fr.PTS * 90000 / time.Second)
		dts := int64(fr.DTS * 90000 / time.Second)
		cl.ps = append(cl.ps, mux.AppendFrame(nil, ps.Frame{StreamID: id, Type: typ, PTS: pts, DTS: dts, Data: data, Key: fr.Key}, fr.Key))
		cl.bytes += int64(len(fr.Payload))
	}
	cl.dur = frames[len(frames)-1].DTS - frames[0].DTS
	return cl, nil
}

type server struct {
	cmd        *exec.Cmd
	http, rtmp string
	dir        string
	apiURL     string
	srsAPI     string // SRS: its HTTP API's address
	secret     string // ZLMediaKit: api.secret, sent with every API call
	zlmConf    zlmconf.Config
}

// srsAPIPort finds the http_api listen port in an SRS config.
func srsAPIPort(conf string) string {
	var port int
	if i := strings.Index(conf, "http_api { enabled on; listen "); i >= 0 {
		fmt.Sscanf(conf[i+len("http_api { enabled on; listen "):], "%d", &port)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

func startServer(o options) (*server, error) {
	dir, err := os.MkdirTemp("", "ingest-")
	if err != nil {
		return nil, err
	}
	httpPort, rtmpPort := benchio.FreePort(), benchio.FreePort()
	s := &server{http: fmt.Sprintf("127.0.0.1:%d", httpPort), rtmp: fmt.Sprintf("127.0.0.1:%d", rtmpPort), dir: dir}
	s.apiURL = "http://" + s.http + "/index/api/"
	switch o.server {
	case "mediakit":
		// Live HLS off unless asked for: then this measures ingest, not
		// the HLS muxer every stream would otherwise feed.
		conf := dir + "/mediakit.toml"
		toml := fmt.Sprintf("[protocol]\nenable_hls = %v\nhls_demand = %v\n[http]\npprof = %v\n", o.hlsMode != "off", o.hlsMode == "demand", o.pprof != "" || o.trace != "")
		if err := os.WriteFile(conf, []byte(toml), 0o644); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.cmd = exec.Command(o.mediakit, "serve", "--config", conf, "--rtmp-addr", s.rtmp, "--http-addr", s.http,
			"--rtp-addr", "127.0.0.1:0", "--rtsp-addr", "", "--rtp-port-range", "40000-44999", "--data-dir", dir, "--log-level", "warn",
			"--max-conns-per-ip", "0",
			// Registered streams that receive nothing stay for the whole
			// run instead of timing out (rtp_proxy.timeoutSec, 15 s).
			"--rtp-timeout", "10m")
	case "srs":
		// SRS's defaults but for the ports, HTTP-FLV mounted for the
		// players, the HTTP API for the latency probe, and HLS (into the
		// temp dir, its defaults: 10 s fragments, a 60 s window) when on.
		hls := ""
		if o.hlsMode == "on" {
			hls = fmt.Sprintf("hls { enabled on; hls_path %s/hls; }", dir)
		}
		conf := dir + "/srs.conf"
		text := fmt.Sprintf(`listen %s;
max_connections 10000;
daemon off;
pid %s/srs.pid;
srs_log_tank console;
srs_log_level warn;
http_api { enabled on; listen %d; }
http_server { enabled on; listen %s; dir %s; }
vhost __defaultVhost__ {
  %s
  http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }
}
`, s.rtmp, dir, benchio.FreePort(), s.http, dir, hls)
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.cmd = exec.Command(o.srs, "-c", conf)
		s.cmd.Dir = dir
		s.srsAPI = srsAPIPort(text)
	case "zlm":
		// ZLMediaKit's defaults but for the listeners and paths (zlmBase),
		// the muxers below, live HLS as asked (protocol.enable_hls, written under
		// http.rootPath with its defaults: 2 s segments, 3 in the
		// playlist), and openRtpServer ports from the range mediakit's
		// run uses, kept for the whole run like mediakit's.
		s.secret = zlmconf.Secret()
		s.zlmConf = zlmconf.Base(dir, s.secret, httpPort, rtmpPort, benchio.FreePort())
		s.zlmConf.Set("protocol.enable_hls", b01(o.hlsMode != "off"))
		s.zlmConf.Set("protocol.hls_demand", b01(o.hlsMode == "demand"))
		// RTSP, MPEG-TS and fMP4 muxed on demand, as mediakit does and as
		// ZLMediaKit's config.ini advises for many streams: its default
		// muxes all three from publish, which no one with a thousand
		// cameras runs.
		for _, k := range []string{"protocol.rtsp_demand", "protocol.ts_demand", "protocol.fmp4_demand"} {
			s.zlmConf.Set(k, "1")
		}
		s.zlmConf.Set("rtp_proxy.port_range", "40000-44999")
		s.zlmConf.Set("rtp_proxy.timeoutSec", "600")
		conf := dir + "/zlm.ini"
		if err := s.zlmConf.Write(conf); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.cmd = exec.Command(o.zlm, zlmconf.Args(conf, dir)...)
		s.cmd.Dir = dir
	default:
		os.RemoveAll(dir)
		return nil, fmt.Errorf("unknown server %q", o.server)
	}
	if err := benchio.Pin(s.cmd, o.cpus); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("-server-cpus: %w", err)
	}
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + s.http + "/healthz"); err == nil {
			resp.Body.Close()
			if c, err := net.Dial("tcp", s.rtmp); err == nil {
				c.Close()
				if s.zlmConf != nil {
					if err := s.zlmConf.Check(s.http, s.secret); err != nil {
						s.stop()
						return nil, err
					}
				}
				return s, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("server did not start")
}

func (s *server) stop() {
	benchio.Stop(s.cmd, 10*time.Second)
	os.RemoveAll(s.dir)
}

func (s *server) api(name string, kv ...string) (map[string]any, error) {
	q := make([]string, 0, len(kv)/2+1)
	if s.secret != "" {
		q = append(q, "secret="+s.secret)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		q = append(q, kv[i]+"="+kv[i+1])
	}
	resp, err := http.Get(s.apiURL + name + "?" + strings.Join(q, "&"))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	err = json.NewDecoder(resp.Body).Decode(&m)
	return m, err
}

func (s *server) metric(name string) float64 {
	resp, err := http.Get("http://" + s.http + "/metrics")
	if err != nil {
		return 0
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
	return 0
}

func run(o options) (*result, error) {
	cl, err := loadClip(o.clip)
	if err != nil {
		return nil, err
	}
	if cl.dur < o.warmup+o.duration+2*time.Second {
		return nil, fmt.Errorf("clip of %v is shorter than warmup+duration", cl.dur)
	}
	s, err := startServer(o)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	rssBase, _ := procstat.MemMB(s.cmd.Process.Pid)
	for i := 0; i < o.idle; i++ {
		r, err := s.api("openRtpServer", "port", "0", "stream_id", fmt.Sprintf("idle%04d", i))
		if err != nil || r["code"] != float64(0) {
			return nil, fmt.Errorf("openRtpServer idle%04d: %v %v", i, r, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var sendErrors atomic.Int64
	var pubMu sync.Mutex
	var publishTimes []time.Duration
	for i := 0; i < o.streams; i++ {
		id := fmt.Sprintf("s%04d", i)
		var send func() error
		switch o.ingest {
		case "rtp":
			r, err := s.api("openRtpServer", "port", "0", "stream_id", id)
			port, ok := r["port"].(float64)
			if err != nil || r["code"] != float64(0) || !ok {
				return nil, fmt.Errorf("openRtpServer %s: %v %v", id, r, err)
			}
			send = func() error { return sendRTP(ctx, cl, int(port), uint32(1000+i)) }
		case "rtmp":
			url := fmt.Sprintf("rtmp://%s/rtp/%s", s.rtmp, id)
			send = func() error {
				return sendRTMP(ctx, cl, url, func(d time.Duration) {
					pubMu.Lock()
					publishTimes = append(publishTimes, d)
					pubMu.Unlock()
				})
			}
		default:
			return nil, fmt.Errorf("unknown ingest %q", o.ingest)
		}
		wg.Add(1)
		go func(delay time.Duration) {
			defer wg.Done()
			// Staggered over a second, as cameras are not in step.
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return
			}
			if err := send(); err != nil && ctx.Err() == nil {
				sendErrors.Add(1)
				fmt.Fprintln(os.Stderr, "ingest: sender:", err)
			}
		}(time.Duration(i) * time.Second / time.Duration(o.streams))
	}
	time.Sleep(time.Second + time.Second) // every stream started, its first GOP in
	pl := newPlayers()
	for i := 0; i < o.streams; i++ {
		for j := 0; j < o.players; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pl.play(ctx, s.http, s.flvPath(o, i))
			}()
		}
	}
	time.Sleep(o.warmup)

	bytes0 := pl.bytes.Load()
	pl.measuring.Store(true)
	cpu0, frames0, t0 := s.cpu(), s.metric("mediakit_frames_in_total"), time.Now()
	profiled := make(chan error, 1)
	if o.pprof != "" {
		go func() { profiled <- s.profile(o.duration, o.pprof) }()
	}
	time.Sleep(o.duration)
	cpu1, frames1, t1 := s.cpu(), s.metric("mediakit_frames_in_total"), time.Now()
	if o.pprof != "" {
		if err := <-profiled; err != nil {
			return nil, err
		}
	}
	bytes1 := pl.bytes.Load()
	pl.measuring.Store(false)
	rss, _ := procstat.MemMB(s.cmd.Process.Pid)
	if o.pprof != "" {
		// What the RSS above holds: the live heap, by allocation site.
		if err := s.save("heap", strings.TrimSuffix(o.pprof, ".pprof")+"-heap.pprof"); err != nil {
			return nil, err
		}
	}
	goroutines := s.metric("go_goroutines")

	// After the CPU window, so that the probes' own cost is not in it,
	// while every stream still runs, from a process of their own
	// (probeClient): 30 joins timed to the first keyframe, then 50 calls
	// that list every stream, one after the other.
	probes := probeClient{join: s.http, gap: 50 * time.Millisecond, calls: 50}
	probes.list, probes.check = s.listURL(o)
	for i := 0; i < 30 && o.streams > 0; i++ {
		probes.paths = append(probes.paths, s.flvPath(o, (i*7919)%o.streams))
	}
	apiProfiled := make(chan error, 1)
	if o.pprof != "" {
		// The probes take some seconds; a profile of 5 s catches the
		// joins and the first calls with the streams running.
		apiFile := strings.TrimSuffix(o.pprof, ".pprof") + "-api.pprof"
		go func() { apiProfiled <- s.profile(5*time.Second, apiFile) }()
	}
	traced := make(chan error, 1)
	if o.trace != "" {
		go func() { traced <- s.save("trace?seconds=5", o.trace) }()
	}
	times, err := runProbes(ctx, probes)
	if err != nil {
		return nil, err
	}
	if o.pprof != "" {
		if err := <-apiProfiled; err != nil {
			return nil, err
		}
	}
	if o.trace != "" {
		if err := <-traced; err != nil {
			return nil, err
		}
	}
	lost := s.metric("mediakit_rtp_lost_total")
	cancel()
	wg.Wait()
	secs := t1.Sub(t0).Seconds()
	mbps := float64(cl.bytes) * 8 / cl.dur.Seconds() / 1e6
	gbit := mbps * float64(o.streams) * secs / 1000
	perSec := float64(len(cl.frames)) / cl.dur.Seconds()
	res := &result{
		Server: o.server, HLS: o.hlsMode, Players: o.players, IdleStreams: o.idle,
		Ingest: o.ingest, Streams: o.streams, Seconds: secs, CPUSeconds: cpu1 - cpu0,
		IngestedGbit: gbit, CPUPerGbit: (cpu1 - cpu0) / gbit, CoreShare: (cpu1 - cpu0) / secs,
		MbpsPerStream: mbps, FramesIn: frames1 - frames0, FramesWant: perSec * secs * float64(o.streams),
		RTPLost: lost, RSSMB: rss, SendErrors: sendErrors.Load(),
		RSSBaseMB: rssBase, Goroutines: goroutines, PlayerErrors: pl.errors.Load(),
	}
	if n := o.streams + o.idle; n > 0 {
		res.CPUPerStream = res.CPUSeconds / float64(n)
		res.RSSPerStreamK = (rss - rssBase) * 1024 / float64(n)
	}
	if o.server != "mediakit" {
		res.FramesIn, res.Goroutines = 0, 0
	}
	if gbit == 0 {
		res.CPUPerGbit = 0 // no publisher: idle streams only
	}
	if o.players > 0 {
		res.PlayerMbps = float64(bytes1-bytes0) * 8 / secs / 1e6 / float64(o.players*o.streams)
	}
	res.PublishP50ms, res.PublishP99ms = percentiles(publishTimes)
	res.FirstPlayP50ms, res.FirstPlayP99ms = percentiles(times.joins)
	res.APIP50ms, res.APIP99ms = percentiles(times.lists)
	res.APIFirstByteP50ms, res.APIFirstByteP99ms = percentiles(times.listFirstBytes)
	res.DelayP50ms, res.DelayP99ms = percentiles(pl.delays())
	return res, nil
}

// profile saves a CPU profile of the next d to file.
func (s *server) profile(d time.Duration, file string) error {
	return s.save(fmt.Sprintf("profile?seconds=%d", int(d.Seconds())), file)
}

// save saves the pprof endpoint /debug/pprof/NAME to file.
func (s *server) save(name, file string) error {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/%s", s.http, name))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o644)
}

// percentiles returns the median and the 99th percentile in ms.
func percentiles(d []time.Duration) (p50, p99 float64) {
	if len(d) == 0 {
		return 0, 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	at := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))].Microseconds()) / 1000 }
	return at(0.5), at(0.99)
}

// flvPath is stream i's HTTP-FLV path on the server.
func (s *server) flvPath(o options, i int) string {
	if o.server == "srs" {
		return fmt.Sprintf("/rtp/s%04d.flv", i)
	}
	return fmt.Sprintf("/rtp/s%04d.live.flv", i)
}

// listURL is the call that lists every stream: getMediaList (mediakit,
// ZLMediaKit), or SRS's /api/v1/streams; check says whether its reply's
// code must be read (ZLMediaKit answers a refused call with 200 too).
func (s *server) listURL(o options) (url string, check bool) {
	if o.server == "srs" {
		return "http://" + s.srsAPI + "/api/v1/streams/?count=100000", false
	}
	url = s.apiURL + "getMediaList"
	if s.secret != "" {
		url += "?secret=" + s.secret
	}
	return url, s.secret != ""
}

func (s *server) cpu() float64 { return procstat.CPUSeconds(s.cmd.Process.Pid) }

// b01 is a ZLMediaKit boolean.
func b01(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// pace sleeps until frame i is due.
func pace(ctx context.Context, start time.Time, at time.Duration) bool {
	d := time.Until(start.Add(at))
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func sendRTP(ctx context.Context, cl *clip, port int, ssrc uint32) error {
	s, err := gbsender.Dial(gbsender.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), SSRC: ssrc, VideoType: ps.StreamH264, AudioType: ps.StreamAAC, Raw: true})
	if err != nil {
		return err
	}
	defer s.Close()
	start, base := time.Now(), cl.frames[0].DTS
	for i, f := range cl.frames {
		if !pace(ctx, start, f.DTS-base) {
			return nil
		}
		// Raw: the PS bytes were muxed once for every sender.
		if err := s.SendFrame(gbsender.Frame{Video: f.Track.Kind() == media.KindVideo, Key: f.Key,
			PTS: int64(f.PTS * 90000 / time.Second), Data: cl.ps[i]}); err != nil {
			return err
		}
	}
	return nil
}

func sendRTMP(ctx context.Context, cl *clip, url string, published func(time.Duration)) error {
	t0 := time.Now()
	c, err := rtmp.DialPublish(ctx, url, rtmp.ClientOptions{})
	if err != nil {
		return err
	}
	published(time.Since(t0))
	defer c.Close()
	if err := c.WriteTracks(cl.tracks, nil); err != nil {
		return err
	}
	start, base := time.Now(), cl.frames[0].DTS
	for _, f := range cl.frames {
		if !pace(ctx, start, f.DTS-base) {
			return nil
		}
		if err := c.WriteFrame(f); err != nil {
			return err
		}
	}
	return nil
}
