//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/gbsender"
	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/format/ps"
	"github.com/mediakit/mediakit/pkg/hls"
	"github.com/mediakit/mediakit/pkg/record"
)

// Faults of the machine under `mediakit serve` (issue 18, item 2): a
// read-only data dir or recording root, a full disk, kill -9 in the
// middle of RTP ingest and MP4 recording. The file system faults are real
// mounts (tmpfs), which needs root: elsewhere these tests skip.

// fltMount mounts a tmpfs of size at dir (made if missing), read-only
// with ro, and unmounts it when the test ends. It skips the test where
// mounting is not permitted.
func fltMount(t *testing.T, dir, size string, ro bool) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var flags uintptr
	if ro {
		flags |= syscall.MS_RDONLY
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", flags, "size="+size); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			t.Skipf("mounting a tmpfs is not permitted here (%v): run as root", err)
		}
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}

// fltLogs drains the rest of p's log into a buffer, so that a chatty
// server never blocks on its stderr pipe, and returns the buffer (the
// lines read so far included).
func fltLogs(p *process) *testutil.SyncBuffer {
	var b testutil.SyncBuffer
	for _, l := range p.logs {
		fmt.Fprintln(&b, l)
	}
	go func() {
		for line := range p.stderr {
			fmt.Fprintln(&b, line)
		}
	}()
	return &b
}

// fltLine returns the first log line holding every one of parts.
func fltLine(logs *testutil.SyncBuffer, parts ...string) string {
	for _, line := range strings.Split(logs.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return line
		}
	}
	return ""
}

// fltWaitLine waits for a log line holding every one of parts.
func fltWaitLine(t *testing.T, logs *testutil.SyncBuffer, timeout time.Duration, parts ...string) string {
	t.Helper()
	var line string
	if !testutil.Poll(timeout, func() bool { line = fltLine(logs, parts...); return line != "" }) {
		t.Fatalf("no log line with %q within %v; log:\n%s", parts, timeout, logs.String())
	}
	return line
}

// fltPlays reports whether ffprobe reads video from u within a few
// seconds.
func fltPlays(t *testing.T, u string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := testutil.FFprobe(ctx, t, u, "-read_intervals", "%+1")
	if err != nil {
		return err
	}
	if v := p.Video(); v == nil || v.NbReadFrames < 10 {
		return fmt.Errorf("%s: %+v", u, p.Streams)
	}
	return nil
}

// fltDecodes decodes every frame of file with ffmpeg and returns what it
// logged at level error (nothing for a whole file).
func fltDecodes(t *testing.T, file string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-i", file, "-f", "null", "-").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%v: %s", err, out)
	}
	return string(out)
}

// TestDataDirReadOnly: a data dir on a read-only file system stops
// `serve` at start with one line naming the database and the cause (not
// "damaged": the database is good, and moving it away would lose it),
// and leaves the database as it was; a data dir still to be made there
// says so too; --print-config still reads the saved settings.
func TestDataDirReadOnly(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	fltMount(t, data, "8m", false)
	p := startServe(t, "--data-dir", data)
	if r := api(t, p, "setServerConfig", url.Values{"protocol.continue_push_ms": {"4321"}}); r["changed"] != float64(1) {
		t.Fatalf("setServerConfig: %v", r)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
	db := filepath.Join(data, "mediakit.db")
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("", data, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount read-only: %v", err)
	}
	ports := []string{"serve", "--rtmp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--rtp-addr", "127.0.0.1:0", "--rtsp-addr", ""}

	code, stdout, stderr := runBinary(t, nil, append(ports, "--data-dir", data)...)
	if code != 1 {
		t.Errorf("exit %d, want 1; stderr %q", code, stderr)
	}
	testutil.CheckOneLineError(t, stdout, stderr)
	if !strings.Contains(stderr, db) || !strings.Contains(stderr, "read-only file system") || strings.Contains(stderr, "damaged") {
		t.Errorf("error %q: want the database named with the cause, not called damaged", stderr)
	}
	if after, err := os.ReadFile(db); err != nil || string(after) != string(before) {
		t.Errorf("database changed or unreadable after the refused start: %v", err)
	}

	sub := filepath.Join(data, "sub")
	code, stdout, stderr = runBinary(t, nil, append(ports, "--data-dir", sub)...)
	if code != 1 {
		t.Errorf("exit %d, want 1; stderr %q", code, stderr)
	}
	testutil.CheckOneLineError(t, stdout, stderr)
	if !strings.Contains(stderr, sub) || !strings.Contains(stderr, "read-only file system") {
		t.Errorf("error %q: want the data dir named with the cause", stderr)
	}

	code, stdout, stderr = runBinary(t, nil, "serve", "--data-dir", data, "--print-config")
	if code != 0 || !strings.Contains(stdout, "continue_push_ms = 4321") {
		t.Errorf("--print-config on a read-only data dir: exit %d, stderr %q", code, stderr)
	}
}

// TestRecordingRootReadOnly: with the recording root on a read-only file
// system, the server runs; a recording fails with one error line naming
// the file and the cause, counted in /metrics, and players are served.
func TestRecordingRootReadOnly(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	fltMount(t, filepath.Join(data, "record"), "1m", true)
	cfg := writeConfig(t, "[protocol]\nenable_mp4 = true\n")
	p := startServe(t, "--config", cfg, "--data-dir", data)
	logs := fltLogs(p)
	publishAndWait(t, p, "ro")
	line := fltWaitLine(t, logs, 20*time.Second, "mp4 recording failed", "read-only file system")
	if !strings.Contains(line, "level=ERROR") || !strings.Contains(line, filepath.Join(data, "record", "live", "ro")) {
		t.Errorf("failure line %q: want an error naming the file", line)
	}
	if n := metricValue(t, p.http, "mediakit_record_failures_total", `type="mp4"`); n < 1 {
		t.Errorf("mediakit_record_failures_total{type=mp4} = %v", n)
	}
	if err := fltPlays(t, "http://"+p.http+"/live/ro.live.flv"); err != nil {
		t.Errorf("player with the recording root read-only: %v", err)
	}
}

// TestDiskFullRecording: the recording root fills up while a stream is
// recorded as MP4 and HLS. Both recordings stop with an error line
// naming the file and "no space left on device" (counted in /metrics,
// isRecording false), the server goes on serving players, what was
// recorded before stays playable (the MP4 up to its last whole fragment,
// the HLS playlist naming only whole segments), and once space returns
// startRecord records again, to files that play whole.
func TestDiskFullRecording(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	root := filepath.Join(data, "record")
	fltMount(t, root, "2m", false)
	// Fill all but ~200 KiB: about four seconds of the clip at 400 kbit/s.
	var st syscall.Statfs_t
	if err := syscall.Statfs(root, &st); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(root, "filler")
	if err := os.WriteFile(filler, make([]byte, int64(st.Bavail)*st.Bsize-200<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, "[protocol]\nenable_mp4 = true\n[hls]\nsegDur = 1\n")
	p := startServe(t, "--config", cfg, "--data-dir", data)
	logs := fltLogs(p)
	const stream = "full"
	pub := publishAndWait(t, p, stream)
	defer pub.Stop()
	params := func(typ string) url.Values {
		return url.Values{"type": {typ}, "vhost": {"__defaultVhost__"}, "app": {"live"}, "stream": {stream}}
	}
	if r := apiOK(t, p, "startRecord", params("0")); r["result"] != true {
		t.Fatalf("startRecord HLS: %v", r)
	}

	mp4Line := fltWaitLine(t, logs, 30*time.Second, "mp4 recording failed", "no space left on device")
	hlsLine := fltWaitLine(t, logs, 30*time.Second, "level=ERROR", "record=hls", "no space left on device")
	for _, line := range []string{mp4Line, hlsLine} {
		if !strings.Contains(line, "level=ERROR") || !strings.Contains(line, filepath.Join(root, "live", stream)) {
			t.Errorf("failure line %q: want an error naming the file", line)
		}
	}
	for _, typ := range []string{"0", "1"} {
		testutil.Eventually(t, 10*time.Second, "isRecording false for type "+typ, func() bool {
			return api(t, p, "isRecording", params(typ))["status"] == false
		})
	}
	for _, typ := range []string{"mp4", "hls"} {
		if n := metricValue(t, p.http, "mediakit_record_failures_total", `type="`+typ+`"`); n < 1 {
			t.Errorf("mediakit_record_failures_total{type=%s} = %v", typ, n)
		}
	}
	// The server goes on.
	if err := fltPlays(t, "http://"+p.http+"/live/"+stream+".live.flv"); err != nil {
		t.Errorf("player on a full disk: %v", err)
	}
	if code, _ := fltHealthz(p); code != 200 {
		t.Errorf("healthz %d on a full disk", code)
	}
	// What was written before the disk filled plays.
	mp4s, _ := filepath.Glob(filepath.Join(root, "live", stream, "*", "*.mp4"))
	if len(mp4s) != 1 {
		t.Fatalf("MP4 files after the failure: %q", mp4s)
	}
	cut := mp4s[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if pr, err := testutil.FFprobe(ctx, t, cut); err != nil || pr.Video() == nil || pr.Video().NbReadFrames == 0 {
		t.Errorf("the MP4 cut by the full disk: %v %+v", err, pr)
	}
	playlists, _ := filepath.Glob(filepath.Join(root, "live", stream, "hls", "*", "*", record.PlaylistName))
	for _, pl := range playlists {
		raw, err := os.ReadFile(pl)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := hls.ParsePlaylist(raw)
		if err != nil {
			t.Errorf("%s: %v", pl, err)
			continue
		}
		for _, s := range parsed.Segments {
			if fi, err := os.Stat(filepath.Join(filepath.Dir(pl), s.URI)); err != nil || fi.Size() == 0 {
				t.Errorf("%s names %s: %v", pl, s.URI, err)
			}
		}
	}

	// Space returns: recording resumes on request.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"1", "0"} {
		if r := apiOK(t, p, "startRecord", params(typ)); r["result"] != true {
			t.Fatalf("startRecord type %s after space returned: %v", typ, r)
		}
	}
	var resumed string
	testutil.Eventually(t, 20*time.Second, "a new MP4 file with two seconds in it", func() bool {
		files, _ := filepath.Glob(filepath.Join(root, "live", stream, "*", "*.mp4"))
		for _, f := range files {
			if fi, err := os.Stat(f); f != cut && err == nil && fi.Size() > 150<<10 {
				resumed = f
				return true
			}
		}
		return false
	})
	for _, typ := range []string{"1", "0"} {
		if r := apiOK(t, p, "stopRecord", params(typ)); r["result"] != true {
			t.Errorf("stopRecord type %s: %v", typ, r)
		}
	}
	if pr, err := testutil.FFprobe(ctx, t, resumed); err != nil || pr.Format.Duration < 1.5 {
		t.Errorf("the resumed recording %s: %v %+v", resumed, err, pr)
	}
	if out := fltDecodes(t, resumed); out != "" {
		t.Errorf("decoding the resumed recording: %s", out)
	}
	playlists, _ = filepath.Glob(filepath.Join(root, "live", stream, "hls", "*", "*", record.PlaylistName))
	if len(playlists) == 0 {
		t.Fatal("no HLS recording after space returned")
	}
	last := playlists[len(playlists)-1] // HH-MM-SS: the newest is the resumed one
	if raw, err := os.ReadFile(last); err != nil || !strings.Contains(string(raw), "#EXT-X-ENDLIST") {
		t.Errorf("resumed HLS recording %s: %v\n%s", last, err, raw)
	} else if out := fltDecodes(t, last); out != "" {
		t.Errorf("decoding the resumed HLS recording: %s", out)
	}
}

// fltHealthz is /healthz's status.
func fltHealthz(p *process) (int, error) {
	resp, err := newClient().Get("http://" + p.http + "/healthz")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestKill9MidRTPAndRecording: `serve` is killed with SIGKILL while a
// camera sends PS over RTP/TCP to an openRtpServer port and the stream is
// recorded as MP4 files of two seconds. Every file on disk plays (the
// finished ones whole, the one being written up to its last fragment);
// a new `serve` binds the same RTMP, HTTP, RTSP, shared RTP and RTP server
// ports at once, has no RTP server left over, opens the same port for the
// same stream again, and takes the camera's RTP there.
//
// Not parallel: between the kill and the restart its ports are free, and
// the connections of tests running alongside could be given one of them.
func TestKill9MidRTPAndRecording(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := writeConfig(t, "[protocol]\nenable_mp4 = true\nmp4_max_second = 2\n")
	rtmpAddr, httpAddr, rtspAddr, sharedRTP := testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)
	rtpPort := testutil.FreePort(t)
	args := []string{"--config", cfg, "--data-dir", data, "--rtmp-addr", rtmpAddr, "--http-addr", httpAddr,
		"--rtsp-addr", rtspAddr, "--rtp-addr", sharedRTP}
	const id = "0BEBC201"
	open := url.Values{"port": {fmt.Sprint(rtpPort)}, "tcp_mode": {"1"}, "stream_id": {id}}

	p := startServe(t, args...)
	if r := apiOK(t, p, "openRtpServer", open); r["port"] != float64(rtpPort) {
		t.Fatalf("openRtpServer: %v", r)
	}
	frames := gbsender.CameraClip(t)
	send := func(network string) (*gbsender.Sender, chan error) {
		s, err := gbsender.Dial(gbsender.Options{Network: network, Addr: fmt.Sprintf("127.0.0.1:%d", rtpPort), SSRC: 200000001,
			VideoType: ps.StreamH264, AudioType: ps.StreamG711A, Realtime: true})
		if err != nil {
			t.Fatalf("RTP over %s: %v", network, err)
		}
		t.Cleanup(func() { s.Close() })
		done := make(chan error, 1)
		go func() { done <- s.Send(context.Background(), frames) }()
		return s, done
	}
	_, sent := send("tcp")
	dayGlob := filepath.Join(data, "record", "rtp", id, "*", "*.mp4")
	// Kill once a file is finished and the next one holds a whole fragment
	// (about a second, cut at keyframes). Its size alone does not say so:
	// a fragment's mdat is written before its moof, and a kill between the
	// two leaves the file with no frame yet, as designed.
	testutil.Eventually(t, 20*time.Second, "a finished MP4 file and a second one with a fragment", func() bool {
		files, _ := filepath.Glob(dayGlob)
		if len(files) < 2 {
			return false
		}
		boxes, _ := mp4Boxes(t, files[len(files)-1])
		return countBoxes(boxes, "moof") > 0
	})
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
	<-sent // the camera's connection is gone with the server

	files, _ := filepath.Glob(dayGlob)
	for i, f := range files {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		pr, err := testutil.FFprobe(ctx, t, f)
		cancel()
		if err != nil || pr.Video() == nil || pr.Video().NbReadFrames == 0 {
			t.Errorf("%s after kill -9: %v %+v", f, err, pr)
			continue
		}
		if i < len(files)-1 {
			if out := fltDecodes(t, f); out != "" {
				t.Errorf("finished file %s after kill -9: %s", f, out)
			}
		}
	}

	// The same ports, at once.
	p = startServe(t, args...)
	if p.rtmp != rtmpAddr || p.http != httpAddr || p.rtsp != rtspAddr {
		t.Errorf("restarted on rtmp=%s http=%s rtsp=%s, want %s %s %s", p.rtmp, p.http, p.rtsp, rtmpAddr, httpAddr, rtspAddr)
	}
	if data, _ := apiOK(t, p, "listRtpServer", nil)["data"].([]any); len(data) != 0 {
		t.Errorf("RTP servers after the restart: %v", data)
	}
	if r := api(t, p, "getRtpInfo", url.Values{"stream_id": {id}}); r["exist"] != false {
		t.Errorf("getRtpInfo after the restart: %v", r)
	}
	if r := apiOK(t, p, "openRtpServer", open); r["port"] != float64(rtpPort) {
		t.Fatalf("openRtpServer on the same port after kill -9: %v", r)
	}
	s, _ := send("udp")
	if err := fltPlays(t, "http://"+p.http+"/rtp/"+id+".live.flv"); err != nil {
		t.Errorf("the camera's stream after the restart: %v (sent %+v)", err, s.Stats())
	}
}

// TestDiskFullDataDir: the data dir (and so the database) is full. API
// calls that must save something are refused with the cause, and leave
// nothing half done; once space returns they succeed; after kill -9 and
// a restart exactly what was acknowledged is there.
func TestDiskFullDataDir(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	fltMount(t, data, "256k", false)
	p := startServe(t, "--data-dir", data)
	logs := fltLogs(p)
	var st syscall.Statfs_t
	if err := syscall.Statfs(data, &st); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(data, "filler")
	if err := os.WriteFile(filler, make([]byte, int64(st.Bavail)*st.Bsize), 0o644); err != nil {
		t.Fatal(err)
	}
	// A proxy of a source that refuses at once, kept (force) without
	// retries: added, or not, at once. Long URLs grow the database.
	add := func(i int) map[string]any {
		return api(t, p, "addStreamProxy", url.Values{"vhost": {"__defaultVhost__"}, "app": {"p"}, "stream": {fmt.Sprint("s", i)},
			"force": {"1"}, "retry_count": {"0"}, "url": {"rtmp://127.0.0.1:1/live/" + strings.Repeat("x", 2000)}})
	}
	acked := map[string]bool{}
	refused := 0
	for i := range 20 {
		r := add(i)
		switch {
		case r["code"] == float64(0):
			acked[fmt.Sprint("__defaultVhost__/p/s", i)] = true
		case strings.Contains(fmt.Sprint(r["msg"]), "no space left on device"):
			refused++
		default:
			t.Errorf("addStreamProxy on a full disk: %v, want success or the cause", r)
		}
	}
	if refused == 0 {
		t.Fatalf("no call refused on a full disk (%d acknowledged)", len(acked))
	}
	t.Logf("on the full disk: %d acknowledged, %d refused", len(acked), refused)
	listed := func() map[string]bool {
		out := map[string]bool{}
		for k := range proxyList(t, p) {
			out[k] = true
		}
		return out
	}
	if l := listed(); len(l) != len(acked) {
		t.Errorf("listStreamProxy %v, acknowledged %v", l, acked)
	}
	if code, _ := fltHealthz(p); code != 200 {
		t.Errorf("healthz %d on a full disk", code)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for i := 100; i < 103; i++ {
		if r := add(i); r["code"] != float64(0) {
			t.Fatalf("addStreamProxy after space returned: %v; log:\n%s", r, logs.String())
		}
		acked[fmt.Sprint("__defaultVhost__/p/s", i)] = true
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
	p = startServe(t, "--data-dir", data)
	if l := listed(); len(l) != len(acked) {
		t.Errorf("after kill -9: %d proxies, %d acknowledged: %v", len(l), len(acked), l)
	} else {
		for k := range acked {
			if !l[k] {
				t.Errorf("after kill -9: acknowledged %s is gone", k)
			}
		}
	}
}
