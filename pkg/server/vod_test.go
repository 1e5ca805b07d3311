package server

import (
	"context"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/remux"
)

// TestLoadMP4File: a day of recordings loaded with ZLMediaKit's
// loadMP4File plays whole, in order, over HTTP-FLV and RTSP, timestamps
// monotonic and rescaled by the speed; setRecordSpeed and
// seekRecordStamp answer as ZLMediaKit's; paths outside the roots are
// refused.
func TestLoadMP4File(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, nil)
	day := filepath.Join(ts.Config().General.DataDir, "record", "live", "cam", "2026-12-01")
	for _, name := range []string{"10-00-00.mp4", "10-00-06.mp4"} {
		if _, err := remux.Run(context.Background(), remux.Options{Inputs: []string{testutil.Clip(t, clipName)}, Output: filepath.Join(day, name)}); err != nil {
			t.Fatal(err)
		}
	}
	load := func(stream string, extra url.Values) map[string]any {
		v := url.Values{"vhost": {"__defaultVhost__"}, "app": {"vod"}, "stream": {stream}, "file_path": {day}}
		for k, vals := range extra {
			v[k] = vals
		}
		return ts.apiCall(t, "loadMP4File", v)
	}
	for _, proto := range []string{"flv", "rtsp"} {
		stream := "day-" + proto
		r := load(stream, url.Values{"speed": {"4"}})
		data, _ := r["data"].(map[string]any)
		if code(r) != 0 || data == nil || !near(data["duration_ms"].(float64), 2*clipSeconds*1000, 100) {
			t.Fatalf("loadMP4File: %v", r)
		}
		u := ts.httpURL + "/vod/" + stream + ".live.flv"
		if proto == "rtsp" {
			u = "rtsp://" + ts.RTSPAddr() + "/vod/" + stream
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		pkts, err := testutil.FramePackets(ctx, t, u, "-select_streams", "v")
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", proto, err)
		}
		// A player joins a second or so in (the GOP cache): most of the
		// 300 frames, in order, at a quarter of 40 ms apart.
		if len(pkts) < 250 || len(pkts) > 2*clipVideoFrames {
			t.Errorf("%s: %d video frames, want most of %d", proto, len(pkts), 2*clipVideoFrames)
		}
		for i := 1; i < len(pkts); i++ {
			if d := pkts[i].DTSTime - pkts[i-1].DTSTime; d <= 0 || d > 0.04 {
				t.Fatalf("%s: frame %d: DTS step %.3f s, want 0.010 (40 ms at speed 4)", proto, i, d)
			}
		}
	}

	r := load("seek", url.Values{"file_repeat": {"1"}})
	if code(r) != 0 {
		t.Fatalf("loadMP4File: %v", r)
	}
	seek := url.Values{"vhost": {"__defaultVhost__"}, "app": {"vod"}, "stream": {"seek"}, "stamp": {"7000"}}
	if r := ts.apiCall(t, "seekRecordStamp", seek); code(r) != 0 || r["result"] != true {
		t.Errorf("seekRecordStamp: %v", r)
	}
	speed := url.Values{"vhost": {"__defaultVhost__"}, "app": {"vod"}, "stream": {"seek"}, "speed": {"2.5"}}
	if r := ts.apiCall(t, "setRecordSpeed", speed); code(r) != 0 {
		t.Errorf("setRecordSpeed: %v", r)
	}
	speed.Set("speed", "20")
	if r := ts.apiCall(t, "setRecordSpeed", speed); code(r) != -300 {
		t.Errorf("setRecordSpeed 20: %v", r)
	}
	speed.Set("stream", "nothing")
	speed.Set("speed", "2")
	if r := ts.apiCall(t, "setRecordSpeed", speed); code(r) != -500 {
		t.Errorf("setRecordSpeed of no playback: %v", r)
	}
	if r := load("seek", nil); code(r) != -1 {
		t.Errorf("loading onto a playing stream: %v", r)
	}
	for _, bad := range []string{"/etc", filepath.Join(day, "..", "..", "..", "..", "..", "..")} {
		if r := load("bad", url.Values{"file_path": {bad}}); code(r) != -300 {
			t.Errorf("file_path %s: %v", bad, r)
		}
	}
	// The playback is listed once its reader has declared the tracks,
	// which it does after loadMP4File has answered.
	var listed map[string]any
	if !testutil.Poll(5*time.Second, func() bool {
		listed = ts.apiCall(t, "getMediaList", url.Values{"app": {"vod"}, "stream": {"seek"}, "schema": {"rtmp"}})
		items, _ := listed["data"].([]any)
		return code(listed) != 0 || len(items) > 0
	}) || code(listed) != 0 {
		t.Fatalf("getMediaList: %v", listed)
	}
	if items, _ := listed["data"].([]any); len(items) != 1 || items[0].(map[string]any)["originTypeStr"] != "mp4_vod" {
		t.Errorf("getMediaList of the playback: %v", listed["data"])
	}
}
