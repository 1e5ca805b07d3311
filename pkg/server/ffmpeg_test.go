package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/ffmpegsrc"
	"github.com/mediakit/mediakit/pkg/record"
)

// ffmpegChildren lists the live ffmpeg processes this test process
// started (the server runs in it): parent pid ours, name ffmpeg, not a
// zombie, and match in its command line. Tests running in parallel start
// ffmpeg processes of their own: a parallel test matches what only its
// processes carry, such as "rtmp://ADDR/" of its server or of its source;
// "" matches every ffmpeg, for a test that runs alone.
func ffmpegChildren(t *testing.T, match string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	self := os.Getpid()
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || end < open {
			continue
		}
		fields := strings.Fields(string(b[end+1:]))
		if len(fields) < 2 || fields[0] == "Z" || string(b[open+1:end]) != "ffmpeg" {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid != self {
			continue
		}
		if match != "" {
			cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err != nil || !strings.Contains(string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})), match) {
				continue
			}
		}
		out = append(out, pid)
	}
	return out
}

// processAlive reports whether pid runs (a zombie counts as gone).
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// ffmpegList calls listFFmpegSource.
func (ts *testServer) ffmpegList(t *testing.T) []map[string]any {
	t.Helper()
	r := ts.apiCall(t, "listFFmpegSource", nil)
	if code(r) != 0 {
		t.Fatalf("listFFmpegSource: %v", r)
	}
	items, _ := r["data"].([]any)
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		out = append(out, it.(map[string]any))
	}
	return out
}

// TestFFmpegSources drives addFFmpegSource end to end with real ffmpeg:
// a clip in the data dir pushed into live/ff with enable_hls and
// enable_mp4 while the configuration has both off, so the live HLS and
// the MP4 recording prove the source's options reach the stream's owner.
// Then the failure-modes 1 storm for FFmpeg sources: 20 goroutines add
// and delete that source at once, twice each, under -race. Afterwards no
// ffmpeg is left, every MP4 written is valid, the stored tasks are gone,
// and goroutines and file descriptors are back to their baseline.
//
// Not parallel: the baseline, and the ffmpeg processes, are the whole
// process's.
func TestFFmpegSources(t *testing.T) {
	testutil.RequireFFmpeg(t)
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to find ffmpeg processes")
	}
	baseGoroutines, baseFDs := runtime.NumGoroutine(), openFDs()
	func() {
		ts := startServer(t, func(c *config.Config) {
			c.Protocol.EnableHLS = false
			c.Protocol.EnableMP4 = false
			c.HLS.SegDur = 500 * time.Millisecond
		})
		if r := ts.apiCall(t, "listFFmpegSource", nil); code(r) != 0 {
			t.Fatalf("listFFmpegSource: %v: the server does not register the FFmpeg endpoints (pkg/server/ffmpeg.go's wiring in server.New)", r)
		}
		dataDir := ts.Config().General.DataDir
		clip := filepath.Join(dataDir, "clips", clipName)
		copyFile(t, testutil.Clip(t, clipName), clip)
		dst := ts.rtmpURL + "/live/ff"
		key := ffmpegsrc.Key(dst)
		add := url.Values{"src_url": {clip}, "dst_url": {dst}, "timeout_ms": {"20000"}, "enable_hls": {"1"}, "enable_mp4": {"1"}}

		// Refused before anything runs: -300 naming the input.
		for _, bad := range []url.Values{
			{"src_url": {"concat:" + clip + "|/etc/passwd"}, "dst_url": {dst}, "timeout_ms": {"1000"}},
			{"src_url": {testutil.Clip(t, clipName)}, "dst_url": {dst}, "timeout_ms": {"1000"}}, // outside the data dir
			{"src_url": {clip}, "dst_url": {filepath.Join(dataDir, "out.flv")}, "timeout_ms": {"1000"}},
			{"src_url": {clip}, "dst_url": {dst}},
		} {
			if r := ts.apiCall(t, "addFFmpegSource", bad); code(r) != -300 {
				t.Errorf("addFFmpegSource %v: %v, want -300", bad, r)
			}
		}
		if len(ffmpegChildren(t, "")) != 0 {
			t.Fatal("a refused source started ffmpeg")
		}

		// One source, step by step.
		r := ts.apiCall(t, "addFFmpegSource", add)
		if code(r) != 0 {
			t.Fatalf("addFFmpegSource: %v", r)
		}
		if got, _ := r["data"].(map[string]any)["key"].(string); got != key {
			t.Fatalf("key %q, want md5 of dst_url %s", got, key)
		}
		list := ts.ffmpegList(t)
		if len(list) != 1 || list[0]["status"] != "running" || list[0]["src_url"] != clip || list[0]["enable_mp4"] != true {
			t.Fatalf("listFFmpegSource: %v", list)
		}
		pid := int(list[0]["pid"].(float64))
		if !strings.Contains(list[0]["cmd"].(string), "-protocol_whitelist file -i file:") {
			t.Errorf("cmd %v: a local source reads through file: only", list[0]["cmd"])
		}
		// The owner started live HLS and MP4 recording from the source's
		// options.
		livePlaylist(t, ts.httpURL+"/live/ff/hls.m3u8")
		if n := sinkCount(t, ts, "live", "ff", record.SinkName(record.TypeMP4)); n != 1 {
			t.Errorf("%d MP4 recorders on live/ff, want 1", n)
		}
		if v := ts.metric(t, `mediakit_ffmpeg_sources{state="running"}`); v != 1 {
			t.Errorf("mediakit_ffmpeg_sources{running} = %v", v)
		}
		r = ts.apiCall(t, "delFFmpegSource", url.Values{"key": {key}})
		if code(r) != 0 || r["data"].(map[string]any)["flag"] != true {
			t.Fatalf("delFFmpegSource: %v", r)
		}
		if processAlive(pid) {
			t.Errorf("ffmpeg %d alive after delFFmpegSource answered", pid)
		}
		if len(ts.ffmpegList(t)) != 0 {
			t.Fatal("listed after delete")
		}

		// The storm.
		const workers, rounds = 20, 2
		var (
			mu       sync.Mutex
			failures []string
			pids     = map[int]bool{pid: true}
			ok       int
		)
		fail := func(format string, args ...any) {
			mu.Lock()
			failures = append(failures, fmt.Sprintf(format, args...))
			mu.Unlock()
		}
		client := &http.Client{Timeout: 60 * time.Second}
		call := func(name string, params url.Values) map[string]any {
			resp, err := client.PostForm(ts.httpURL+"/index/api/"+name, params)
			if err != nil {
				fail("%s: %v", name, err)
				return nil
			}
			defer resp.Body.Close()
			var reply map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
				fail("%s: %v", name, err)
			}
			return reply
		}
		// Every ffmpeg the storm runs is seen here or in the log: its pid
		// must be gone afterwards.
		stopWatch := make(chan struct{})
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			for {
				for _, p := range ffmpegChildren(t, "") {
					mu.Lock()
					pids[p] = true
					mu.Unlock()
				}
				select {
				case <-stopWatch:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range rounds {
					// Spread over the source's life: some adds join a
					// waiting add, some wait for a delete, some start anew.
					time.Sleep(time.Duration((w*7+i*13)%10) * 150 * time.Millisecond)
					r := call("addFFmpegSource", add)
					switch {
					case r == nil:
					case code(r) == 0:
						mu.Lock()
						ok++
						mu.Unlock()
					case code(r) == -1 && strings.Contains(fmt.Sprint(r["msg"]), "before its stream was live"):
						// deleted by another worker while it waited
					default:
						fail("worker %d round %d: addFFmpegSource: %v", w, i, r)
					}
					time.Sleep(time.Duration((w*3+i*11)%10) * 150 * time.Millisecond)
					if r := call("delFFmpegSource", url.Values{"key": {key}}); r != nil && code(r) != 0 {
						fail("worker %d round %d: delFFmpegSource: %v", w, i, r)
					}
				}
			}()
		}
		wg.Wait()
		close(stopWatch)
		<-watched
		for _, f := range failures {
			t.Error(f)
		}
		if ok == 0 {
			t.Fatal("no addFFmpegSource of the storm succeeded")
		}
		if list := ts.ffmpegList(t); len(list) != 0 {
			t.Fatalf("after the last delete: %v", list)
		}
		// Every ffmpeg started, as the server logged it.
		for _, line := range strings.Split(ts.logs.String(), "\n") {
			if strings.Contains(line, `msg="ffmpeg source started"`) {
				_, v, _ := strings.Cut(line, " pid=")
				if p, err := strconv.Atoi(strings.Fields(v)[0]); err == nil {
					pids[p] = true
				}
			}
		}
		t.Logf("storm: %d of %d adds answered 0, %d ffmpeg processes", ok, workers*rounds, len(pids))
		for p := range pids {
			if processAlive(p) {
				t.Errorf("ffmpeg %d still runs after every source was deleted", p)
			}
		}
		if left := ffmpegChildren(t, ""); len(left) != 0 {
			t.Errorf("ffmpeg processes left: %v", left)
		}
		if code, body := ts.get(t, "/healthz"); code != http.StatusOK {
			t.Fatalf("healthz after the storm: %d %s", code, body)
		}

		// Shutdown finishes the recordings.
		ts.stop(t)
		files := mp4Files(t, filepath.Join(dataDir, "record", "live", "ff"))
		if len(files) == 0 {
			t.Fatal("no MP4 recording of live/ff")
		}
		for _, f := range files {
			probeRecording(t, f)
		}
		t.Logf("%d MP4 recordings, all valid", len(files))
	}()
	waitBaseline(t, baseGoroutines, baseFDs)
}

// TestFFmpegSourceRestored is failure-modes 4 for FFmpeg sources: an
// acknowledged source runs again after the server restarts on the same
// data dir, without being added again; a deleted one does not.
func TestFFmpegSourceRestored(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	dataDir := t.TempDir()
	port := testutil.FreePort(t)
	serve := func() *testServer {
		return startServer(t, func(c *config.Config) {
			c.General.DataDir = dataDir
			c.RTMP.Addr = "127.0.0.1:" + strconv.Itoa(port)
		})
	}
	ts := serve()
	clip := filepath.Join(dataDir, "clips", clipName)
	copyFile(t, testutil.Clip(t, clipName), clip)
	dst := ts.rtmpURL + "/live/restored"
	r := ts.apiCall(t, "addFFmpegSource", url.Values{"src_url": {clip}, "dst_url": {dst}, "timeout_ms": {"20000"}})
	if code(r) != 0 {
		t.Fatalf("addFFmpegSource: %v", r)
	}
	ts.stop(t)
	if left := ffmpegChildren(t, ts.rtmpURL+"/"); len(left) != 0 {
		t.Fatalf("ffmpeg left after shutdown: %v", left)
	}

	ts = serve()
	waitStream(t, ts, "live/restored")
	list := ts.ffmpegList(t)
	if len(list) != 1 || list[0]["key"] != ffmpegsrc.Key(dst) {
		t.Fatalf("after restart: %v", list)
	}
	if r := ts.apiCall(t, "delFFmpegSource", url.Values{"key": {ffmpegsrc.Key(dst)}}); code(r) != 0 {
		t.Fatalf("delFFmpegSource: %v", r)
	}
	ts.stop(t)

	ts = serve()
	if list := ts.ffmpegList(t); len(list) != 0 {
		t.Fatalf("a deleted source came back: %v", list)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFFmpegSourceNetworkInputs: the protocol whitelist put before -i
// lets ffmpeg read what the network schemes need (RTMP over TCP,
// HTTP-FLV over HTTP).
func TestFFmpegSourceNetworkInputs(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, nil)
	testutil.PublishClip(t, clipName, ts.rtmpURL+"/live/src", true)
	waitStream(t, ts, "live/src")
	for name, src := range map[string]string{
		"rtmp":     ts.rtmpURL + "/live/src",
		"http-flv": ts.httpURL + "/live/src.live.flv",
	} {
		dst := ts.rtmpURL + "/live/from-" + name
		r := ts.apiCall(t, "addFFmpegSource", url.Values{"src_url": {src}, "dst_url": {dst}, "timeout_ms": {"20000"}})
		if code(r) != 0 {
			t.Fatalf("%s: addFFmpegSource: %v", name, r)
		}
		waitStream(t, ts, "live/from-"+name)
		if r := ts.apiCall(t, "delFFmpegSource", url.Values{"key": {ffmpegsrc.Key(dst)}}); code(r) != 0 {
			t.Fatalf("%s: delFFmpegSource: %v", name, r)
		}
	}
}

// TestFFmpegCommandNotSettable: ffmpeg.bin and ffmpeg.cmd choose what the
// server runs; setServerConfig skips them (they need a restart, and a
// saved value is never loaded for them), while ffmpeg.restart_sec may
// change.
func TestFFmpegCommandNotSettable(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	r := ts.apiCall(t, "setServerConfig", url.Values{"ffmpeg.bin": {"/bin/sh"}, "ffmpeg.cmd": {"%s -c %s%s"}})
	if code(r) != 0 || r["changed"] != float64(0) {
		t.Fatalf("setServerConfig of the ffmpeg command: %v", r)
	}
	if c := ts.Config().FFmpeg; c.Bin != "ffmpeg" || c.Cmd != ffmpegsrc.DefaultCmd {
		t.Fatalf("ffmpeg settings changed through the API: %+v", c)
	}
	r = ts.apiCall(t, "setServerConfig", url.Values{"ffmpeg.restart_sec": {"3600"}})
	if code(r) != 0 || r["changed"] != float64(1) || ts.Config().FFmpeg.RestartSec != time.Hour {
		t.Fatalf("setServerConfig ffmpeg.restart_sec: %v, %v", r, ts.Config().FFmpeg.RestartSec)
	}
}

// TestFFmpegSourceClosedWithItsStream: close_stream on an FFmpeg source's
// stream deletes the source, as ZLMediaKit does, rather than letting it
// restart ffmpeg and publish again.
func TestFFmpegSourceClosedWithItsStream(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, nil)
	clip := filepath.Join(ts.Config().General.DataDir, "clips", clipName)
	copyFile(t, testutil.Clip(t, clipName), clip)
	dst := ts.rtmpURL + "/live/closeme"
	if r := ts.apiCall(t, "addFFmpegSource", url.Values{"src_url": {clip}, "dst_url": {dst}, "timeout_ms": {"20000"}}); code(r) != 0 {
		t.Fatalf("addFFmpegSource: %v", r)
	}
	r := ts.apiCall(t, "close_streams", url.Values{"app": {"live"}, "stream": {"closeme"}, "force": {"1"}})
	if code(r) != 0 {
		t.Fatalf("close_streams: %v", r)
	}
	if list := ts.ffmpegList(t); len(list) != 0 {
		t.Fatalf("the source of a closed stream is still listed: %v", list)
	}
	if left := ffmpegChildren(t, ts.rtmpURL+"/"); len(left) != 0 {
		t.Fatalf("ffmpeg left: %v", left)
	}
	if _, live, _ := ts.Engine.Stream(context.Background(), engine.NewKey("", "live", "closeme")); live {
		t.Fatal("the stream is live after close_streams")
	}
}
