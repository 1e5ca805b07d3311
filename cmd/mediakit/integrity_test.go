package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/hls"
	"github.com/mediakit/mediakit/pkg/record"
)

// TestHLSRecordingSurvivesKill9: an HLS recording of `mediakit serve`
// killed with SIGKILL mid-recording leaves a playlist whose every segment
// exists whole, so the recording plays up to the last segment written.
func TestHLSRecordingSurvivesKill9(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfgFile := filepath.Join(dir, "mediakit.toml")
	if err := os.WriteFile(cfgFile, []byte("[hls]\nsegDur = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The later --data-dir wins over the one startServe passes.
	p := startServe(t, "--config", cfgFile, "--data-dir", dataDir)
	const stream = "kill9"
	testutil.PublishClip(t, "h264_aac.flv", "rtmp://"+p.rtmp+"/live/"+stream, true)

	client := &http.Client{Timeout: 5 * time.Second}
	params := url.Values{"type": {"0"}, "vhost": {"__defaultVhost__"}, "app": {"live"}, "stream": {stream}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Until ffmpeg's stream is published, startRecord answers that
		// it is not.
		reply, err := apiGetJSON(client, "http://"+p.http+"/index/api/startRecord?"+params.Encode())
		if err == nil && reply["code"] == float64(0) && reply["result"] == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("startRecord did not succeed within 20s: %v %v", reply, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	var playlist string
	deadline = time.Now().Add(30 * time.Second)
	for {
		matches, _ := filepath.Glob(filepath.Join(dataDir, "record", "live", stream, "hls", "*", "*", record.PlaylistName))
		if len(matches) == 1 {
			playlist = matches[0]
			if data, err := os.ReadFile(playlist); err == nil {
				if pl, err := hls.ParsePlaylist(data); err == nil && len(pl.Segments) >= 3 {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recording playlist with 3 segments within 30s (found %q); stderr:\n%s", matches, strings.Join(p.logs, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// No chance to finish anything: the files are as the last write left
	// them.
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.wait(t)

	data, err := os.ReadFile(playlist)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := hls.ParsePlaylist(data)
	if err != nil {
		t.Fatalf("playlist after kill -9: %v\n%s", err, data)
	}
	if len(pl.Segments) < 3 {
		t.Fatalf("playlist after kill -9 names %d segments, had 3 before:\n%s", len(pl.Segments), data)
	}
	for _, s := range pl.Segments {
		st, err := os.Stat(filepath.Join(filepath.Dir(playlist), s.URI))
		if err != nil {
			t.Errorf("playlist names %s: %v", s.URI, err)
		} else if st.Size() == 0 {
			t.Errorf("playlist names %s, which is empty", s.URI)
		}
	}

	// The playlist has no EXT-X-ENDLIST, so ffmpeg would take it for a
	// live one and wait for more segments. Probe it as a player would
	// once the recording is closed: the same list, ended, beside it.
	ended := filepath.Join(filepath.Dir(playlist), "ended.m3u8")
	if err := os.WriteFile(ended, append(data, "#EXT-X-ENDLIST\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	probe, err := testutil.FFprobe(ctx, t, ended)
	if err != nil {
		t.Fatal(err)
	}
	if v := probe.Video(); v == nil || v.NbReadFrames == 0 {
		t.Errorf("ffprobe reads no video frames from %s: %+v", playlist, probe)
	}
	// Decoding every frame logs nothing at level error: no segment is cut
	// short.
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-i", ended, "-f", "null", "-")
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Errorf("decoding %s: %v\n%s", playlist, err, out)
	}
}

// apiGetJSON calls the API and decodes its JSON reply.
func apiGetJSON(client *http.Client, u string) (map[string]any, error) {
	resp, err := client.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var reply map[string]any
	if err := json.Unmarshal(body, &reply); err != nil {
		return nil, err
	}
	return reply, nil
}

// TestRecordingIndexAfterKill9: an MP4 recording cut short by SIGKILL is
// a playable fragmented MP4, and after a restart on the same data dir the
// recording index knows it (with its duration from its fragments) and
// serves it: the index agrees with the disk.
func TestRecordingIndexAfterKill9(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfgFile := filepath.Join(dir, "mediakit.toml")
	if err := os.WriteFile(cfgFile, []byte("[protocol]\nenable_mp4 = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, "--config", cfgFile, "--data-dir", dataDir)
	const stream = "kill9mp4"
	testutil.PublishClip(t, "h264_aac.flv", "rtmp://"+p.rtmp+"/live/"+stream, true)

	// Wait until the file being written holds a few seconds of media.
	var file string
	deadline := time.Now().Add(30 * time.Second)
	for {
		matches, _ := filepath.Glob(filepath.Join(dataDir, "record", "live", stream, "*", "*.mp4"))
		if len(matches) == 1 {
			if st, err := os.Stat(matches[0]); err == nil && st.Size() > 400_000 {
				file = matches[0]
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no MP4 recording growing within 30s (found %q); stderr:\n%s", matches, strings.Join(p.logs, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.wait(t)

	p = startServe(t, "--config", cfgFile, "--data-dir", dataDir)
	client := &http.Client{Timeout: 5 * time.Second}
	u := "http://" + p.http + "/record/live/" + stream + "/list?start=" + url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339))
	var listed struct {
		Files []struct {
			Duration float64 `json:"duration"`
			URL      string  `json:"url"`
			Path     string  `json:"file_path"`
		} `json:"files"`
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(u)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			_ = json.Unmarshal(body, &listed)
		}
		if len(listed.Files) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed recording is not listed after the restart: %+v; stderr:\n%s", listed, strings.Join(p.logs, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	f := listed.Files[0]
	if f.Path != file || f.Duration < 2 {
		t.Fatalf("listed %+v, want %s with its seconds of media", f, file)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	probe, err := testutil.FFprobe(ctx, t, "http://"+p.http+f.URL)
	if err != nil {
		t.Fatal(err)
	}
	if v := probe.Video(); v == nil || probe.Format.Duration < f.Duration-1 {
		t.Errorf("the killed recording over HTTP: %+v (listed %.3f s)", probe.Format, f.Duration)
	}
}
