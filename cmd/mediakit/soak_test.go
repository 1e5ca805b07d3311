package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/mediakit/mediakit/internal/backoff"
	"github.com/mediakit/mediakit/internal/gbsender"
	"github.com/mediakit/mediakit/internal/testutil"
)

// TestSoak is issue 18's soak: the real binary (built with -race when
// the tests are, or for make soak) under everything at once for
// MEDIAKIT_SOAK_DURATION (45 s in make test; 10 min with MEDIAKIT_SOAK=1,
// make soak): RTMP and RTSP publishers that come and go, three
// publishers (RTMP, RTSP, RTP) colliding on one stream, HTTP-FLV, WS-FLV,
// HTTP-TS, HTTP-fMP4, RTMP, RTSP, HLS and LL-HLS players joining and
// leaving, GB28181 cameras on RTP servers opened, fed, closed or timed
// out and reopened, pull and push proxies and FFmpeg sources added and
// deleted, MP4 and HLS recordings started and stopped, streams closed
// and sessions kicked through the API, the API polled, and every hook
// sent to a slow hook server (200-800 ms, some answers garbage, some
// connections reset). It reports API latency, goroutines, fds and RSS,
// drops and skips, and what happened by kind (t.Log, and JSON to
// $MEDIAKIT_SOAK_REPORT), and fails when a threshold is crossed: no
// panic or data race, goroutines and fds back to the baseline, RSS
// bounded, API p99 bounded, no API failure, no false "already exists",
// timestamps never going back, every recording valid by ffprobe.
//
// The environment: MEDIAKIT_SOAK=1 the long form; MEDIAKIT_SOAK_DURATION
// the run's length (a duration: 5m); MEDIAKIT_SOAK_RACE=0 or 1 the server
// built without or with -race; MEDIAKIT_SOAK_API_P99 (a duration) and
// MEDIAKIT_SOAK_MAX_RSS_MB (MiB) other bounds; MEDIAKIT_SOAK_REPORT a
// file for the JSON report; MEDIAKIT_SOAK_LOG a file for the server's
// whole log; MEDIAKIT_SOAK_KEEP where invalid recordings and goroutine
// dumps of stalled calls are kept (default: mediakit-soak-invalid in the
// system's temporary directory).
func TestSoak(t *testing.T) {
	testutil.RequireFFmpeg(t)
	cfg := soakSettings(t)
	testStart := time.Now()
	bin := soakBinary(t, cfg.race)
	buildTime := time.Since(testStart)

	dataDir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(filepath.Join(dataDir, "media"), 0o755); err != nil {
		t.Fatal(err)
	}
	clip, err := os.ReadFile(testutil.Clip(t, "h264_aac.flv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "media", "clip.flv"), clip, 0o644); err != nil {
		t.Fatal(err)
	}
	hooks := newSlowHooks()
	t.Cleanup(hooks.srv.Close)
	srv := startSoakServer(t, bin, dataDir, writeConfig(t, soakConfigFile(hooks.srv.URL, cfg)))
	if w := srv.warningsMatching("unknown"); len(w) > 0 {
		t.Fatalf("the server does not know settings of the soak's configuration: %v", w)
	}
	s := &soak{cfg: cfg, srv: srv, hooks: hooks, procs: map[*ffproc]struct{}{},
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}}
	t.Cleanup(s.killProcs)
	frames := gbsender.CameraClip(t)

	// Warm up, then the baseline: the server idle after one of each
	// kind of activity, so that what starts lazily and stays is in it.
	s.warmUp(t)
	base, idle := s.waitIdle(t, nil, 30*time.Second)
	if !idle.ok() {
		t.Fatalf("the server did not settle after the warm-up: %s", idle)
	}
	startMetrics := s.mustScrape(t)
	t.Logf("baseline after the warm-up: %d goroutines, %d fds, RSS %.1f MiB", base.Goroutines, base.FDs, mib(base.RSS))

	// The run.
	hooks.slow.Store(true)
	runStart := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.duration)
	defer cancel()
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		s.sample(ctx, runStart)
	}()
	var wg sync.WaitGroup
	clips := map[string]string{"h264_aac": testutil.Clip(t, "h264_aac.flv"), "bframes": testutil.Clip(t, "h264_bframes_aac.flv")}
	on, off, offGrace := [2]time.Duration{3 * time.Second, 10 * time.Second}, [2]time.Duration{300 * time.Millisecond, 4 * time.Second},
		[2]time.Duration{200 * time.Millisecond, time.Second}
	wg.Go(func() { s.publisher(ctx, "rtmp publish live/a", clips["h264_aac"], streamA, false, on, off) })
	wg.Go(func() { s.publisher(ctx, "rtmp publish live/b", clips["bframes"], streamB, false, on, offGrace) })
	wg.Go(func() { s.publisher(ctx, "rtsp publish live/r", clips["h264_aac"], streamR, true, on, off) })
	wg.Go(func() { s.publisher(ctx, "rtmp publish live/x", clips["h264_aac"], streamX, false, on, off) })
	wg.Go(func() { s.publisher(ctx, "rtsp publish live/x", clips["bframes"], streamX, true, on, off) })
	wg.Go(func() { s.rtpCamera(ctx, "live", "x", false, frames) })
	wg.Go(func() { s.rtpCamera(ctx, "rtp", "cam0", true, frames) })
	wg.Go(func() { s.rtpCamera(ctx, "rtp", "cam1", true, frames) })
	for range cfg.players {
		wg.Go(func() { s.goPlayer(ctx) })
	}
	for range max(cfg.players/4, 1) {
		wg.Go(func() { s.hlsPlayer(ctx) })
		wg.Go(func() { s.ffmpegPlayer(ctx, "rtmp") })
		wg.Go(func() { s.ffmpegPlayer(ctx, "rtsp") })
	}
	wg.Go(func() { s.proxies(ctx) })
	wg.Go(func() { s.ffmpegSources(ctx) })
	wg.Go(func() { s.recorder(ctx) })
	wg.Go(func() { s.recorder(ctx) })
	wg.Go(func() { s.chaos(ctx) })
	wg.Go(func() { s.pollPrimary(ctx) })
	wg.Go(func() { s.pollOthers(ctx) })
	<-ctx.Done()
	runTime := time.Since(runStart)
	wg.Wait()
	<-samplerDone
	primary := s.lat.of("getMediaList", "getServerConfig")
	endOfRun := s.mustScrape(t)
	hooks.slow.Store(false)
	stopActors := time.Since(runStart) - runTime

	// Everything stopped: delete what is left, close every stream, and
	// wait for the counts to come back.
	settleStart := time.Now()
	s.sweep(t)
	end, idle := s.waitIdle(t, &base, cfg.settle)
	settleTime := time.Since(settleStart)
	endMetrics := s.mustScrape(t)
	if !idle.ok() {
		s.diagnose(t)
	}

	stopped := srv.stop(t, 20*time.Second)
	recs := checkRecordings(t, dataDir)

	r := s.report(reportInput{
		base: base, end: end, idle: idle, start: startMetrics, endOfRun: endOfRun, endMetrics: endMetrics,
		stopped: stopped, recs: recs, primary: primary, run: runTime, build: buildTime, stopActors: stopActors, settle: settleTime,
	})
	r.TotalSeconds = time.Since(testStart).Seconds()
	t.Log("\n" + r.table())
	if p := os.Getenv("MEDIAKIT_SOAK_REPORT"); p != "" {
		data, _ := json.MarshalIndent(r, "", "  ")
		if err := os.WriteFile(p, append(data, '\n'), 0o644); err != nil {
			t.Errorf("writing the report: %v", err)
		}
	}
	for _, th := range r.Thresholds {
		if !th.Pass {
			t.Errorf("threshold crossed: %s: %s (limit %s)", th.Name, th.Got, th.Limit)
		}
	}
	if t.Failed() {
		t.Logf("server log, last lines:\n%s", strings.Join(srv.lastLines(80), "\n"))
	}
}

// soakConfig is what the environment asks of TestSoak.
type soakConfig struct {
	long     bool          // MEDIAKIT_SOAK set (make soak)
	duration time.Duration // MEDIAKIT_SOAK_DURATION
	race     bool          // the server is built with -race
	players  int           // Go players (HTTP-FLV, WS-FLV, HTTP-TS, HTTP-fMP4) at once

	apiP99         time.Duration // getMediaList and getServerConfig
	maxRSS         uint64        // bytes, at any time
	goroutineSlack int           // over the baseline at the end
	fdSlack        int
	settle         time.Duration // how long the counts may take to come back
	rtpTimeout     time.Duration // rtp_proxy.timeoutSec
}

func soakSettings(t *testing.T) soakConfig {
	c := soakConfig{
		long:     os.Getenv("MEDIAKIT_SOAK") != "",
		duration: 45 * time.Second,
		players:  4,
		// A loaded 2-core machine running the whole of make test beside
		// the short form (and its race-built server) stalls every
		// process for a few hundred ms now and then: p99 270 ms, max
		// 785 ms were seen at a load average of 8 while the median was
		// 8 ms. The short form catches an API that blocks (failure-modes
		// 2 hung it for good) with 500 ms; the long form, run alone by
		// make soak, is held to the 100 ms of issue 18. The report's
		// control row, a no-op HTTP server in the test, shows what the
		// machine alone costs.
		apiP99:         500 * time.Millisecond,
		goroutineSlack: 5,
		fdSlack:        3,
		settle:         30 * time.Second,
		rtpTimeout:     3 * time.Second,
	}
	c.race = testutil.RaceEnabled || c.long
	if v := os.Getenv("MEDIAKIT_SOAK_RACE"); v != "" {
		c.race = v == "1" || v == "true"
	}
	if c.long {
		// 100 ms, race-built server or not: on this 2-core machine the
		// 5-minute form gave p99 25 ms (race-built) and 18 ms (plain)
		// when it had the machine to itself, but 114-134 ms (race-built)
		// while other work kept the load average at 4-13; the control
		// row then shows it (BENCHMARKS.md).
		c.duration, c.players, c.apiP99, c.settle = 10*time.Minute, 8, 100*time.Millisecond, 60*time.Second
	}
	if v := os.Getenv("MEDIAKIT_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("MEDIAKIT_SOAK_DURATION=%q: want a duration such as 45s or 10m", v)
		}
		c.duration = d
	}
	if v := os.Getenv("MEDIAKIT_SOAK_API_P99"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("MEDIAKIT_SOAK_API_P99=%q: %v", v, err)
		}
		c.apiP99 = d
	}
	// The race detector costs 5-10 times the memory.
	c.maxRSS = 300 << 20
	if c.race {
		c.maxRSS = 1 << 30
	}
	if v := os.Getenv("MEDIAKIT_SOAK_MAX_RSS_MB"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("MEDIAKIT_SOAK_MAX_RSS_MB=%q: %v", v, err)
		}
		c.maxRSS = n << 20
	}
	if deadline, ok := t.Deadline(); ok && time.Until(deadline) < c.duration+3*time.Minute {
		t.Fatalf("go test -timeout leaves %v, too little for a soak of %v (give it %v more)", time.Until(deadline).Round(time.Second),
			c.duration, 3*time.Minute)
	}
	return c
}

// soakBinary is the server under test: TestMain's, or one built with
// -race.
func soakBinary(t *testing.T, race bool) string {
	if !race {
		return binary
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "mediakit-race")
	build := exec.Command(goTool, "build", "-race", "-o", out, ".")
	if msg, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -race: %v\n%s", err, msg)
	}
	return out
}

// soakConfigFile: short grace periods, timeouts and windows so that
// everything turns over within seconds, and every hook on the slow
// server.
func soakConfigFile(hookURL string, cfg soakConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, `[general]
maxStreamWaitMS = 3000
streamNoneReaderDelayMS = 3000
flowThreshold = 0

[protocol]
continue_push_ms = 2000
mp4_max_second = 10

[hls]
segDur = 1
viewerSecond = 3

[rtp_proxy]
timeoutSec = %d

[http]
pprof = true

[hook]
enable = true
timeoutSec = 2
retry = 1
retry_delay = 1
alive_interval = 5
`, int(cfg.rtpTimeout/time.Second))
	for _, h := range []string{"on_publish", "on_play", "on_flow_report", "on_stream_changed", "on_stream_none_reader",
		"on_stream_not_found", "on_server_started", "on_server_exited", "on_server_keepalive", "on_rtp_server_timeout",
		"on_send_rtp_stopped", "on_record_mp4", "on_record_ts"} {
		fmt.Fprintf(&b, "%s = %q\n", h, hookURL+"/index/hook/"+h)
	}
	return b.String()
}

// soak is one run's state.
type soak struct {
	cfg    soakConfig
	srv    *soakServer
	hooks  *slowHooks
	client *http.Client

	lat       latencies
	ops, errs tally

	videoFrames, audioFrames, bytesIn, hlsSegments atomic.Int64

	procsMu sync.Mutex
	procs   map[*ffproc]struct{}

	mu           sync.Mutex
	violations   []string // the first ones
	nViolations  int
	backwards    []string // the first frame timestamps that went back
	seqBackwards []string // the first around sequence headers
	slow         []string // the first API calls over a second
	stallDumps   []string // where the goroutines of stalls went
	nSlow        int
	samples      []sample
}

func (s *soak) violation(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nViolations++
	if len(s.violations) < 20 {
		s.violations = append(s.violations, fmt.Sprintf(format, args...))
	}
}

func (s *soak) noteBackwards(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.backwards) < 10 {
		s.backwards = append(s.backwards, what)
	}
}

// waitingCalls answer once something is live or gone: their time is
// not the API's.
var waitingCalls = map[string]bool{"addFFmpegSource": true, "addStreamProxy": true, "addStreamPusherProxy": true,
	"delFFmpegSource": true}

// noteSlow keeps the first calls that took over a second, with their
// time, to be found in the server's log.
func (s *soak) noteSlow(name string, start time.Time) {
	d := time.Since(start)
	if d < time.Second || waitingCalls[name] {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nSlow++
	if len(s.slow) < 30 {
		s.slow = append(s.slow, fmt.Sprintf("%s %s took %v", start.UTC().Format("15:04:05.000"), name, d.Round(time.Millisecond)))
	}
}

// stallAfter is how long an API call runs before the server's
// goroutines are dumped, while it is still stalled.
const stallAfter = 1500 * time.Millisecond

// dumpStall saves the server's goroutines (pprof, which needs no
// engine) while a call is stalled, at most three times a run, into
// $MEDIAKIT_SOAK_KEEP or the system's temporary directory.
func (s *soak) dumpStall(name string, start time.Time) {
	s.mu.Lock()
	if len(s.stallDumps) >= 3 {
		s.mu.Unlock()
		return
	}
	s.stallDumps = append(s.stallDumps, "")
	i := len(s.stallDumps) - 1
	s.mu.Unlock()
	resp, err := s.client.Get("http://" + s.srv.http + "/debug/pprof/goroutine?debug=2")
	what := fmt.Sprintf("%s started %s, stalled for %v: ", name, start.UTC().Format("15:04:05.000"), stallAfter)
	if err == nil {
		var body []byte
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		dir := os.Getenv("MEDIAKIT_SOAK_KEEP")
		if dir == "" {
			dir = filepath.Join(os.TempDir(), "mediakit-soak-invalid")
		}
		path := filepath.Join(dir, fmt.Sprintf("stall-%s-%d.txt", time.Now().Format("20060102T150405"), i))
		if err == nil {
			if err = os.MkdirAll(dir, 0o755); err == nil {
				err = os.WriteFile(path, body, 0o644)
			}
		}
		what += "goroutines in " + path
	}
	if err != nil {
		what += err.Error()
	}
	s.mu.Lock()
	s.stallDumps[i] = what
	s.mu.Unlock()
}

func (s *soak) noteSeqBackwards(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seqBackwards) < 10 {
		s.seqBackwards = append(s.seqBackwards, what)
	}
}

// killProcs kills the ffmpeg children left (a test that failed early).
func (s *soak) killProcs() {
	s.procsMu.Lock()
	procs := make([]*ffproc, 0, len(s.procs))
	for p := range s.procs {
		procs = append(procs, p)
	}
	s.procsMu.Unlock()
	for _, p := range procs {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// warmUp does one of each kind of thing, quickly, with the hooks fast.
func (s *soak) warmUp(t *testing.T) {
	pub := testutil.PublishClip(t, "h264_aac.flv", "rtmp://"+s.srv.rtmp+"/live/warm", true)
	waitOnline(t, s.srv.http, "warm", pub)
	ctx := t.Context()
	rec := streamParams("live/warm", "type", "1")
	if r, err := s.api(ctx, "startRecord", rec); err != nil || code(r) != 0 {
		t.Fatalf("warm-up startRecord: %v %v", r, err)
	}
	var flv, hls string
	var wg sync.WaitGroup
	wg.Go(func() { flv = s.playHTTP(ctx, "flv", "live/warm", 2*time.Second) })
	wg.Go(func() { hls = s.playHLS(ctx, "http://"+s.srv.http+"/live/warm/hls.m3u8", 3*time.Second) })
	r, err := s.api(ctx, "openRtpServer", url.Values{"stream_id": {"warm"}, "port": {"0"}})
	if err != nil || code(r) != 0 {
		t.Fatalf("warm-up openRtpServer: %v %v", r, err)
	}
	wg.Wait()
	if flv != "left" || hls != "played" {
		t.Fatalf("warm-up: HTTP-FLV player %q, HLS player %q", flv, hls)
	}
	for _, c := range []struct {
		name   string
		params url.Values
	}{{"closeRtpServer", url.Values{"stream_id": {"warm"}}}, {"stopRecord", rec}} {
		if r, err := s.api(ctx, c.name, c.params); err != nil || code(r) != 0 {
			t.Fatalf("warm-up %s: %v %v", c.name, r, err)
		}
	}
	pub.Stop()
	// What the warm-up counted is not the run's.
	s.lat = latencies{}
	s.ops, s.errs = tally{}, tally{}
	s.videoFrames.Store(0)
	s.audioFrames.Store(0)
	s.bytesIn.Store(0)
	s.hlsSegments.Store(0)
}

// promText is a /metrics scrape: value by sample name with labels.
type promText map[string]float64

// sum adds the samples of name, whatever their labels.
func (m promText) sum(name string) float64 {
	var v float64
	for k, x := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			v += x
		}
	}
	return v
}

func (s *soak) scrape(ctx context.Context) (promText, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.srv.http+"/metrics", nil)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: HTTP %d", resp.StatusCode)
	}
	m := promText{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m, sc.Err()
}

func (s *soak) mustScrape(t *testing.T) promText {
	t.Helper()
	m, err := s.scrape(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sample is the server's process figures at one time.
type sample struct {
	AtSeconds  float64 `json:"at_seconds"`
	Goroutines int     `json:"goroutines"`
	FDs        int     `json:"fds"`
	RSS        uint64  `json:"rss_bytes"`
	Streams    int     `json:"streams"`
	Readers    int     `json:"readers"`
}

func sampleOf(m promText) sample {
	return sample{Goroutines: int(m["go_goroutines"]), FDs: int(m["process_open_fds"]), RSS: uint64(m["process_resident_memory_bytes"]),
		Streams: int(m["mediakit_streams"]), Readers: int(m["mediakit_readers"])}
}

// sample scrapes /metrics every second of the run.
func (s *soak) sample(ctx context.Context, start time.Time) {
	for backoff.Sleep(ctx, time.Second) {
		m, err := s.scrape(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.violation("/metrics: %v", err)
			}
			continue
		}
		x := sampleOf(m)
		x.AtSeconds = time.Since(start).Seconds()
		s.mu.Lock()
		s.samples = append(s.samples, x)
		s.mu.Unlock()
	}
}

// sweep deletes what the actors left and closes every stream, as an
// operator would.
func (s *soak) sweep(t *testing.T) {
	ctx := t.Context()
	list := func(name, field string) []string {
		r, err := s.api(ctx, name, nil)
		if err != nil {
			return nil
		}
		var out []string
		items, _ := r["data"].([]any)
		for _, it := range items {
			m, _ := it.(map[string]any)
			out = append(out, fmt.Sprint(m[field]))
		}
		return out
	}
	left := 0
	for _, k := range list("listStreamProxy", "key") {
		left++
		s.api(ctx, "delStreamProxy", url.Values{"key": {k}})
	}
	for _, k := range list("listStreamPusherProxy", "key") {
		left++
		s.api(ctx, "delStreamPusherProxy", url.Values{"key": {k}})
	}
	for _, k := range list("listFFmpegSource", "key") {
		left++
		s.api(ctx, "delFFmpegSource", url.Values{"key": {k}})
	}
	r, _ := s.api(ctx, "listRtpServer", nil)
	items, _ := r["data"].([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		left++
		s.api(ctx, "closeRtpServer", url.Values{"vhost": {fmt.Sprint(m["vhost"])}, "app": {fmt.Sprint(m["app"])},
			"stream_id": {fmt.Sprint(m["stream_id"])}})
	}
	if left > 0 {
		s.errs.add(fmt.Sprintf("sweep: %d proxies, sources or RTP servers left by the actors", left))
	}
	r, _ = s.api(ctx, "close_streams", url.Values{"force": {"1"}})
	if n, _ := r["count_hit"].(float64); n > 0 {
		s.ops.add(fmt.Sprintf("sweep: close_streams hit %d", int(n)))
	}
}

// idleState says what is still busy.
type idleState []string

func (i idleState) ok() bool       { return len(i) == 0 }
func (i idleState) String() string { return strings.Join(i, "; ") }

// waitIdle polls until no stream, reader, RTP server, proxy, source or
// hook request is left and, with a baseline, goroutines and fds are back
// within the slack (without one: until they hold still), or until
// within. It returns the last sample and what was still busy.
func (s *soak) waitIdle(t *testing.T, base *sample, within time.Duration) (sample, idleState) {
	deadline := time.Now().Add(within)
	var prev *sample
	for {
		var busy idleState
		m, err := s.scrape(t.Context())
		if err != nil {
			t.Fatalf("/metrics: %v", err)
		}
		x := sampleOf(m)
		for _, g := range []string{"mediakit_streams", "mediakit_readers", "mediakit_readers_waiting", "mediakit_rtp_servers",
			"mediakit_rtp_streams", "mediakit_rtp_senders", "mediakit_proxies", "mediakit_pushers", "mediakit_rtmp_sessions",
			"mediakit_flv_sessions", "mediakit_ts_sessions", "mediakit_fmp4_sessions"} {
			if v := m.sum(g); v != 0 {
				busy = append(busy, fmt.Sprintf("%s %v", g, v))
			}
		}
		for _, st := range []string{"starting", "running", "backoff"} {
			if v := m[`mediakit_ffmpeg_sources{state="`+st+`"}`]; v != 0 {
				busy = append(busy, fmt.Sprintf("ffmpeg sources %s %v", st, v))
			}
		}
		if r, err := s.api(t.Context(), "getMediaList", nil); err == nil && r["data"] != nil {
			busy = append(busy, fmt.Sprintf("getMediaList %d items", len(r["data"].([]any))))
		}
		if n := s.hooks.inflight.Load(); n != 0 {
			busy = append(busy, fmt.Sprintf("%d hook requests in flight", n))
		} else {
			// The server's idle connections to the hook server are its
			// HTTP client's pool, not a leak: let them go.
			s.hooks.srv.CloseClientConnections()
		}
		switch {
		case base != nil:
			if x.Goroutines > base.Goroutines+s.cfg.goroutineSlack {
				busy = append(busy, fmt.Sprintf("%d goroutines (baseline %d)", x.Goroutines, base.Goroutines))
			}
			if x.FDs > base.FDs+s.cfg.fdSlack {
				busy = append(busy, fmt.Sprintf("%d fds (baseline %d)", x.FDs, base.FDs))
			}
		case prev == nil || prev.Goroutines != x.Goroutines || prev.FDs != x.FDs:
			busy = append(busy, "goroutines and fds not yet still")
		}
		if busy.ok() || time.Now().After(deadline) {
			return x, busy
		}
		prev = &x
		time.Sleep(500 * time.Millisecond) // between scrapes of a poll with a deadline
	}
}

// diagnose logs where the goroutines are and what the fds are.
func (s *soak) diagnose(t *testing.T) {
	resp, err := s.client.Get("http://" + s.srv.http + "/debug/pprof/goroutine?debug=1")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if len(body) > 20000 {
			body = append(body[:20000], "\n..."...)
		}
		t.Logf("server goroutines:\n%s", body)
	}
	dir := fmt.Sprintf("/proc/%d/fd", s.srv.cmd.Process.Pid)
	if entries, err := os.ReadDir(dir); err == nil {
		var fds []string
		for _, e := range entries {
			if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil {
				fds = append(fds, e.Name()+" -> "+target)
			}
		}
		t.Logf("server fds:\n%s", strings.Join(fds, "\n"))
	}
}

// soakServer is `mediakit serve` whose stderr is read all along (a
// server whose stderr nobody reads blocks once the pipe is full) and
// scanned for panics and data races.
type soakServer struct {
	cmd              *exec.Cmd
	http, rtmp, rtsp string
	stdout           testutil.SyncBuffer
	exited           chan struct{}
	waitErr          error

	mu       sync.Mutex
	tail     []string       // the last lines
	bad      []string       // panics, fatal errors, data races, with what follows
	badLeft  int            // lines after a bad one still to keep
	races    int            // "WARNING: DATA RACE"
	panics   int            // "panic" or "fatal error"
	levels   map[string]int // lines by level
	warnings map[string]int // WARN and ERROR lines by message
}

var (
	logLevel = regexp.MustCompile(`\blevel=(\w+)`)
	logMsg   = regexp.MustCompile(`\bmsg=(?:"((?:[^"\\]|\\.)*)"|(\S+))`)
)

func startSoakServer(t *testing.T, bin, dataDir, config string) *soakServer {
	t.Helper()
	s := &soakServer{exited: make(chan struct{}), levels: map[string]int{}, warnings: map[string]int{}}
	s.cmd = exec.Command(bin, "serve", "--rtmp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--rtp-addr", "127.0.0.1:0",
		"--rtsp-addr", "127.0.0.1:0", "--rtsp-rtp-addr", "127.0.0.1:0", "--rtsp-rtcp-addr", "127.0.0.1:0",
		"--data-dir", dataDir, "--config", config)
	s.cmd.Env = environ()
	s.cmd.Stdout = &s.stdout
	pipe, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logFile io.Writer = io.Discard
	if p := os.Getenv("MEDIAKIT_SOAK_LOG"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		logFile = f
	}
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if m := readyLine.FindStringSubmatch(line); m != nil {
				select {
				case ready <- m:
				default:
				}
			}
			s.scan(line)
			fmt.Fprintln(logFile, line)
		}
		s.waitErr = s.cmd.Wait() // after the last read, as os/exec asks
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
	select {
	case m := <-ready:
		s.rtmp, s.http, s.rtsp = m[1], m[2], m[3]
	case <-s.exited:
		t.Fatalf("mediakit serve exited before ready (%v):\n%s", s.waitErr, strings.Join(s.lastLines(50), "\n"))
	case <-time.After(30 * time.Second):
		t.Fatalf("mediakit serve not ready within 30 s:\n%s", strings.Join(s.lastLines(50), "\n"))
	}
	return s
}

func (s *soakServer) scan(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tail = append(s.tail, line)
	if len(s.tail) > 400 {
		s.tail = append(s.tail[:0], s.tail[200:]...)
	}
	bad := false
	if strings.Contains(line, "WARNING: DATA RACE") {
		s.races++
		bad = true
	} else if strings.Contains(line, "panic") || strings.Contains(line, "fatal error") {
		s.panics++
		bad = true
	}
	if bad {
		s.badLeft = 60
	}
	if s.badLeft > 0 && len(s.bad) < 600 {
		s.bad = append(s.bad, line)
		s.badLeft--
	}
	if m := logLevel.FindStringSubmatch(line); m != nil {
		s.levels[m[1]]++
		if m[1] == "WARN" || m[1] == "ERROR" {
			text := "?"
			if mm := logMsg.FindStringSubmatch(line); mm != nil {
				text = mm[1] + mm[2]
			}
			s.warnings[m[1]+" "+text]++
		}
	}
}

func (s *soakServer) lastLines(n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tail[max(len(s.tail)-n, 0):]...)
}

func (s *soakServer) warningsMatching(sub string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for w := range s.warnings {
		if strings.Contains(strings.ToLower(w), sub) {
			out = append(out, w)
		}
	}
	return out
}

// stopResult is how the server ended.
type stopResult struct {
	ExitCode int    `json:"exit_code"`
	Error    string `json:"error,omitempty"`
}

// stop sends SIGTERM and waits for the exit.
func (s *soakServer) stop(t *testing.T, within time.Duration) stopResult {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return stopResult{ExitCode: -1, Error: err.Error()}
	}
	select {
	case <-s.exited:
	case <-time.After(within):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return stopResult{ExitCode: -1, Error: fmt.Sprintf("still running %v after SIGTERM, killed", within)}
	}
	r := stopResult{ExitCode: s.cmd.ProcessState.ExitCode()}
	if s.waitErr != nil {
		r.Error = s.waitErr.Error()
	}
	if out := s.stdout.String(); out != "" {
		r.Error += fmt.Sprintf("; wrote to stdout: %.200q", out)
	}
	return r
}

// recordings is what checkRecordings found.
type recordings struct {
	MP4       int      `json:"mp4_files"`
	HLS       int      `json:"hls_playlists"`
	Frames    int      `json:"video_frames"`
	Invalid   []string `json:"invalid,omitempty"`
	Seconds   float64  `json:"probe_seconds"`
	Unchecked []string `json:"other_files,omitempty"`
	Kept      []string `json:"kept,omitempty"` // copies of the invalid ones
}

// keepRecording copies an invalid recording (an HLS one: its directory)
// out of the test's temporary directory, for a look after the test, into
// $MEDIAKIT_SOAK_KEEP or the system's temporary directory.
func keepRecording(root, f string) string {
	dir := os.Getenv("MEDIAKIT_SOAK_KEEP")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "mediakit-soak-invalid")
	}
	rel, err := filepath.Rel(root, f)
	if err != nil {
		return ""
	}
	dst := filepath.Join(dir, time.Now().Format("20060102T150405"), rel)
	if filepath.Base(f) == "hls.m3u8" { // the whole recording
		dst = filepath.Dir(dst)
		if os.CopyFS(dst, os.DirFS(filepath.Dir(f))) != nil {
			return ""
		}
		return dst
	}
	data, err := os.ReadFile(f)
	if err != nil || os.MkdirAll(filepath.Dir(dst), 0o755) != nil || os.WriteFile(dst, data, 0o644) != nil {
		return ""
	}
	return dst
}

// checkRecordings judges every MP4 file and HLS recording under the data
// dir's record root by ffprobe: it must read video frames from each,
// without an error; an MP4 must be finished (its moov at the end, no
// fragments left), an HLS playlist ended.
func checkRecordings(t *testing.T, dataDir string) recordings {
	start := time.Now()
	var rec recordings
	var files []string
	root := filepath.Join(dataDir, "record")
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		switch {
		case strings.HasSuffix(p, ".mp4"):
			rec.MP4++
			files = append(files, p)
		case filepath.Base(p) == "hls.m3u8":
			rec.HLS++
			files = append(files, p)
		case strings.HasSuffix(p, ".ts"):
		default:
			rec.Unchecked = append(rec.Unchecked, strings.TrimPrefix(p, root))
		}
		return nil
	})
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for _, f := range files {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			frames, problem := probeRecording(f)
			mu.Lock()
			defer mu.Unlock()
			rec.Frames += frames
			if problem != "" {
				rec.Invalid = append(rec.Invalid, strings.TrimPrefix(f, root)+": "+problem)
				if kept := keepRecording(root, f); kept != "" {
					rec.Kept = append(rec.Kept, kept)
				}
			}
		})
	}
	wg.Wait()
	sort.Strings(rec.Invalid)
	rec.Seconds = time.Since(start).Seconds()
	return rec
}

// probeRecording returns the video frames ffprobe reads from f, and what
// is wrong with it ("" when nothing).
func probeRecording(f string) (int, string) {
	frames, problem, crashed := ffprobeFrames(f)
	if crashed && filepath.Base(f) == "hls.m3u8" {
		// ffprobe 5.1 -count_frames crashes (SIGSEGV) on a playlist where
		// a track appears after the first segment (a publisher with audio
		// returning within the grace period to a stream that had none:
		// an EXT-X-DISCONTINUITY, which RFC 8216 lets change the tracks;
		// ffmpeg itself reads it). Then each segment is judged alone.
		frames, problem = probeSegments(f)
	}
	if problem != "" {
		return frames, problem
	}
	if strings.HasSuffix(f, ".mp4") {
		if problem := mp4Finished(f); problem != "" {
			return frames, problem
		}
	} else {
		data, err := os.ReadFile(f)
		if err != nil || !strings.HasSuffix(strings.TrimRight(string(data), "\n"), "#EXT-X-ENDLIST") {
			return frames, "playlist without #EXT-X-ENDLIST"
		}
	}
	return frames, ""
}

// probeSegments judges each segment of an HLS playlist with ffprobe.
func probeSegments(playlist string) (int, string) {
	data, err := os.ReadFile(playlist)
	if err != nil {
		return 0, err.Error()
	}
	total := 0
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		frames, problem, _ := ffprobeFrames(filepath.Join(filepath.Dir(playlist), line))
		if problem != "" {
			return total, line + ": " + problem
		}
		total += frames
	}
	return total, ""
}

// ffprobeFrames counts the video frames ffprobe decodes from f, and says
// what is wrong: ffprobe failed, printed an error, or found no video
// frame. crashed: ffprobe died of a signal.
func ffprobeFrames(f string) (frames int, problem string, crashed bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v", "-show_entries",
		"stream=codec_name,nb_read_frames", "-of", "json", f)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
		return 0, fmt.Sprintf("ffprobe: %v: %s", err, firstLine(stderr.String())), ok && ws.Signaled() && ctx.Err() == nil
	}
	var out struct {
		Streams []struct {
			CodecName    string `json:"codec_name"`
			NbReadFrames string `json:"nb_read_frames"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return 0, "ffprobe output: " + err.Error(), false
	}
	if len(out.Streams) > 0 {
		frames, _ = strconv.Atoi(out.Streams[0].NbReadFrames)
	}
	switch {
	case frames == 0:
		return 0, "no video frames", false
	case stderr.Len() > 0:
		return frames, "ffprobe: " + firstLine(stderr.String()), false
	}
	return frames, "", false
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// mp4Finished checks the top-level boxes: ftyp first, moov last, no
// moof (a finished file, not a fragmented one still being written).
func mp4Finished(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var types []string
	for off := uint64(0); off < uint64(len(data)); {
		rest := uint64(len(data)) - off
		if rest < 8 {
			return fmt.Sprintf("%d stray bytes at the end", rest)
		}
		size := uint64(data[off])<<24 | uint64(data[off+1])<<16 | uint64(data[off+2])<<8 | uint64(data[off+3])
		typ := string(data[off+4 : off+8])
		switch size {
		case 0:
			size = rest
		case 1:
			if rest < 16 {
				return "a cut largesize box"
			}
			size = 0
			for _, b := range data[off+8 : off+16] {
				size = size<<8 | uint64(b)
			}
		}
		if size < 8 || size > rest {
			return fmt.Sprintf("box %q at %d of %d bytes, %d left", typ, off, size, rest)
		}
		types = append(types, typ)
		off += size
	}
	switch {
	case len(types) == 0 || types[0] != "ftyp":
		return fmt.Sprintf("boxes %v do not start with ftyp", types)
	case types[len(types)-1] != "moov":
		return fmt.Sprintf("boxes %v do not end with moov: not finished", types)
	}
	for _, typ := range types {
		if typ == "moof" {
			return "fragments (moof) in a finished file"
		}
	}
	return ""
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// reportInput is what TestSoak measured besides the soak's own state.
type reportInput struct {
	base, end                      sample
	idle                           idleState
	start, endOfRun, endMetrics    promText
	stopped                        stopResult
	recs                           recordings
	primary                        []time.Duration // getMediaList and getServerConfig during the run
	run, build, stopActors, settle time.Duration
}

type latencyRow struct {
	Name  string  `json:"name"`
	N     int     `json:"n"`
	P50ms float64 `json:"p50_ms"`
	P99ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

func latencyOf(name string, d []time.Duration) latencyRow {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	r := latencyRow{Name: name, N: len(d)}
	if len(d) > 0 {
		r.P50ms, r.P99ms, r.MaxMs = ms(quantile(d, 0.5)), ms(quantile(d, 0.99)), ms(d[len(d)-1])
	}
	return r
}

type threshold struct {
	Name  string `json:"name"`
	Limit string `json:"limit"`
	Got   string `json:"got"`
	Pass  bool   `json:"pass"`
}

// soakReport is the run's summary: the table in the log, the JSON in
// $MEDIAKIT_SOAK_REPORT.
type soakReport struct {
	DurationSeconds   float64            `json:"duration_seconds"`
	Long              bool               `json:"long"`
	RaceServer        bool               `json:"race_server"`
	TotalSeconds      float64            `json:"total_seconds"`
	BuildSeconds      float64            `json:"build_seconds"`
	StopActorsSeconds float64            `json:"stop_actors_seconds"`
	SettleSeconds     float64            `json:"settle_seconds"`
	Baseline          sample             `json:"baseline"`
	Peak              sample             `json:"peak"`
	EndOfRun          sample             `json:"end_of_run"`
	End               sample             `json:"end"`
	NotIdle           string             `json:"not_idle,omitempty"`
	Primary           latencyRow         `json:"api_primary"`
	API               []latencyRow       `json:"api"`
	Counters          map[string]float64 `json:"counters"`
	PlayerVideo       int64              `json:"player_video_frames"`
	PlayerAudio       int64              `json:"player_audio_frames"`
	PlayerBytes       int64              `json:"player_bytes"`
	HLSSegments       int64              `json:"hls_segments"`
	Hooks             map[string]int     `json:"hook_requests"`
	HookAnswers       map[string]int     `json:"hook_answers"`
	Ops               map[string]int     `json:"ops"`
	Errors            map[string]int     `json:"errors"`
	ViolationCount    int                `json:"violation_count"`
	Violations        []string           `json:"violations,omitempty"`
	Backwards         []string           `json:"timestamps_back,omitempty"`
	SeqBackwards      []string           `json:"sequence_header_timestamps_back,omitempty"`
	Control           latencyRow         `json:"api_control"`
	SlowCount         int                `json:"slow_calls_count"`
	Slow              []string           `json:"slow_calls,omitempty"`
	StallDumps        []string           `json:"stall_dumps,omitempty"`
	LogLevels         map[string]int     `json:"log_levels"`
	LogWarnings       map[string]int     `json:"log_warnings"`
	BadLog            []string           `json:"bad_log,omitempty"`
	Stopped           stopResult         `json:"stopped"`
	Recordings        recordings         `json:"recordings"`
	Thresholds        []threshold        `json:"thresholds"`
	Samples           []sample           `json:"samples"`
}

// counterNames are the server's counters reported as their increase
// over the run (and the settling after it).
var counterNames = []string{
	"mediakit_frames_in_total", "mediakit_frames_skipped_total", "mediakit_readers_dropped_total", "mediakit_hook_events_dropped",
	"mediakit_tracks_dropped_total", "mediakit_rtp_packets_total", "mediakit_rtp_lost_total", "mediakit_rtp_reordered_total",
	"mediakit_publishers_refused_total", "mediakit_publishers_replaced_total", "mediakit_publisher_returns_total",
	"mediakit_readers_not_found_total", "mediakit_readers_refused_total", "mediakit_streams_refused_total",
	"mediakit_record_failures_total", "mediakit_proxy_restarts_total", "mediakit_ffmpeg_restarts_total",
	"mediakit_conns_refused_total", "mediakit_bytes_in_total", "mediakit_bytes_out_total",
}

func (s *soak) report(in reportInput) *soakReport {
	cfg := s.cfg
	r := &soakReport{
		DurationSeconds: in.run.Seconds(), Long: cfg.long, RaceServer: cfg.race, BuildSeconds: in.build.Seconds(),
		StopActorsSeconds: in.stopActors.Seconds(), SettleSeconds: in.settle.Seconds(),
		Baseline: in.base, EndOfRun: sampleOf(in.endOfRun), End: in.end, NotIdle: in.idle.String(),
		Counters: map[string]float64{}, Hooks: s.hooks.requests.snapshot(), HookAnswers: s.hooks.answers.snapshot(),
		Ops: s.ops.snapshot(), Errors: s.errs.snapshot(), Stopped: in.stopped, Recordings: in.recs,
		PlayerVideo: s.videoFrames.Load(), PlayerAudio: s.audioFrames.Load(), PlayerBytes: s.bytesIn.Load(),
		HLSSegments: s.hlsSegments.Load(),
	}
	for _, c := range counterNames {
		r.Counters[c] = in.endMetrics.sum(c) - in.start.sum(c)
	}
	for k, v := range in.endMetrics {
		if rest, ok := strings.CutPrefix(k, "mediakit_hook_requests_total{"); ok {
			if _, after, ok := strings.Cut(rest, `result="`); ok {
				res, _, _ := strings.Cut(after, `"`)
				r.Counters["mediakit_hook_requests_total{result="+res+"}"] += v - in.start[k]
			}
		}
	}
	s.mu.Lock()
	r.Samples = append([]sample(nil), s.samples...)
	r.ViolationCount, r.Violations = s.nViolations, append([]string(nil), s.violations...)
	r.Backwards = append([]string(nil), s.backwards...)
	r.SeqBackwards = append([]string(nil), s.seqBackwards...)
	r.SlowCount, r.Slow = s.nSlow, append([]string(nil), s.slow...)
	r.StallDumps = append([]string(nil), s.stallDumps...)
	s.mu.Unlock()
	r.Peak = in.base
	for _, x := range append(r.Samples, r.EndOfRun, in.end) {
		r.Peak.Goroutines, r.Peak.FDs = max(r.Peak.Goroutines, x.Goroutines), max(r.Peak.FDs, x.FDs)
		r.Peak.RSS, r.Peak.Streams, r.Peak.Readers = max(r.Peak.RSS, x.RSS), max(r.Peak.Streams, x.Streams), max(r.Peak.Readers, x.Readers)
	}
	r.Primary = latencyOf("getMediaList+getServerConfig", in.primary)
	r.Control = latencyOf(controlName, s.lat.of(controlName))
	for _, n := range s.lat.names() {
		if n == controlName {
			continue
		}
		r.API = append(r.API, latencyOf(n, s.lat.of(n)))
	}
	srv := s.srv
	srv.mu.Lock()
	r.LogLevels, r.LogWarnings = srv.levels, srv.warnings
	r.BadLog = append([]string(nil), srv.bad...)
	races, panics := srv.races, srv.panics
	srv.mu.Unlock()

	add := func(name, limit, got string, pass bool) {
		r.Thresholds = append(r.Thresholds, threshold{Name: name, Limit: limit, Got: got, Pass: pass})
	}
	add("no panic, fatal error or data race in the server's log", "0", fmt.Sprintf("%d data races, %d panic lines", races, panics),
		races == 0 && panics == 0)
	add("the server exits 0 on SIGTERM", "exit 0", fmt.Sprintf("exit %d %s", in.stopped.ExitCode, in.stopped.Error),
		in.stopped.ExitCode == 0 && in.stopped.Error == "")
	add("streams, readers, RTP servers, proxies, sources and hook requests all gone after the run", "none left",
		cmp(in.idle.ok(), "none", in.idle.String()), in.idle.ok() ||
			// counts only: these have their own rows
			onlyCounts(in.idle))
	add("goroutines back to the baseline", fmt.Sprintf("baseline %d + %d", in.base.Goroutines, cfg.goroutineSlack),
		fmt.Sprint(in.end.Goroutines), in.end.Goroutines <= in.base.Goroutines+cfg.goroutineSlack)
	add("fds back to the baseline", fmt.Sprintf("baseline %d + %d", in.base.FDs, cfg.fdSlack),
		fmt.Sprint(in.end.FDs), in.end.FDs <= in.base.FDs+cfg.fdSlack)
	add("RSS bounded", fmt.Sprintf("%.0f MiB", mib(cfg.maxRSS)), fmt.Sprintf("peak %.1f MiB", mib(r.Peak.RSS)), r.Peak.RSS <= cfg.maxRSS)
	if in.run >= 5*time.Minute && len(r.Samples) > 8 {
		quarter := r.Samples[len(r.Samples)/4].RSS
		limit := quarter + quarter/2 + 64<<20
		add("RSS flat in the last three quarters of the run", fmt.Sprintf("%.1f MiB (1.5 x at a quarter + 64 MiB)", mib(limit)),
			fmt.Sprintf("%.1f MiB at the end of the run", mib(r.EndOfRun.RSS)), r.EndOfRun.RSS <= limit)
	}
	add("API p99 (getMediaList, getServerConfig)", cfg.apiP99.String(),
		fmt.Sprintf("%.1f ms over %d calls", r.Primary.P99ms, r.Primary.N),
		r.Primary.N >= 50 && time.Duration(r.Primary.P99ms*float64(time.Millisecond)) < cfg.apiP99)
	add("no API failure, false \"already exists\", stuck RTP server or bad stream start", "0",
		fmt.Sprintf("%d %v", r.ViolationCount, r.Violations), r.ViolationCount == 0)
	back := r.Errors["play flv: a frame timestamp went back"]
	add("FLV players' frame timestamps never go back (each track)", "0", fmt.Sprintf("%d %v", back, r.Backwards), back == 0)
	add("every recording valid by ffprobe, MP4s finished, HLS ended", "all valid, at least one",
		fmt.Sprintf("%d MP4, %d HLS, %d invalid %v", in.recs.MP4, in.recs.HLS, len(in.recs.Invalid), in.recs.Invalid),
		in.recs.MP4+in.recs.HLS > 0 && len(in.recs.Invalid) == 0)
	var missing []string
	for _, want := range []string{"rtmp publish live/a: published", "rtsp publish live/r: published", "rtp rtp/cam0: fed",
		"timed out", "play rtmp", "play rtsp", "addStreamProxy", "addStreamPusherProxy", "addFFmpegSource", "startRecord mp4",
		"startRecord hls"} {
		n := 0
		for k, v := range r.Ops {
			if strings.Contains(k, want) {
				n += v
			}
		}
		if n == 0 {
			missing = append(missing, want)
		}
	}
	if r.PlayerVideo == 0 {
		missing = append(missing, "video frames at players")
	}
	if r.HLSSegments == 0 {
		missing = append(missing, "HLS segments")
	}
	add("the scenario ran: each kind of actor succeeded at least once", "nothing missing", fmt.Sprint(missing), len(missing) == 0)
	return r
}

func cmp(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}

// onlyCounts reports whether what was still busy is only goroutines
// or fds, which have rows of their own.
func onlyCounts(i idleState) bool {
	for _, b := range i {
		if !strings.Contains(b, "goroutines") && !strings.Contains(b, "fds") {
			return false
		}
	}
	return true
}

// table is the report for the test log.
func (r *soakReport) table() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	server := "plain"
	if r.RaceServer {
		server = "-race"
	}
	fmt.Fprintf(w, "mediakit soak: %.0f s run (%s server), %.0f s in all (build %.0f s, actors stopped in %.1f s, settled in %.1f s)\n",
		r.DurationSeconds, server, r.TotalSeconds, r.BuildSeconds, r.StopActorsSeconds, r.SettleSeconds)
	fmt.Fprintln(w, "\tgoroutines\tfds\tRSS MiB\tstreams\treaders")
	for _, row := range []struct {
		name string
		x    sample
	}{{"baseline", r.Baseline}, {"peak", r.Peak}, {"end of run", r.EndOfRun}, {"end", r.End}} {
		fmt.Fprintf(w, "%s\t%d\t%d\t%.1f\t%d\t%d\n", row.name, row.x.Goroutines, row.x.FDs, mib(row.x.RSS), row.x.Streams, row.x.Readers)
	}
	fmt.Fprintln(w, "\nAPI\tcalls\tp50 ms\tp99 ms\tmax ms")
	for _, l := range append([]latencyRow{r.Primary, r.Control}, r.API...) {
		fmt.Fprintf(w, "%s\t%d\t%.1f\t%.1f\t%.1f\n", l.Name, l.N, l.P50ms, l.P99ms, l.MaxMs)
	}
	if r.SlowCount > 0 {
		fmt.Fprintf(w, "\nAPI calls over 1 s (UTC; not those that wait for a stream)\t%d\n", r.SlowCount)
		for _, c := range r.Slow {
			fmt.Fprintf(w, "\t%s\n", c)
		}
		for _, d := range r.StallDumps {
			fmt.Fprintf(w, "\tdump: %s\n", d)
		}
	}
	fmt.Fprintf(w, "\nplayers (Go clients)\tvideo frames %d\taudio frames %d\tbytes %d\tHLS segments %d\n",
		r.PlayerVideo, r.PlayerAudio, r.PlayerBytes, r.HLSSegments)
	fmt.Fprintln(w, "\nserver counter\tincrease")
	for _, k := range sortedKeys(r.Counters) {
		fmt.Fprintf(w, "%s\t%.0f\n", k, r.Counters[k])
	}
	writeCounts(w, "hook requests", r.Hooks)
	writeCounts(w, "hook answers", r.HookAnswers)
	writeCounts(w, "done", r.Ops)
	writeCounts(w, "errors by kind", r.Errors)
	writeCounts(w, "server log lines by level", r.LogLevels)
	writeCounts(w, "server WARN/ERROR lines by message", r.LogWarnings)
	fmt.Fprintf(w, "\nrecordings\t%d MP4 files, %d HLS playlists, %d video frames, probed in %.1f s\n",
		r.Recordings.MP4, r.Recordings.HLS, r.Recordings.Frames, r.Recordings.Seconds)
	for _, v := range r.SeqBackwards {
		fmt.Fprintf(w, "sequence header timestamp\t%s\n", v)
	}
	for _, v := range r.Recordings.Invalid {
		fmt.Fprintf(w, "\tinvalid: %s\n", v)
	}
	for _, v := range r.Recordings.Kept {
		fmt.Fprintf(w, "\tkept in %s\n", v)
	}
	fmt.Fprintln(w, "\nthreshold\tlimit\tgot\t")
	for _, th := range r.Thresholds {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", th.Name, th.Limit, th.Got, cmp(th.Pass, "PASS", "FAIL"))
	}
	w.Flush()
	if len(r.BadLog) > 0 {
		b.WriteString("\nserver log around panics and data races:\n" + strings.Join(r.BadLog, "\n") + "\n")
	}
	return b.String()
}

func writeCounts(w io.Writer, title string, m map[string]int) {
	fmt.Fprintf(w, "\n%s\tcount\n", title)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	for _, k := range keys {
		fmt.Fprintf(w, "%s\t%d\n", k, m[k])
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
