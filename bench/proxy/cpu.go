package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mediakit/mediakit/bench/internal/benchio"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
)

// cpuResult is one relayer measured over the window.
type cpuResult struct {
	Kind    string `json:"kind"` // "cpu"
	Target  string `json:"target"`
	Round   int    `json:"round"`
	Streams int    `json:"streams"`
	// Dests is the number of destinations per stream (1, or 2 for the
	// -2dst targets).
	Dests   int     `json:"dests"`
	Seconds float64 `json:"seconds"`
	// RelayerCPU: the relaying process(es): the edge server, MediaMTX,
	// or the sum over the 50 ffmpeg / mediakit relay processes.
	RelayerCPU float64 `json:"relayer_cpu_s"`
	// ReceiverCPU: the mediakit server the relayer processes push to
	// (ffmpeg, relay targets); 0 for the edge and MediaMTX, which take
	// the streams in themselves.
	ReceiverCPU float64 `json:"receiver_cpu_s"`
	OriginCPU   float64 `json:"origin_cpu_s"`
	// OriginOutMbit: what the origin sent to the relayer(s) in the
	// window (mediakit_bytes_out_total), the denominator of every row.
	OriginOutMbit float64 `json:"origin_out_mbit"`
	// RelayedMbit: the relayer's own count (edge:
	// mediakit_proxy_bytes_in_total; MediaMTX: bytesReceived; ffmpeg and
	// relay: the receiver's mediakit_bytes_in_total / dests), a
	// cross-check.
	RelayedMbit float64 `json:"relayed_mbit"`
	Mbps        float64 `json:"relayed_mbps"`
	// CPUPerGbit is RelayerCPU per relayed Gbit: CPU ms per Mbit, or
	// thousandths of a core per relayed Mbit/s.
	CPUPerGbit          float64 `json:"cpu_s_per_gbit"`
	WithReceiverPerGbit float64 `json:"with_receiver_cpu_s_per_gbit"`
	CoreShare           float64 `json:"core_share"`
	// OriginInMbit: what the origin took in from its publisher in the
	// window: the rate the relayers should match.
	OriginInMbit float64 `json:"origin_in_mbit"`
	// NominalMbps: the clip's rate times the streams.
	NominalMbps float64 `json:"nominal_mbps"`
	// Steady: the origin's input and output were at the nominal rate
	// before the window.
	Steady        bool    `json:"steady"`
	MinStreamMbps float64 `json:"min_stream_mbps,omitempty"`
	LiveAtEnd     int     `json:"live_at_end"`
	Exited        int     `json:"exited"`
	RSSMB         float64 `json:"relayer_rss_mb"`
	Binary        string  `json:"mediakit"`
	Started       string  `json:"started"`
}

// target is a set of relayers of the origin's streams, running.
type target struct {
	relayers  []*proc
	receivers []*proc
	want      int                       // streams live when ready
	live      func() int                // relayed streams live now
	relayed   func() float64            // relayer-side bytes so far
	perStream func() map[string]float64 // bytes per stream, when known
	cleanup   func()
}

func runCPU(o options, targets []string) error {
	dir, cleanup, err := workDir(o, "proxybench-")
	if err != nil {
		return err
	}
	defer cleanup()
	// The clip's rate: what every relayer should relay, per stream.
	nominal, err := clipRate(o.clip)
	if err != nil {
		return err
	}
	origin, err := newMK(o.mediakit, "origin", dir, false)
	if err != nil {
		return err
	}
	defer origin.stop()
	names := streamNames(o.streams)
	urls := make([]string, len(names))
	for i, n := range names {
		urls[i] = "rtmp://" + origin.rtmp + "/live/" + n
	}
	pub, err := startPublisher(o.ffmpeg, o.clip, filepath.Join(dir, "publisher.log"), urls)
	if err != nil {
		return err
	}
	defer pub.stop()
	if err := waitUntil(60*time.Second, 100*time.Millisecond, "the origin's streams", func() bool {
		return origin.streams() == o.streams || pub.exited()
	}); err != nil || pub.exited() {
		return fmt.Errorf("origin: %d of %d streams published: %v (see %s)", origin.streams(), o.streams, err, dir)
	}
	logf("origin %s: %d streams published", origin.rtmp, o.streams)
	nominal *= float64(o.streams)
	for round := 0; round < o.rounds; round++ {
		for _, t := range targets {
			t = strings.TrimSpace(t)
			if t == "" {
				continue
			}
			r, err := measure(o, t, dir, origin, names, nominal)
			if r != nil {
				r.Round = round + 1
			}
			if err != nil {
				logf("%s: %v", t, err)
				continue
			}
			if pub.exited() {
				return fmt.Errorf("the publisher exited during %s: %v", t, pub.err)
			}
			emit(o, r)
		}
	}
	return nil
}

func streamNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("s%03d", i)
	}
	return out
}

func measure(o options, name, dir string, origin *mkServer, streams []string, nominal float64) (*cpuResult, error) {
	started := time.Now().UTC().Format(time.RFC3339)
	logf("%s: starting", name)
	t, err := setup(o, name, dir, origin, streams)
	if err != nil {
		return nil, err
	}
	defer t.cleanup()
	if err := waitUntil(90*time.Second, 200*time.Millisecond, name+" live", func() bool { return t.live() >= t.want }); err != nil {
		return nil, fmt.Errorf("%d of %d streams live: %w", t.live(), t.want, err)
	}
	logf("%s: %d streams live; warming up %v", name, t.want, o.warmup)
	time.Sleep(o.warmup)
	// Steady state: when 50 processes start on a loaded machine, the
	// relayers and even the publisher (ffmpeg -re catches up after a
	// stall) fall behind, then move a backlog faster than real time for a
	// while. Measure once the origin takes in and sends out the clip's
	// rate, within 10%, over two 2 s intervals in a row.
	steady, err := waitSteady(origin, nominal, 90*time.Second)
	if err != nil {
		logf("%s: %v; measuring anyway", name, err)
	}
	logf("%s: measuring %v", name, o.duration)

	// The window is timed at the CPU readings; the byte counters are read
	// right after them (a few ms of API calls, against a 20 s window).
	sample := func() (relayer, receiver, originCPU, out, in, relayed float64, per map[string]float64, at time.Time) {
		at = time.Now()
		relayer, receiver, originCPU = cpuOf(t.relayers), cpuOf(t.receivers), origin.cpuSeconds()
		out, in, relayed = origin.metric("mediakit_bytes_out_total"), origin.metric("mediakit_bytes_in_total"), t.relayed()
		if t.perStream != nil {
			per = t.perStream()
		}
		return relayer, receiver, originCPU, out, in, relayed, per, at
	}
	r0, c0, o0, out0, in0, b0, per0, t0 := sample()
	time.Sleep(o.duration)
	r1, c1, o1, out1, in1, b1, per1, t1 := sample()

	secs := t1.Sub(t0).Seconds()
	dests := 1
	if strings.HasSuffix(name, "-2dst") {
		dests = 2
	}
	res := &cpuResult{
		Kind: "cpu", Target: name, Streams: len(streams), Dests: dests, Seconds: secs,
		RelayerCPU: r1 - r0, ReceiverCPU: c1 - c0, OriginCPU: o1 - o0,
		OriginOutMbit: (out1 - out0) * 8 / 1e6, RelayedMbit: (b1 - b0) * 8 / 1e6,
		LiveAtEnd: t.live(), RSSMB: rssOf(t.relayers), Binary: o.mediakit, Started: started,
		Steady: steady, OriginInMbit: (in1 - in0) * 8 / 1e6, NominalMbps: nominal * 8 / 1e6,
	}
	for _, p := range t.relayers {
		if p.exited() {
			res.Exited++
		}
	}
	res.Mbps = res.OriginOutMbit / secs
	gbit := res.OriginOutMbit / 1000
	res.CPUPerGbit = res.RelayerCPU / gbit
	res.WithReceiverPerGbit = (res.RelayerCPU + res.ReceiverCPU) / gbit
	res.CoreShare = res.RelayerCPU / secs
	if per0 != nil && per1 != nil {
		res.MinStreamMbps = math.Inf(1)
		for k, v := range per1 {
			res.MinStreamMbps = math.Min(res.MinStreamMbps, (v-per0[k])*8/1e6/secs)
		}
	}
	return res, nil
}

func (s *mkServer) cpuSeconds() float64 { return cpuOf([]*proc{s.proc}) }

func setup(o options, name, dir string, origin *mkServer, streams []string) (*target, error) {
	src := func(s string) string { return "rtmp://" + origin.rtmp + "/live/" + s }
	switch name {
	case "edge", "edge-hls":
		edge, err := newMK(o.mediakit, name, dir, name == "edge-hls")
		if err != nil {
			return nil, err
		}
		t := &target{relayers: []*proc{edge.proc}, want: len(streams), cleanup: edge.stop}
		t.live = func() int {
			ps, err := edge.proxies()
			if err != nil {
				return -1
			}
			n := 0
			for _, p := range ps {
				if p.Status == 0 {
					n++
				}
			}
			return n
		}
		t.relayed = func() float64 { return edge.metric("mediakit_proxy_bytes_in_total") }
		t.perStream = func() map[string]float64 {
			ps, _ := edge.proxies()
			m := map[string]float64{}
			for k, p := range ps {
				m[k] = p.TotalBytes
			}
			return m
		}
		// addStreamProxy answers once the first attempt plays; eight at a
		// time keeps the setup short.
		errs := make(chan error, len(streams))
		sem := make(chan struct{}, 8)
		var wg sync.WaitGroup
		for _, s := range streams {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				r, err := edge.api("addStreamProxy", "vhost", "__defaultVhost__", "app", "proxy", "stream", s, "url", src(s))
				if err == nil && r["code"] != float64(0) {
					err = fmt.Errorf("addStreamProxy %s: %v", s, r)
				}
				if err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			edge.stop()
			return nil, err
		}
		return t, nil

	case "ffmpeg", "ffmpeg-2dst", "relay", "relay-2dst", "relay-gomaxprocs1":
		sink, err := newMK(o.mediakit, "sink-"+name, dir, false)
		if err != nil {
			return nil, err
		}
		dests := 1
		if strings.HasSuffix(name, "-2dst") {
			dests = 2
		}
		t := &target{receivers: []*proc{sink.proc}, want: len(streams) * dests}
		t.live = sink.streams
		t.relayed = func() float64 { return sink.metric("mediakit_bytes_in_total") / float64(dests) }
		logPath := filepath.Join(dir, name+".log")
		for _, s := range streams {
			dst := []string{"rtmp://" + sink.rtmp + "/a/" + s}
			if dests == 2 {
				dst = append(dst, "rtmp://"+sink.rtmp+"/b/"+s)
			}
			var argv []string
			if strings.HasPrefix(name, "ffmpeg") {
				argv = []string{o.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", src(s), "-map", "0", "-c", "copy"}
				if dests == 1 {
					argv = append(argv, "-f", "flv", dst[0])
				} else {
					argv = append(argv, "-f", "tee", "[f=flv]"+dst[0]+"|[f=flv]"+dst[1])
				}
			} else {
				argv = append([]string{o.mediakit, "relay", src(s)}, dst...)
				argv = append(argv, "--log-level", "warn")
			}
			var env []string
			if name == "relay-gomaxprocs1" {
				// One P: no hand-over between threads per frame.
				env = []string{"GOMAXPROCS=1"}
			}
			p, err := startEnv(name+"-"+s, logPath, env, argv...)
			if err != nil {
				stopAll(t.relayers)
				sink.stop()
				return nil, err
			}
			t.relayers = append(t.relayers, p)
			time.Sleep(20 * time.Millisecond) // staggered starts
		}
		t.cleanup = func() { stopAll(t.relayers); sink.stop() }
		return t, nil

	case "mediamtx":
		if o.mediamtx == "" {
			return nil, fmt.Errorf("no MediaMTX binary (-mediamtx)")
		}
		mdir := filepath.Join(dir, "mediamtx")
		if err := os.MkdirAll(mdir, 0o755); err != nil {
			return nil, err
		}
		api := fmt.Sprintf("127.0.0.1:%d", benchio.FreePort())
		var b strings.Builder
		fmt.Fprintf(&b, `logLevel: warn
api: yes
apiAddress: %s
metrics: no
pprof: no
playback: no
rtsp: no
webrtc: no
hls: no
srt: no
rtmp: yes
rtmpAddress: 127.0.0.1:%d
paths:
`, api, benchio.FreePort())
		for _, s := range streams {
			fmt.Fprintf(&b, "  %s:\n    source: %s\n", s, src(s))
		}
		conf := filepath.Join(mdir, "mediamtx.yml")
		if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
			return nil, err
		}
		p, err := start("mediamtx", filepath.Join(mdir, "mediamtx.log"), o.mediamtx, conf)
		if err != nil {
			return nil, err
		}
		paths := func() (ready int, bytes float64) {
			m, err := getJSON("http://" + api + "/v3/paths/list?itemsPerPage=1000")
			if err != nil {
				return -1, 0
			}
			items, _ := m["items"].([]any)
			for _, it := range items {
				item, _ := it.(map[string]any)
				if item["ready"] == true {
					ready++
				}
				v, _ := item["bytesReceived"].(float64)
				bytes += v
			}
			return ready, bytes
		}
		t := &target{relayers: []*proc{p}, want: len(streams), cleanup: p.stop}
		t.live = func() int { n, _ := paths(); return n }
		t.relayed = func() float64 { _, b := paths(); return b }
		return t, nil
	}
	return nil, fmt.Errorf("unknown target %q", name)
}

// waitSteady polls the origin's byte counters every 2 s until two
// intervals in a row have it taking in and sending out nominal bytes per
// second, within 10%.
func waitSteady(origin *mkServer, nominal float64, timeout time.Duration) (bool, error) {
	deadline := time.Now().Add(timeout)
	near := func(v float64) bool { return v > 0.9*nominal && v < 1.1*nominal }
	in0, out0, t0 := origin.metric("mediakit_bytes_in_total"), origin.metric("mediakit_bytes_out_total"), time.Now()
	ok := 0
	for time.Now().Before(deadline) {
		time.Sleep(2 * time.Second)
		in1, out1, t1 := origin.metric("mediakit_bytes_in_total"), origin.metric("mediakit_bytes_out_total"), time.Now()
		secs := t1.Sub(t0).Seconds()
		if near((in1-in0)/secs) && near((out1-out0)/secs) {
			ok++
		} else {
			ok = 0
		}
		if ok == 2 {
			return true, nil
		}
		in0, out0, t0 = in1, out1, t1
	}
	return false, fmt.Errorf("the origin's input and output did not settle to %.1f Mbit/s within %v", nominal*8/1e6, timeout)
}

// clipRate is the clip's media bytes per second.
func clipRate(path string) (float64, error) {
	_, frames, err := clipframes.ReadFile(path)
	if err != nil {
		return 0, err
	}
	if len(frames) < 2 {
		return 0, fmt.Errorf("%s: too short", path)
	}
	var n int
	for _, f := range frames {
		n += len(f.Payload)
	}
	return float64(n) / (frames[len(frames)-1].DTS - frames[0].DTS).Seconds(), nil
}
