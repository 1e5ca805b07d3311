package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
)

// startRelay starts `mediakit relay ARGS...`.
func startRelay(t *testing.T, args ...string) *child {
	t.Helper()
	return startChild(t, "relay", args...)
}

// relaySummary is the --json object.
type relaySummary struct {
	Source       string  `json:"source"`
	Duration     float64 `json:"duration_seconds"`
	Frames       int64   `json:"frames"`
	Read         int64   `json:"bytes_read"`
	Retries      int     `json:"retries"`
	Destinations []struct {
		URL     string   `json:"url"`
		Format  string   `json:"format"`
		Bytes   int64    `json:"bytes"`
		Frames  int64    `json:"frames"`
		Retries int      `json:"retries"`
		Files   []string `json:"files"`
		Error   string   `json:"error"`
	} `json:"destinations"`
	Stopped string `json:"stopped"`
}

func parseRelaySummary(t *testing.T, stdout string) relaySummary {
	t.Helper()
	var s relaySummary
	testutil.DecodeJSONLine(t, stdout, &s)
	return s
}

// startRelayServe is `mediakit serve` on free loopback ports, without
// the RTP port (three run at once).
func startRelayServe(t *testing.T, args ...string) *process {
	t.Helper()
	return startServe(t, append([]string{"--rtp-addr", ""}, args...)...)
}

// probeLive asks ffprobe for 2 s of a live stream until it gets H.264
// and AAC frames, or until the deadline, or stop says why to give up. A
// stream not there yet makes the server hold ffprobe (--max-stream-wait),
// so each try is bounded. Safe to call from any goroutine.
func probeLive(t *testing.T, url string, deadline time.Time, stop func() string) (*testutil.Probe, error) {
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		p, err := testutil.FFprobe(ctx, t, url, "-read_intervals", "%+2")
		cancel()
		if err == nil {
			if v, a := p.Video(), p.Audio(); v != nil && a != nil && v.CodecName == "h264" && a.CodecName == "aac" &&
				v.NbReadFrames > 0 && a.NbReadFrames > 0 {
				return p, nil
			}
			lastErr = fmt.Errorf("streams %+v", p.Streams)
		} else {
			lastErr = err
		}
		if msg := stop(); msg != "" {
			return nil, fmt.Errorf("%s (probing %s: %v)", msg, url, lastErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, fmt.Errorf("ffprobe %s: no H.264 and AAC frames before the deadline (last: %v)", url, lastErr)
}

// mustProbeLive is probeLive from the test goroutine.
func mustProbeLive(t *testing.T, url string, within time.Duration, stop func() string) {
	t.Helper()
	if _, err := probeLive(t, url, time.Now().Add(within), stop); err != nil {
		t.Fatal(err)
	}
}

// exitedWith is a stop function for probeLive: the relay ended.
func (c *child) exitedWith() string {
	if !c.running() {
		return "relay exited: stdout " + c.stdout.String() + " stderr " + c.stderr.String()
	}
	return ""
}

// TestRelayLive: one source on server A relayed to B and C; ffprobe
// judges both while the relay runs; --duration ends it with exit 0.
func TestRelayLive(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	a, b, c := startRelayServe(t), startRelayServe(t), startRelayServe(t)
	pub := testutil.PublishClip(t, "h264_aac.flv", "rtmp://"+a.rtmp+"/live/src", true)
	waitOnline(t, a.http, "src", pub)

	src := "rtmp://" + a.rtmp + "/live/src"
	dstB, dstC, dstRTSP := "rtmp://"+b.rtmp+"/live/x", "rtmp://"+c.rtmp+"/live/y", "rtsp://"+c.rtsp+"/live/z"
	r := startRelay(t, src, dstB, dstC, dstRTSP, "--duration", "6s", "--json")
	// While the relay runs: B over RTMP, C over HTTP-FLV, and what C got
	// over RTSP, each server serving what it got.
	urls := []string{dstB, "http://" + c.http + "/live/y.live.flv", "http://" + c.http + "/live/z.live.flv"}
	errs := make([]error, len(urls))
	var wg sync.WaitGroup
	deadline := time.Now().Add(30 * time.Second)
	for i, url := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := probeLive(t, url, deadline, r.exitedWith)
			if err == nil {
				t.Logf("%s: %d video and %d audio frames in 2 s", url, p.Video().NbReadFrames, p.Audio().NbReadFrames)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}

	if code := r.wait(t, 30*time.Second, "--duration 6s").ExitCode(); code != 0 {
		t.Fatalf("exit %d, want 0; stdout %q stderr:\n%s", code, r.stdout.String(), r.stderr.String())
	}
	s := parseRelaySummary(t, r.stdout.String())
	if s.Source != src || s.Stopped != "duration" || s.Duration < 5.5 || s.Duration > 6 || s.Frames == 0 || s.Read == 0 || len(s.Destinations) != 3 {
		t.Fatalf("summary %+v, want 6 s of media relayed to 3 destinations", s)
	}
	for i, want := range []string{dstB, dstC, dstRTSP} {
		d := s.Destinations[i]
		format := "rtmp"
		if i == 2 {
			format = "rtsp"
		}
		if d.URL != want || d.Format != format || d.Frames != s.Frames || d.Bytes == 0 || d.Retries != 0 || d.Error != "" {
			t.Errorf("destination %+v, want every frame pushed to %s", d, want)
		}
	}
	checkQuietStderr(t, r.stderr.String())
	if pub.Exited() {
		t.Errorf("publisher stopped: %v", pub.Wait(0))
	}
}

// TestRelayFiles: a local FLV relayed to FLV, MPEG-TS and MP4 files in
// one run: ffprobe reads as many frames from each as from the input.
func TestRelayFiles(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	in := testutil.Clip(t, "h264_aac.flv")
	dir := t.TempDir()
	outs := []string{filepath.Join(dir, "out.flv"), filepath.Join(dir, "out.ts"), filepath.Join(dir, "sub", "out.mp4")}
	r := startRelay(t, append([]string{in}, append(outs, "--json")...)...)
	if code := r.wait(t, 30*time.Second, "relaying a 6 s file").ExitCode(); code != 0 {
		t.Fatalf("exit %d; stdout %q stderr:\n%s", code, r.stdout.String(), r.stderr.String())
	}
	checkQuietStderr(t, r.stderr.String())
	s := parseRelaySummary(t, r.stdout.String())
	if s.Stopped != "end" || len(s.Destinations) != 3 {
		t.Fatalf("summary %+v", s)
	}
	want := probeOrFail(t, in)
	wv, wa := want.Video(), want.Audio()
	for i, out := range outs {
		if d := s.Destinations[i]; d.URL != out || d.Frames != s.Frames || d.Error != "" || len(d.Files) != 1 || d.Files[0] != out {
			t.Errorf("destination %+v, want every frame in %s", d, out)
		}
		p := probeOrFail(t, out)
		v, a := p.Video(), p.Audio()
		if v == nil || a == nil || v.CodecName != "h264" || a.CodecName != "aac" ||
			v.NbReadFrames != wv.NbReadFrames || a.NbReadFrames != wa.NbReadFrames {
			t.Errorf("%s: %+v, want %d h264 and %d aac frames as in %s", out, p.Streams, wv.NbReadFrames, wa.NbReadFrames, in)
		}
		checkMonotonic(t, out)
	}
}

// TestRelaySourceDown: a source that refuses, or never answers, is tried
// --retries more times; then one line names the URL and the cause, and
// the exit code is 1.
func TestRelaySourceDown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	refused := "rtmp://" + testutil.FreeAddr(t) + "/live/x"
	code, stdout, stderr := runBinary(t, nil, "relay", refused, filepath.Join(dir, "a.flv"), "--retries", "2", "--retry-delay", "100ms")
	if code != 1 {
		t.Errorf("exit %d, want 1; stderr %q", code, stderr)
	}
	testutil.CheckOneLineError(t, stdout, stderr)
	if !strings.HasPrefix(stderr, "mediakit: relay: "+refused+": ") || !strings.Contains(stderr, "refused") ||
		!strings.Contains(stderr, "(after 3 attempts)") {
		t.Errorf("stderr %q, want the URL, connection refused and 3 attempts", stderr)
	}

	// A server that accepts and says nothing: --timeout bounds each try.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	silent := "rtmp://" + ln.Addr().String() + "/live/x"
	code, stdout, stderr = runBinary(t, nil, "relay", silent, filepath.Join(dir, "b.flv"), "--retries", "1", "--retry-delay", "100ms",
		"--timeout", "500ms")
	if code != 1 {
		t.Errorf("exit %d, want 1; stderr %q", code, stderr)
	}
	testutil.CheckOneLineError(t, stdout, stderr)
	if !strings.HasPrefix(stderr, "mediakit: relay: "+silent+": ") || !strings.Contains(stderr, "(after 2 attempts)") {
		t.Errorf("stderr %q, want the URL and 2 attempts", stderr)
	}
}

// TestRelayDestinationLater: a destination down at first gets the stream
// once it comes up, while the other keeps receiving; Ctrl-C then ends
// the relay with exit 0.
//
// Not parallel: B's port is free until B starts, and the connections of
// tests running alongside could be given it.
func TestRelayDestinationLater(t *testing.T) {
	testutil.RequireFFmpeg(t)
	a, c := startRelayServe(t), startRelayServe(t)
	pub := testutil.PublishClip(t, "h264_aac.flv", "rtmp://"+a.rtmp+"/live/src", true)
	waitOnline(t, a.http, "src", pub)

	bAddr := testutil.FreeAddr(t) // B is not started yet
	dstB, dstC := "rtmp://"+bAddr+"/live/x", "rtmp://"+c.rtmp+"/live/y"
	r := startRelay(t, "rtmp://"+a.rtmp+"/live/src", dstB, dstC, "--retries", "-1", "--retry-delay", "100ms", "--json",
		"--log-level", "info")
	// C gets the stream while B refuses.
	mustProbeLive(t, dstC, 30*time.Second, r.exitedWith)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(r.stderr.String(), "destination failed") {
		if time.Now().After(deadline) || !r.running() {
			t.Fatalf("no failed attempt for %s logged; stderr:\n%s", dstB, r.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	b := startRelayServe(t, "--rtmp-addr", bAddr)
	if b.rtmp != bAddr {
		t.Fatalf("B listens on %s, want %s", b.rtmp, bAddr)
	}
	mustProbeLive(t, dstB, 30*time.Second, r.exitedWith)
	mustProbeLive(t, "http://"+c.http+"/live/y.live.flv", 30*time.Second, r.exitedWith)

	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := r.wait(t, 15*time.Second, "SIGINT").ExitCode(); code != 0 {
		t.Fatalf("exit %d after SIGINT, want 0; stdout %q stderr:\n%s", code, r.stdout.String(), r.stderr.String())
	}
	s := parseRelaySummary(t, r.stdout.String())
	if s.Stopped != "interrupted" || len(s.Destinations) != 2 {
		t.Fatalf("summary %+v", s)
	}
	db, dc := s.Destinations[0], s.Destinations[1]
	if db.URL != dstB || db.Retries < 1 || db.Frames == 0 || db.Error != "" {
		t.Errorf("B: %+v, want frames after at least one retry", db)
	}
	if dc.URL != dstC || dc.Retries != 0 || dc.Frames != s.Frames || dc.Error != "" {
		t.Errorf("C: %+v, want every frame in one attempt", dc)
	}
}

// TestRelayUsage: usage errors exit 2 with one line.
func TestRelayUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, args := range [][]string{
		{"relay"},
		{"relay", "in.flv"},
		{"relay", "in.flv", filepath.Join(dir, "out.avi")},
		{"relay", "in.flv", filepath.Join(dir, "out.flv"), "--retries", "-5"},
		{"relay", "in.flv", filepath.Join(dir, "out.flv"), "--bogus"},
		{"relay", "srt://h:1/x", filepath.Join(dir, "out.flv")},
	} {
		t.Run(strings.Join(args[1:], " "), func(t *testing.T) {
			code, stdout, stderr := runBinary(t, nil, args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr %q", code, stderr)
			}
			testutil.CheckOneLineError(t, stdout, stderr)
		})
	}
}
