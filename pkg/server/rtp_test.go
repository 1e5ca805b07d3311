package server

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/gbsender"
	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/format/ps"
)

// TestWVPRTPFlow drives the GB28181 flow of WVP-GB28181-pro, as its
// source does it: getRtpInfo, openRtpServer with port 0 and the SSRC in
// decimal, the camera's PS over RTP, on_publish renaming rtp/HEX to
// device_channel, play, then closeRtpServer with the new name and
// close_streams, and a reopen.
func TestWVPRTPFlow(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	const (
		ssrc    = "0200000001"
		hex     = "0BEBC201" // 200000001
		renamed = "34020000001320000001_34020000001320000002"
	)
	h := newHookServer(t, func(name string, body map[string]any) map[string]any {
		if name == "on_publish" && body["app"] == "rtp" {
			return map[string]any{"code": 0, "msg": "success", "stream_replace": renamed, "enable_audio": true}
		}
		return nil
	})
	ts := startServer(t, func(c *config.Config) {
		c.API.Secret = "wvp"
		c.RTPProxy.PortRange = "42000-42100"
	})
	ts.enableHooks(t, h, url.Values{"secret": {"wvp"}, "hook.on_rtp_server_timeout": {h.url("on_rtp_server_timeout")}})
	call := func(name string, kv ...string) map[string]any {
		v := url.Values{"secret": {"wvp"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return ts.apiCall(t, name, v)
	}
	if r := call("getRtpInfo", "stream_id", hex); r["exist"] != false {
		t.Fatalf("getRtpInfo before: %v", r)
	}
	r := call("openRtpServer", "app", "rtp", "stream_id", hex, "port", "0", "tcp_mode", "0", "only_track", "0", "re_use_port", "1", "ssrc", ssrc)
	if code(r) != 0 {
		t.Fatalf("openRtpServer: %v", r)
	}
	port := int(r["port"].(float64))
	if port < 42000 || port > 42100 {
		t.Fatalf("port %d outside the range", port)
	}
	if r := call("openRtpServer", "stream_id", hex, "port", "0"); code(r) != -300 || r["msg"] != "This stream already exists" {
		t.Errorf("second open: %v", r)
	}
	list := call("listRtpServer")
	if data, _ := list["data"].([]any); len(data) != 1 || data[0].(map[string]any)["stream_id"] != hex ||
		data[0].(map[string]any)["ssrc"] != float64(200000001) {
		t.Errorf("listRtpServer: %v", list)
	}

	// A player waits on the new name before the camera sends.
	flvPath := fmt.Sprintf("%s/rtp/%s.live.flv", ts.httpURL, renamed)
	probed := make(chan *testutil.Probe, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		p, err := testutil.FFprobe(ctx, t, flvPath, "-count_frames")
		if err != nil {
			t.Errorf("ffprobe: %v", err)
		}
		probed <- p
	}()
	waitFor(t, 10*time.Second, "player waiting", func() bool { return ts.Engine.Stats().WaitingReaders.Load() >= 1 })

	s, err := gbsender.Dial(gbsender.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), SSRC: 200000001,
		VideoType: ps.StreamH264, AudioType: ps.StreamG711A, Speed: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sendDone := make(chan error, 1)
	go func() { sendDone <- s.Send(context.Background(), gbsender.CameraClip(t)) }()

	pub := h.wait(t, "on_publish", 10*time.Second)
	for k, want := range map[string]any{"app": "rtp", "stream": hex, "schema": "rtp", "originType": float64(3)} {
		if pub[k] != want {
			t.Errorf("on_publish %s = %v, want %v (%v)", k, pub[k], want, pub)
		}
	}
	waitFor(t, 10*time.Second, "getRtpInfo exist", func() bool { return call("getRtpInfo", "stream_id", hex)["exist"] == true })
	info := call("getRtpInfo", "stream_id", hex)
	if info["peer_ip"] != "127.0.0.1" || info["local_port"] != float64(port) {
		t.Errorf("getRtpInfo: %v", info)
	}
	waitFor(t, 10*time.Second, "renamed stream listed", func() bool {
		ml := call("getMediaList", "app", "rtp", "stream", renamed)
		data, _ := ml["data"].([]any)
		if len(data) == 0 {
			return false
		}
		item := data[0].(map[string]any)
		if !strings.HasSuffix(fmt.Sprint(item["originUrl"]), "/rtp/"+hex) || item["originType"] != float64(3) {
			t.Fatalf("getMediaList item: %v", item)
		}
		// The RTP received counts as the stream's bytes in.
		return item["totalBytes"].(float64) > 0
	})
	if err := <-sendDone; err != nil {
		t.Fatal(err)
	}
	// The renamed id is an alias of the RTP server.
	if r := call("closeRtpServer", "stream_id", renamed); r["hit"] != float64(1) {
		t.Fatalf("closeRtpServer by the new name: %v", r)
	}
	if r := call("close_streams", "app", "rtp", "stream", renamed, "force", "1"); code(r) != 0 {
		t.Errorf("close_streams: %v", r)
	}
	var p *testutil.Probe
	select {
	case p = <-probed:
	case <-time.After(40 * time.Second):
		t.Fatal("ffprobe did not finish")
	}
	if p == nil || p.Video() == nil || p.Video().CodecName != "h264" || p.Video().NbReadFrames < 140 {
		t.Errorf("played over HTTP-FLV: %+v", p)
	}
	if p != nil && (p.Audio() == nil || p.Audio().CodecName != "pcm_alaw") {
		t.Errorf("audio: %+v", p.Audio())
	}
	// The id and the port are free at once.
	if r := call("openRtpServer", "stream_id", hex, "port", fmt.Sprint(port)); code(r) != 0 {
		t.Fatalf("reopen: %v", r)
	}
	// Nothing arrives: the timeout closes it and says so.
	if r := call("setServerConfig", "rtp_proxy.timeoutSec", "1"); code(r) != 0 {
		t.Fatal(r)
	}
	if r := call("closeRtpServer", "stream_id", hex); r["hit"] != float64(1) {
		t.Fatal(r)
	}
	if r := call("openRtpServer", "stream_id", hex, "port", "0", "tcp_mode", "1"); code(r) != 0 {
		t.Fatal(r)
	}
	to := h.wait(t, "on_rtp_server_timeout", 15*time.Second)
	if to["stream_id"] != hex || to["app"] != "rtp" || to["tcp_mode"] != float64(1) {
		t.Errorf("on_rtp_server_timeout: %v", to)
	}
	if r := call("listRtpServer"); r["data"] != nil {
		t.Errorf("after the timeout: %v", r)
	}
}
