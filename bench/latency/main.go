// Command latency measures glass-to-glass latency in headless Chromium:
// a timestamp drawn into the publisher's frames, read back from the frames
// the player page (/APP/STREAM/, pkg/player) presents over WebRTC (WHEP),
// LL-HLS (hls.js) and HTTP-FLV (mpegts.js). test/browser/latency.mjs
// drives the browser; this command starts mediakit (a child process, its
// [webrtc] on a loopback port), a stream per run, and writes one JSON line
// per player mode. See bench/latency.sh.
//
// Sources: whip, the browser publishes a canvas with the page's own WHIP
// code (?publish=1), so the figure includes the browser's encoder and
// WHIP ingest; rtmp, this command draws the same code into raw frames
// and pipes them to ffmpeg (libx264, zerolatency, no B-frames), which
// publishes over RTMP, at a regular 30 fps.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mediakit/mediakit/bench/internal/benchio"
)

type options struct {
	mediakit, node, browserDir, chromium string
	source, modes, playerConfig          string
	mergeWrite, out, label, commit, raw  string
	warmup, duration                     time.Duration
	round                                int
	concurrent                           bool
}

type percentiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
}

// modeResult is one mode of latency.mjs's output.
type modeResult struct {
	Page           string         `json:"page"`
	Samples        int            `json:"samples"`
	P50            float64        `json:"p50"`
	P95            float64        `json:"p95"`
	Min            float64        `json:"min"`
	Max            float64        `json:"max"`
	Mean           float64        `json:"mean"`
	DecodeFailures int            `json:"decodeFailures"`
	WindowComplete bool           `json:"windowComplete"`
	FirstFrameMS   *float64       `json:"firstFrameMs"`
	PageEstimateMS *float64       `json:"pageEstimateMs"`
	Video          string         `json:"video"`
	Callbacks      int            `json:"callbacks"`
	PresentedCount int            `json:"presentedFrames"`
	JitterBufferMS *float64       `json:"jitterBufferMs"`
	DecodeMS       *float64       `json:"decodeMsPerFrame"`
	Playlist       string         `json:"playlist"`
	HLS            map[string]any `json:"hls"`
	Receive        *percentiles   `json:"receive"`
	Presented      *percentiles   `json:"presented"`
	PageErrors     []string       `json:"pageErrors"`
	RTP            map[string]any `json:"rtp"`
}

type runnerResult struct {
	Chromium  string                `json:"chromium"`
	Publisher map[string]any        `json:"publisher"`
	Modes     map[string]modeResult `json:"modes"`
	Errors    []string              `json:"errors"`
	Console   []string              `json:"console"`
}

// result is one JSON line of bench/results/latency-*.jsonl; times in ms.
type result struct {
	Time            string         `json:"time"`
	Label           string         `json:"label,omitempty"`
	Commit          string         `json:"commit,omitempty"`
	Source          string         `json:"source"`
	Mode            string         `json:"mode"`
	Player          string         `json:"player"`
	Round           int            `json:"round"`
	Concurrent      bool           `json:"concurrent"`
	WarmupS         float64        `json:"warmup_s"`
	WindowS         float64        `json:"window_s"`
	Samples         int            `json:"samples"`
	DecodeFailures  int            `json:"decode_failures"`
	P50             float64        `json:"p50_ms"`
	P95             float64        `json:"p95_ms"`
	Min             float64        `json:"min_ms"`
	Max             float64        `json:"max_ms"`
	Mean            float64        `json:"mean_ms"`
	PageEstimate    *float64       `json:"page_estimate_ms"`
	FirstFrame      *float64       `json:"first_frame_ms"`
	Video           string         `json:"video"`
	FramesPresented int            `json:"frames_presented"`
	FramesRead      int            `json:"frames_read"`
	PresentedP50    *float64       `json:"presented_p50_ms,omitempty"`
	ReceiveP50      *float64       `json:"receive_p50_ms,omitempty"`
	ReceiveP95      *float64       `json:"receive_p95_ms,omitempty"`
	JitterBuffer    *float64       `json:"jitter_buffer_ms,omitempty"`
	DecodePerFrame  *float64       `json:"decode_ms_per_frame,omitempty"`
	Playlist        string         `json:"playlist,omitempty"`
	HLS             map[string]any `json:"hlsjs,omitempty"`
	Publisher       map[string]any `json:"publisher,omitempty"`
	PlayerConfig    string         `json:"player_config,omitempty"`
	MergeWrite      string         `json:"merge_write,omitempty"`
	Chromium        string         `json:"chromium"`
	LoadAvg         string         `json:"loadavg"`
	Errors          []string       `json:"errors,omitempty"`
}

func main() {
	var o options
	flag.StringVar(&o.mediakit, "mediakit", "mediakit", "mediakit binary")
	flag.StringVar(&o.node, "node", "node", "node binary")
	flag.StringVar(&o.browserDir, "browser-dir", "test/browser", "test/browser, with its npm packages installed (npm ci)")
	flag.StringVar(&o.chromium, "chromium", envOr("CHROMIUM", "/usr/bin/chromium"), "Chromium binary")
	flag.StringVar(&o.source, "source", "whip", "whip (the browser publishes a canvas over WHIP) or rtmp (ffmpeg publishes frames drawn here)")
	flag.StringVar(&o.modes, "modes", "webrtc,llhls,flv", "player modes, comma-separated")
	flag.BoolVar(&o.concurrent, "concurrent", false, "play every mode at once from one publisher (default: one mode at a time, each with its own publisher and stream)")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "time after a mode's first frame before measuring")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "measurement window per mode")
	flag.IntVar(&o.round, "round", 1, "round number written into the results")
	flag.StringVar(&o.playerConfig, "player-config", "", `JSON merged into the page's player settings, e.g. {"mpegts":{"liveSync":true}} (LATENCY_PLAYER_CONFIG of latency.mjs)`)
	flag.StringVar(&o.mergeWrite, "merge-write", "", "mediakit's --merge-write (empty: its default)")
	flag.StringVar(&o.label, "label", "", "free text written into the results")
	flag.StringVar(&o.commit, "commit", "", "the mediakit commit measured, written into the results")
	flag.StringVar(&o.out, "out", "", "append the JSON results to this file")
	flag.StringVar(&o.raw, "raw", "", "append latency.mjs's whole output (every latency measured) to this file")
	flag.Parse()
	if o.source != "whip" && o.source != "rtmp" {
		fmt.Fprintln(os.Stderr, "latency: -source is whip or rtmp")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "latency: %v\n", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// server is mediakit under test.
type server struct {
	cmd            *exec.Cmd
	dir            string
	rtmpPort, http int
}

func startServer(o options) (*server, error) {
	dir, err := os.MkdirTemp("", "latency-bench-")
	if err != nil {
		return nil, fmt.Errorf("start mediakit: %w", err)
	}
	s := &server{dir: dir, rtmpPort: benchio.FreePort(), http: benchio.FreePort()}
	conf := filepath.Join(dir, "mediakit.toml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "[webrtc]\naddr = \"127.0.0.1:%d\"\n", benchio.FreePort()), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start mediakit: %w", err)
	}
	args := []string{"serve", "--config", conf, "--log-level", "warn", "--data-dir", dir,
		"--rtmp-addr", fmt.Sprintf("127.0.0.1:%d", s.rtmpPort), "--http-addr", fmt.Sprintf("127.0.0.1:%d", s.http),
		"--rtsp-addr", "", "--rtp-addr", ""}
	if o.mergeWrite != "" {
		args = append(args, "--merge-write", o.mergeWrite)
	}
	s.cmd = exec.Command(o.mediakit, args...)
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start mediakit: %w", err)
	}
	if err := benchio.WaitListening(10*time.Second, s.rtmpPort, s.http); err != nil {
		s.stop()
		return nil, fmt.Errorf("start mediakit: %w", err)
	}
	return s, nil
}

func (s *server) stop() {
	benchio.Stop(s.cmd, 5*time.Second)
	os.RemoveAll(s.dir)
}

func run(o options) error {
	s, err := startServer(o)
	if err != nil {
		return err
	}
	defer s.stop()
	modes := strings.Split(o.modes, ",")
	batches := [][]string{modes}
	if !o.concurrent {
		batches = nil
		for _, m := range modes {
			batches = append(batches, []string{m})
		}
	}
	var failed []string
	for i, batch := range batches {
		stream := fmt.Sprintf("live/latency%d", i)
		if err := measure(o, s, stream, batch); err != nil {
			fmt.Fprintf(os.Stderr, "latency: %s: %v\n", strings.Join(batch, ","), err)
			failed = append(failed, strings.Join(batch, ","))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("modes %v failed", failed)
	}
	return nil
}

// measure runs latency.mjs on a new stream for the modes and emits a
// result per mode.
func measure(o options, s *server, stream string, modes []string) error {
	arg := "whip"
	if o.source == "rtmp" {
		stop, err := publishRTMP(s, stream)
		if err != nil {
			return err
		}
		defer stop()
		arg = "none"
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/%s", s.http, stream)
	limit := o.warmup + o.duration + 2*time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.node, "latency.mjs", url, strings.Join(modes, ","),
		fmt.Sprint(o.warmup.Seconds()), fmt.Sprint(o.duration.Seconds()), arg)
	cmd.Dir = o.browserDir
	cmd.Env = append(os.Environ(), "CHROMIUM="+o.chromium, "LATENCY_PLAYER_CONFIG="+o.playerConfig)
	// Chromium's processes go with node's process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("node latency.mjs: %v\n%s", err, stderr.String())
	}
	if o.raw != "" {
		if err := appendFile(o.raw, stdout.Bytes()); err != nil {
			return fmt.Errorf("save latency.mjs output: %w", err)
		}
	}
	var rr runnerResult
	if err := json.Unmarshal(stdout.Bytes(), &rr); err != nil {
		return fmt.Errorf("latency.mjs output: %v\n%s", err, stdout.String())
	}
	for _, m := range modes {
		mr, ok := rr.Modes[m]
		res := result{Time: time.Now().UTC().Format(time.RFC3339), Label: o.label, Commit: o.commit, Source: o.source, Mode: m, Round: o.round,
			Concurrent: o.concurrent, WarmupS: o.warmup.Seconds(), WindowS: o.duration.Seconds(),
			PlayerConfig: o.playerConfig, MergeWrite: o.mergeWrite, Chromium: rr.Chromium, LoadAvg: loadAvg(),
			Errors: slices.Clone(rr.Errors), Publisher: publisherSummary(rr.Publisher)}
		if ok {
			res.Player, res.Samples, res.DecodeFailures = mr.Page, mr.Samples, mr.DecodeFailures
			res.P50, res.P95, res.Min, res.Max, res.Mean = mr.P50, mr.P95, mr.Min, mr.Max, mr.Mean
			res.PageEstimate, res.FirstFrame, res.Video = mr.PageEstimateMS, mr.FirstFrameMS, mr.Video
			res.FramesPresented, res.FramesRead = mr.PresentedCount, mr.Callbacks
			res.JitterBuffer, res.DecodePerFrame, res.Playlist = mr.JitterBufferMS, mr.DecodeMS, mr.Playlist
			res.HLS = mr.HLS
			if mr.Presented != nil {
				res.PresentedP50 = &mr.Presented.P50
			}
			if mr.Receive != nil {
				res.ReceiveP50, res.ReceiveP95 = &mr.Receive.P50, &mr.Receive.P95
			}
			res.Errors = append(res.Errors, mr.PageErrors...)
			if !mr.WindowComplete {
				res.Errors = append(res.Errors, "measurement window not complete")
			}
		}
		benchio.Emit(o.out, res)
	}
	if len(rr.Errors) > 0 {
		return fmt.Errorf("latency.mjs: %s (console: %q)", strings.Join(rr.Errors, "; "), rr.Console)
	}
	return nil
}

func appendFile(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// loadAvg is the machine's 1, 5 and 15 minute load averages: the
// machine is shared, and a loaded one delays every stage.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// publisherSummary keeps the WHIP publisher's encoder figures.
func publisherSummary(p map[string]any) map[string]any {
	if p == nil {
		return nil
	}
	out := map[string]any{}
	for _, k := range []string{"codec", "frameWidth", "frameHeight", "fpsSent", "encodeMsPerFrame", "keyFramesEncoded", "framesEncoded", "qualityLimitationReason", "encoderImplementation", "clockSkewMs"} {
		if v, ok := p[k]; ok {
			out[k] = v
		}
	}
	return out
}

// Frame geometry and code layout: as latency.mjs draws them.
const (
	width, height = 640, 360
	fps           = 30
	block, cols   = 20, 32
	codeRows      = 2
)

// codeBits is the 64-bit code of latency.mjs: 48 bits of ms since the
// epoch, then a Fletcher-16 checksum of those 6 bytes, most significant
// bit first.
func codeBits(ms int64) []byte {
	var b [8]byte
	for i := range 6 {
		b[i] = byte(ms >> (8 * (5 - i)))
	}
	var s1, s2 int
	for _, x := range b[:6] {
		s1 = (s1 + int(x)) % 255
		s2 = (s2 + s1) % 255
	}
	b[6], b[7] = byte(s2), byte(s1)
	bits := make([]byte, 0, 64)
	for _, x := range b {
		for i := 7; i >= 0; i-- {
			bits = append(bits, (x>>i)&1)
		}
	}
	return bits
}

// drawFrame draws a yuv420p frame: the code (each bit a 20x20 block, the
// inverted rows below), a moving bar, mid grey elsewhere.
func drawFrame(f []byte, ms int64, n int) {
	y := f[:width*height]
	for i := range y {
		y[i] = 64
	}
	for i := range f[width*height:] {
		f[width*height+i] = 128
	}
	codeH := 2 * codeRows * block
	x0 := (n * 8) % width
	for r := codeH + 20; r < height-20; r++ {
		for c := x0; c < min(x0+60, width); c++ {
			y[r*width+c] = 200
		}
	}
	for i, bit := range codeBits(ms) {
		bx, by := (i%cols)*block, (i/cols)*block
		on, off := byte(235), byte(16)
		if bit == 0 {
			on, off = off, on
		}
		for r := range block {
			for c := range block {
				y[(by+r)*width+bx+c] = on
				y[(by+codeRows*block+r)*width+bx+c] = off
			}
		}
	}
}

// publishRTMP starts ffmpeg publishing the code over RTMP to stream, fed
// raw frames drawn at 30 fps, each with the time it is handed to ffmpeg,
// and waits until HTTP-FLV serves a keyframe.
func publishRTMP(s *server, stream string) (stop func(), err error) {
	ff := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "rawvideo", "-pix_fmt", "yuv420p", "-video_size", fmt.Sprintf("%dx%d", width, height), "-framerate", fmt.Sprint(fps), "-i", "pipe:0",
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "60", "-bf", "0", "-pix_fmt", "yuv420p",
		"-flush_packets", "1", "-f", "flv", fmt.Sprintf("rtmp://127.0.0.1:%d/%s", s.rtmpPort, stream))
	in, err := ff.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("rtmp publisher: %w", err)
	}
	ff.Stderr = os.Stderr
	if err := ff.Start(); err != nil {
		return nil, fmt.Errorf("rtmp publisher: start ffmpeg: %w", err)
	}
	done := make(chan struct{})
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		frame := make([]byte, width*height*3/2)
		tick := time.NewTicker(time.Second / fps)
		defer tick.Stop()
		for n := 0; ; n++ {
			drawFrame(frame, time.Now().UnixMilli(), n)
			if _, err := in.Write(frame); err != nil {
				return
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	stop = func() {
		close(done)
		<-fed
		in.Close()
		benchio.Stop(ff, 5*time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		_, err := benchio.FirstKeyframe(ctx, fmt.Sprintf("127.0.0.1:%d", s.http), "/"+stream+".live.flv")
		if err == nil {
			return stop, nil
		}
		if ctx.Err() != nil || errors.Is(err, io.ErrClosedPipe) {
			stop()
			return nil, fmt.Errorf("rtmp publisher: no keyframe over HTTP-FLV within 20 s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
