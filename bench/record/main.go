// Command record measures what recording and live HLS cost mediakit: the
// server's CPU with K published 2 Mbit/s streams and nothing else, then
// with live HLS muxing, MP4 recording, HLS recording, and with N HLS
// viewers polling every stream. Each mode runs the server afresh as a
// child process; CPU comes from /proc, so publishers and viewers are not
// counted.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/bench/internal/benchio"
	"github.com/mediakit/mediakit/bench/internal/procstat"
	"github.com/mediakit/mediakit/pkg/hls"
)

type result struct {
	Mode       string  `json:"mode"`
	Streams    int     `json:"streams"`
	Viewers    int     `json:"viewers"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
	ViewerMB   float64 `json:"viewer_mb,omitempty"`
	RecordedMB float64 `json:"recorded_mb,omitempty"`
	RSSMB      float64 `json:"rss_mb"`
}

func main() {
	bin := flag.String("mediakit", "mediakit", "mediakit binary")
	clip := flag.String("clip", "", "FLV clip to publish in a loop (required)")
	streams := flag.Int("streams", 4, "published streams")
	viewers := flag.Int("viewers", 100, "HLS viewers per stream in the hls-viewers mode")
	window := flag.Duration("duration", 30*time.Second, "measurement window")
	modes := flag.String("modes", "baseline,hls-live,mp4,hls-record,hls-viewers", "modes to run")
	out := flag.String("out", "", "append JSON results to this file")
	flag.Parse()
	if *clip == "" {
		fmt.Fprintln(os.Stderr, "record: -clip is required")
		os.Exit(2)
	}
	for _, mode := range strings.Split(*modes, ",") {
		r, err := run(*bin, *clip, mode, *streams, *viewers, *window)
		if err != nil {
			fmt.Fprintf(os.Stderr, "record: %s: %v\n", mode, err)
			os.Exit(1)
		}
		benchio.Emit(*out, r)
	}
}

func run(bin, clip, mode string, streams, viewers int, window time.Duration) (*result, error) {
	dir, err := os.MkdirTemp("", "bench-record-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	hlsOn := mode == "hls-live" || mode == "hls-viewers"
	conf := fmt.Sprintf("[protocol]\nenable_hls = %v\nenable_mp4 = %v\n[log]\nlevel = \"warn\"\n", hlsOn, mode == "mp4")
	if err := os.WriteFile(filepath.Join(dir, "m.toml"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	rtmpPort, httpPort := benchio.FreePort(), benchio.FreePort()
	srv := exec.Command(bin, "serve", "--config", filepath.Join(dir, "m.toml"), "--data-dir", filepath.Join(dir, "data"),
		"--rtmp-addr", fmt.Sprintf("127.0.0.1:%d", rtmpPort), "--http-addr", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"--rtsp-addr", "", "--rtp-addr", "")
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		return nil, err
	}
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	api := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	if err := waitHTTP(api + "/healthz"); err != nil {
		return nil, err
	}
	var pubs []*exec.Cmd
	defer func() {
		for _, p := range pubs {
			p.Process.Kill()
			p.Wait()
		}
	}()
	for i := 0; i < streams; i++ {
		p := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1",
			"-i", clip, "-c", "copy", "-f", "flv", fmt.Sprintf("rtmp://127.0.0.1:%d/live/s%d", rtmpPort, i))
		p.Stderr = os.Stderr
		if err := p.Start(); err != nil {
			return nil, err
		}
		pubs = append(pubs, p)
	}
	time.Sleep(4 * time.Second)
	if mode == "hls-record" {
		for i := 0; i < streams; i++ {
			resp, err := http.Get(fmt.Sprintf("%s/index/api/startRecord?type=0&vhost=__defaultVhost__&app=live&stream=s%d", api, i))
			if err != nil {
				return nil, err
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), `"result":true`) {
				return nil, fmt.Errorf("startRecord s%d: %s", i, body)
			}
		}
	}
	var viewerBytes atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	nViewers := 0
	if mode == "hls-viewers" {
		nViewers = viewers * streams
		for i := 0; i < nViewers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				viewHLS(fmt.Sprintf("%s/live/s%d/hls.m3u8", api, i%streams), stop, &viewerBytes)
			}()
		}
	}
	time.Sleep(5 * time.Second)
	pid := srv.Process.Pid
	cpu0, bytes0 := procstat.CPUSeconds(pid), viewerBytes.Load()
	recorded0 := dirSize(filepath.Join(dir, "data", "record"))
	t0 := time.Now()
	time.Sleep(window)
	cpu1, bytes1 := procstat.CPUSeconds(pid), viewerBytes.Load()
	recorded1 := dirSize(filepath.Join(dir, "data", "record"))
	rss, _ := procstat.MemMB(pid)
	close(stop)
	wg.Wait()
	return &result{Mode: mode, Streams: streams, Viewers: nViewers, Seconds: time.Since(t0).Seconds(), CPUSeconds: cpu1 - cpu0,
		ViewerMB: float64(bytes1-bytes0) / 1e6, RecordedMB: float64(recorded1-recorded0) / 1e6, RSSMB: rss}, nil
}

// viewHLS polls a live playlist every second and fetches each new
// segment once, as a player does.
func viewHLS(url string, stop <-chan struct{}, bytes *atomic.Int64) {
	client := &http.Client{Timeout: 10 * time.Second}
	base := url[:strings.LastIndexByte(url, '/')+1]
	seen := map[string]bool{}
	for {
		select {
		case <-stop:
			return
		case <-time.After(time.Second):
		}
		resp, err := client.Get(url)
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		pl, err := hls.ParsePlaylist(body)
		if err != nil {
			continue
		}
		for _, s := range pl.Segments {
			if seen[s.URI] {
				continue
			}
			seen[s.URI] = true
			r, err := client.Get(base + s.URI)
			if err != nil {
				continue
			}
			n, _ := io.Copy(io.Discard, r.Body)
			r.Body.Close()
			bytes.Add(n)
		}
	}
}

func waitHTTP(url string) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("server did not answer " + url)
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}
