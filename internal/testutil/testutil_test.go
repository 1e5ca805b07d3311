package testutil

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTB records Fatal and Skip instead of ending the real test. It must be
// driven through runFake, which runs the function on its own goroutine so
// that runtime.Goexit only ends that goroutine.
type fakeTB struct {
	testing.TB
	mu           sync.Mutex
	fatal, skip  bool
	msg          string
	cleanupFuncs []func()
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal, f.msg = true, fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Skipf(format string, args ...any) {
	f.mu.Lock()
	f.skip, f.msg = true, fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func runFake(t *testing.T, fn func(testing.TB)) *fakeTB {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

func TestRequireFFmpegMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())

	t.Setenv(RequireFFmpegEnv, "")
	f := runFake(t, RequireFFmpeg)
	if !f.skip || f.fatal || !strings.Contains(f.msg, "ffmpeg and ffprobe not found") || !strings.Contains(f.msg, RequireFFmpegEnv) {
		t.Errorf("without %s: skip=%v fatal=%v msg=%q, want a skip naming the tools and the variable", RequireFFmpegEnv, f.skip, f.fatal, f.msg)
	}

	t.Setenv(RequireFFmpegEnv, "1")
	f = runFake(t, RequireFFmpeg)
	if !f.fatal || f.skip {
		t.Errorf("with %s=1: skip=%v fatal=%v msg=%q, want a failure", RequireFFmpegEnv, f.skip, f.fatal, f.msg)
	}

	// FFprobe itself never skips; it reports the missing binary.
	if _, err := FFprobe(context.Background(), t, "x.flv"); err == nil || !strings.Contains(err.Error(), "executable file not found") {
		t.Errorf("FFprobe without ffprobe: err = %v", err)
	}
}

func TestFreePort(t *testing.T) {
	seen := map[int]bool{}
	for range 20 {
		p := FreePort(t)
		if p <= 0 || p > 65535 || seen[p] {
			t.Fatalf("FreePort returned %d (seen before: %v)", p, seen[p])
		}
		seen[p] = true
	}
	addr := FreeAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("FreeAddr = %q", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on FreeAddr %s: %v", addr, err)
	}
	l.Close()
}

func TestParseProbe(t *testing.T) {
	const js = `{"streams":[
		{"index":0,"codec_type":"video","codec_name":"h264","profile":"Main","width":320,"height":240,
		 "r_frame_rate":"25/1","nb_read_frames":"150","duration":"N/A"},
		{"index":1,"codec_type":"audio","codec_name":"aac","profile":"LC","sample_rate":"44100","channels":2,
		 "r_frame_rate":"0/0","nb_read_frames":"260","duration":"6.014000"}],
		"format":{"format_name":"flv","nb_streams":2,"duration":"6.023000","size":"298657"}}`
	p, err := parseProbe([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	want := Probe{
		Format: ProbeFormat{FormatName: "flv", Duration: 6.023, NbStreams: 2, Size: 298657},
		Streams: []ProbeStream{
			{Index: 0, CodecType: "video", CodecName: "h264", Profile: "Main", Width: 320, Height: 240, RFrameRate: "25/1", NbReadFrames: 150},
			{Index: 1, CodecType: "audio", CodecName: "aac", Profile: "LC", RFrameRate: "0/0", SampleRate: 44100, Channels: 2, NbReadFrames: 260, Duration: 6.014},
		},
	}
	if fmt.Sprint(*p) != fmt.Sprint(want) {
		t.Fatalf("got  %+v\nwant %+v", *p, want)
	}
	if p.Video() != &p.Streams[0] || p.Audio() != &p.Streams[1] {
		t.Fatal("Video/Audio return the wrong streams")
	}
	if (&Probe{}).Video() != nil || (*Probe)(nil).Audio() != nil {
		t.Fatal("Video/Audio of an empty probe must be nil")
	}
	if _, err := parseProbe([]byte(`{"format":{"duration":"abc"}}`)); err == nil {
		t.Fatal("bad number accepted")
	}
}

func TestParsePackets(t *testing.T) {
	const js = `{"packets":[
		{"codec_type":"video","stream_index":0,"pts":80,"pts_time":"0.080000","dts":0,"dts_time":"0.000000","size":"7884","flags":"K_"},
		{"codec_type":"video","stream_index":0,"size":"3218","flags":"__"}]}`
	pkts, err := parsePackets([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) != 2 {
		t.Fatalf("%d packets", len(pkts))
	}
	p := pkts[0]
	if p.PTS != 80 || p.DTS != 0 || p.PTSTime != 0.08 || p.DTSTime != 0 || !p.Keyframe() || p.Size != 7884 || p.CodecType != "video" {
		t.Errorf("packet 0 = %+v", p)
	}
	p = pkts[1]
	if p.PTS != NoTimestamp || p.DTS != NoTimestamp || !math.IsNaN(p.PTSTime) || !math.IsNaN(p.DTSTime) || p.Keyframe() {
		t.Errorf("packet 1 = %+v", p)
	}
}

func TestTailBuffer(t *testing.T) {
	b := newTailBuffer(8)
	b.Write([]byte("abc"))
	if got := b.String(); got != "abc" {
		t.Fatalf("got %q", got)
	}
	b.Write([]byte("defghij"))
	if got := b.String(); !strings.HasSuffix(got, "\ncdefghij") || !strings.HasPrefix(got, "[...") {
		t.Fatalf("got %q", got)
	}
	b.Write([]byte("0123456789"))
	if got := b.String(); !strings.HasSuffix(got, "\n23456789") {
		t.Fatalf("got %q", got)
	}
}

func TestFFprobeError(t *testing.T) {
	RequireFFmpeg(t)
	_, err := FFprobe(t.Context(), t, filepath.Join(t.TempDir(), "missing.flv"))
	if err == nil || !strings.Contains(err.Error(), "No such file or directory") {
		t.Fatalf("err = %v, want ffprobe's stderr in it", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = FramePackets(ctx, t, Clip(t, "h264_only.flv"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: err = %v", err)
	}
}

func TestStartFFmpegSuccess(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.flv")
	p := StartFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=1",
		"-c:v", "libx264", "-g", "25", "-f", "flv", out)
	if err := p.Wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if !p.Exited() {
		t.Fatal("Exited() = false after Wait")
	}
	probe, err := FFprobe(t.Context(), t, out)
	if err != nil {
		t.Fatal(err)
	}
	if v := probe.Video(); v == nil || v.NbReadFrames != 25 {
		t.Fatalf("output video = %+v, want 25 frames", v)
	}
	if err := p.Wait(time.Second); err != nil {
		t.Fatalf("second Wait: %v", err)
	}
}

func TestStartFFmpegFailure(t *testing.T) {
	p := StartFFmpeg(t, "-i", filepath.Join(t.TempDir(), "missing.flv"), "-f", "null", "-")
	err := p.Wait(30 * time.Second)
	if err == nil || !strings.Contains(err.Error(), "No such file or directory") || !strings.Contains(err.Error(), "exit status") {
		t.Fatalf("err = %v, want the exit status and stderr tail", err)
	}
	if !strings.Contains(p.Stderr(), "No such file or directory") {
		t.Fatalf("Stderr() = %q", p.Stderr())
	}
}

// endless is an ffmpeg invocation that runs until stopped.
var endless = []string{"-re", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-f", "null", "-"}

func TestWaitTimeoutKills(t *testing.T) {
	p := StartFFmpeg(t, endless...)
	start := time.Now()
	err := p.Wait(300 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "still running after 300ms, killed") {
		t.Fatalf("err = %v, want a timeout error", err)
	}
	if !p.Exited() {
		t.Fatal("process still running after Wait timed out")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Wait took %v", d)
	}
}

func TestStop(t *testing.T) {
	p := StartFFmpeg(t, endless...)
	time.Sleep(200 * time.Millisecond)
	if p.Exited() {
		t.Fatalf("ffmpeg exited early: %s", p.Stderr())
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range 3 { // concurrent Stops are fine
		wg.Go(p.Stop)
	}
	wg.Wait()
	if !p.Exited() {
		t.Fatal("Exited() = false after Stop")
	}
	if d := time.Since(start); d > stopGrace+2*time.Second {
		t.Fatalf("Stop took %v", d)
	}
	if err := p.Wait(time.Second); err != nil {
		t.Fatalf("Wait after Stop = %v, want nil", err)
	}
}

func TestCleanupStopsProcess(t *testing.T) {
	RequireFFmpeg(t)
	var p *Process
	t.Run("sub", func(t *testing.T) {
		p = StartFFmpeg(t, endless...)
	})
	if p == nil || !p.Exited() {
		t.Fatal("process outlived the subtest that started it")
	}
}

func TestPublishClip(t *testing.T) {
	RequireFFmpeg(t)
	out := filepath.Join(t.TempDir(), "received.flv")
	// The receiver listens on a port FreeAddr found free; another test
	// process may take it first, and the receiver then exits at once:
	// start over on another port.
	for try := 0; ; try++ {
		if publishToListener(t, out) {
			break
		}
		if try == 5 {
			t.Fatal("the receiving ffmpeg could not listen on 5 ports in a row")
		}
	}
	probe, err := FFprobe(t.Context(), t, out)
	if err != nil {
		t.Fatal(err)
	}
	if v := probe.Video(); v == nil || v.CodecName != "h264" || v.NbReadFrames != 100 {
		t.Fatalf("received video = %+v, want 100 h264 frames", v)
	}
}

// publishToListener publishes a clip with PublishClip to an ffmpeg that
// listens for it and writes out. It reports false when the listener
// exited before taking the stream (its port was taken meanwhile).
func publishToListener(t *testing.T, out string) bool {
	t.Helper()
	url := fmt.Sprintf("rtmp://%s/live/test", FreeAddr(t))
	recv := StartFFmpeg(t, "-y", "-listen", "1", "-i", url, "-c", "copy", "-f", "flv", out)

	// The receiver needs a moment to listen; a publisher started too early
	// fails at once with "Connection refused", so retry.
	var pub *Process
	for attempt := 0; ; attempt++ {
		pub = PublishClip(t, "h264_only.flv", url, false)
		deadline := time.Now().Add(500 * time.Millisecond)
		for !pub.Exited() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if !pub.Exited() || pub.Wait(0) == nil {
			break
		}
		if recv.Exited() {
			return false
		}
		if attempt == 50 {
			t.Fatalf("publisher failed: %v\nreceiver: %s", pub.Wait(0), recv.Stderr())
		}
	}
	if err := pub.Wait(30 * time.Second); err != nil {
		if recv.Exited() && recv.Wait(0) != nil {
			return false
		}
		t.Fatal(err)
	}
	if err := recv.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	return true
}
