package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
)

// api calls the API of p with params and returns its reply.
func api(t *testing.T, p *process, name string, params url.Values) map[string]any {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	reply, err := apiGetJSON(client, "http://"+p.http+"/index/api/"+name+"?"+params.Encode())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return reply
}

func apiOK(t *testing.T, p *process, name string, params url.Values) map[string]any {
	t.Helper()
	reply := api(t, p, name, params)
	if reply["code"] != float64(0) {
		t.Fatalf("%s(%v) = %v; stderr:\n%s", name, params, reply, strings.Join(p.logs, "\n"))
	}
	return reply
}

// proxyList returns listStreamProxy's items by key.
func proxyList(t *testing.T, p *process) map[string]map[string]any {
	t.Helper()
	reply := apiOK(t, p, "listStreamProxy", nil)
	out := map[string]map[string]any{}
	items, _ := reply["data"].([]any)
	for _, it := range items {
		m := it.(map[string]any)
		out[m["key"].(string)] = m
	}
	return out
}

// waitPlays polls until ffprobe reads video and audio frames from u.
func waitPlays(t *testing.T, u string, what string) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		probe, err := testutil.FFprobe(ctx, t, u, "-read_intervals", "%+2")
		cancel()
		if err == nil && probe.Video() != nil && probe.Video().CodecName == "h264" && probe.Video().NbReadFrames > 0 &&
			probe.Audio() != nil && probe.Audio().CodecName == "aac" {
			return
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s (%s) did not play within 45s: %v", what, u, last)
}

// TestProxiesSurviveKill9: proxies and pushers added through the API come
// back after kill -9 and play; a deleted one stays deleted; a proxy whose
// source goes down recovers by itself when it returns.
func TestProxiesSurviveKill9(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	origin := startServe(t)
	pub := publishAndWait(t, origin, "src")

	dataDir := filepath.Join(t.TempDir(), "edge")
	edge := startServe(t, "--data-dir", dataDir)
	src := "rtmp://" + origin.rtmp + "/live/src"
	reply := apiOK(t, edge, "addStreamProxy", url.Values{"vhost": {"__defaultVhost__"}, "app": {"proxy"}, "stream": {"rtmp"}, "url": {src}})
	if key := reply["data"].(map[string]any)["key"]; key != "__defaultVhost__/proxy/rtmp" {
		t.Fatalf("addStreamProxy key = %v", key)
	}
	dup := api(t, edge, "addStreamProxy", url.Values{"vhost": {"__defaultVhost__"}, "app": {"proxy"}, "stream": {"rtmp"}, "url": {src}})
	if dup["code"] != float64(-1) || dup["msg"] != "This stream already exists" {
		t.Fatalf("duplicate addStreamProxy = %v", dup)
	}
	apiOK(t, edge, "addStreamProxy", url.Values{"vhost": {"__defaultVhost__"}, "app": {"proxy"}, "stream": {"flv"},
		"url": {"http://" + origin.http + "/live/src.live.flv"}})
	push := apiOK(t, edge, "addStreamPusherProxy", url.Values{"schema": {"rtmp"}, "vhost": {"__defaultVhost__"}, "app": {"proxy"},
		"stream": {"rtmp"}, "dst_url": {"rtmp://" + origin.rtmp + "/live/pushed"}})
	pushKey := push["data"].(map[string]any)["key"].(string)
	waitPlays(t, "rtmp://"+edge.rtmp+"/proxy/rtmp", "the RTMP proxy")
	waitPlays(t, "http://"+edge.http+"/proxy/flv.live.flv", "the HTTP-FLV proxy")
	waitPlays(t, "rtmp://"+origin.rtmp+"/live/pushed", "the push proxy's destination")
	del := apiOK(t, edge, "delStreamProxy", url.Values{"key": {"__defaultVhost__/proxy/flv"}})
	if del["data"].(map[string]any)["flag"] != true {
		t.Fatalf("delStreamProxy = %v", del)
	}
	info := apiOK(t, edge, "getProxyInfo", url.Values{"key": {"__defaultVhost__/proxy/rtmp"}})["data"].(map[string]any)
	if info["status"] != float64(0) || info["status_str"] != "playing" || len(info["tracks"].([]any)) != 2 || info["url"] != src {
		t.Fatalf("getProxyInfo = %v", info)
	}

	// kill -9, restart on the same data dir.
	if err := edge.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	edge.wait(t)
	edge = startServe(t, "--data-dir", dataDir)
	list := proxyList(t, edge)
	if _, ok := list["__defaultVhost__/proxy/rtmp"]; !ok || len(list) != 1 {
		t.Fatalf("proxies after kill -9 and restart = %v, want only proxy/rtmp", list)
	}
	waitPlays(t, "rtmp://"+edge.rtmp+"/proxy/rtmp", "the restored RTMP proxy")
	pushes := apiOK(t, edge, "listStreamPusherProxy", nil)["data"].([]any)
	if len(pushes) != 1 || pushes[0].(map[string]any)["key"] != pushKey {
		t.Fatalf("pushers after restart = %v", pushes)
	}
	waitPlays(t, "rtmp://"+origin.rtmp+"/live/pushed", "the restored push proxy's destination")

	// The source goes down, then comes back: the proxy recovers alone.
	pub.Stop()
	deadline := time.Now().Add(40 * time.Second)
	for {
		item := proxyList(t, edge)["__defaultVhost__/proxy/rtmp"]
		if item != nil && item["status"] == float64(1) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the proxy still reports playing 40s after its source went: %v", item)
		}
		time.Sleep(100 * time.Millisecond)
	}
	publishAndWait(t, origin, "src")
	waitPlays(t, "rtmp://"+edge.rtmp+"/proxy/rtmp", "the proxy after its source came back")
	item := proxyList(t, edge)["__defaultVhost__/proxy/rtmp"]
	if item["rePullCount"].(float64) < 1 {
		t.Fatalf("rePullCount after a recovery = %v", item["rePullCount"])
	}
	// /metrics counts them.
	if v := metricValue(t, edge.http, "mediakit_proxies", `state="playing"`); v != 1 {
		t.Fatalf("mediakit_proxies{state=playing} = %v", v)
	}

	// A deleted pusher stays deleted across another kill -9.
	del = apiOK(t, edge, "delStreamPusherProxy", url.Values{"key": {pushKey}})
	if del["data"].(map[string]any)["flag"] != true {
		t.Fatalf("delStreamPusherProxy = %v", del)
	}
	if err := edge.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	edge.wait(t)
	edge = startServe(t, "--data-dir", dataDir)
	if pushes, ok := apiOK(t, edge, "listStreamPusherProxy", nil)["data"]; ok {
		t.Fatalf("pushers after delete, kill -9 and restart = %v, want none", pushes)
	}
}

// TestOnDemandPull: a player asking for a stream nobody publishes gets it
// pulled from the URL on_stream_not_found answers, or from
// cluster.origin_url, which is also the fallback when the hook's URL
// fails; the pull stops once nobody watches.
func TestOnDemandPull(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	origin := startServe(t)
	publishAndWait(t, origin, "src")
	publishAndWait(t, origin, "fallback")
	refused := testutil.FreeAddr(t)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		w.Header().Set("Content-Type", "application/json")
		if body["stream"] == "byhook" {
			_ = json.NewEncoder(w).Encode(map[string]any{"code": 0, "close": false, "url": "rtmp://" + origin.rtmp + "/live/src"})
			return
		}
		if body["stream"] == "fallback" {
			_ = json.NewEncoder(w).Encode(map[string]any{"code": 0, "close": false, "url": "rtmp://" + refused + "/live/fallback"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"code": 0, "close": false})
	}))
	defer hook.Close()
	cfg := writeConfig(t, `[general]
streamNoneReaderDelayMS = 1000
[protocol]
continue_push_ms = 500
[hook]
enable = true
on_stream_not_found = "`+hook.URL+`/not_found"
[cluster]
origin_url = "rtmp://`+origin.rtmp+`/%s/%s"
`)
	edge := startServe(t, "--config", cfg)
	for _, tc := range []struct{ name, path string }{
		{"hook answer", "/live/byhook"},
		{"cluster origin", "/live/src"},
		{"origin after the hook's URL fails", "/live/fallback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			waitPlays(t, "http://"+edge.http+tc.path+".live.flv", "the on-demand stream")
			// A player that stays, so that the pull is not closed as
			// unwatched while it is looked at.
			player := testutil.StartFFmpeg(t, "-i", "http://"+edge.http+tc.path+".live.flv", "-c", "copy", "-f", "null", "-")
			key := "__defaultVhost__" + tc.path
			deadline := time.Now().Add(20 * time.Second)
			for {
				item := proxyList(t, edge)[key]
				if item != nil && item["on_demand"] == true && item["status"] == float64(0) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("listStreamProxy has no playing on-demand %s: %v", key, proxyList(t, edge))
				}
				time.Sleep(100 * time.Millisecond)
			}
			player.Stop()
			deadline = time.Now().Add(30 * time.Second)
			for {
				_, listed := proxyList(t, edge)[key]
				online := api(t, edge, "isMediaOnline", url.Values{"schema": {"rtmp"}, "vhost": {"__defaultVhost__"}, "app": {"live"},
					"stream": {strings.TrimPrefix(tc.path, "/live/")}})["online"] == true
				if !listed && !online {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("on-demand %s still listed=%v online=%v 30s after its player left", key, listed, online)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// TestDamagedDatabase: serve refuses to start on a damaged database,
// naming the file and the cause on one line, and leaves it as it was.
func TestDamagedDatabase(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	db := filepath.Join(dataDir, "mediakit.db")
	garbage := []byte(strings.Repeat("this is not a bbolt database ", 500))
	if err := os.WriteFile(db, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runBinary(t, nil, "serve", "--rtmp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--rtp-addr", "", "--rtsp-addr", "", "--data-dir", dataDir)
	if code != 1 {
		t.Fatalf("exit code %d, want 1; stderr:\n%s", code, stderr)
	}
	testutil.CheckOneLineError(t, stdout, lastLine(stderr))
	if !strings.Contains(stderr, db) || !strings.Contains(stderr, "damaged") {
		t.Fatalf("stderr does not name %s and the damage:\n%s", db, stderr)
	}
	after, _ := os.ReadFile(db)
	if string(after) != string(garbage) {
		t.Fatal("the damaged database was modified")
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1] + "\n"
}
