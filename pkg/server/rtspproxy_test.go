package server

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/rtspcam"
	"github.com/mediakit/mediakit/pkg/config"
)

// TestRTSPPullProxy: addStreamProxy with an rtsp:// url pulls a camera
// over TCP (rtp_type 0) and UDP (rtp_type 1); an HTTP-FLV player that
// waits for the stream gets every frame of the clip with its codecs.
func TestRTSPPullProxy(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	for _, c := range []struct {
		name    string
		rtpType string
	}{{"tcp", "0"}, {"udp", "1"}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // each on its own server: the wait counts the server's players
			ts := startServer(t, nil)
			cam := rtspcam.Start(t, rtspcam.Options{Speed: 2, UDP: c.rtpType == "1"})
			stream := "cam_" + c.name
			play := probeAsync(t, ts.httpURL+"/proxy/"+stream+".live.flv")
			waitFor(t, 10*time.Second, "the player waiting", func() bool { return ts.Engine.Stats().WaitingReaders.Load() == 1 })
			reply := ts.apiCall(t, "addStreamProxy", url.Values{
				"app": {"proxy"}, "stream": {stream}, "url": {cam.URL}, "rtp_type": {c.rtpType}, "retry_count": {"0"},
			})
			if code(reply) != 0 {
				t.Fatalf("addStreamProxy = %v", reply)
			}
			res := <-play
			if res.err != nil {
				t.Fatalf("player: %v", res.err)
			}
			v, a := res.probe.Video(), res.probe.Audio()
			if v == nil || a == nil || v.CodecName != "h264" || a.CodecName != "aac" || v.Width != 320 || v.Height != 240 {
				t.Fatalf("streams %+v, want h264 320x240 and aac", res.probe.Streams)
			}
			if v.NbReadFrames != cam.Video || a.NbReadFrames != cam.Audio {
				t.Errorf("player got %d video and %d audio frames, want %d and %d", v.NbReadFrames, a.NbReadFrames, cam.Video, cam.Audio)
			}
		})
	}
}

// TestRTSPPullProxyBadRTPType: rtp_type outside 0-2 is refused for an
// rtsp:// url, before anything is stored.
func TestRTSPPullProxyBadRTPType(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	reply := ts.apiCall(t, "addStreamProxy", url.Values{
		"app": {"proxy"}, "stream": {"x"}, "url": {"rtsp://127.0.0.1:1/x"}, "rtp_type": {"7"}, "retry_count": {"0"},
	})
	if code(reply) == 0 || !strings.Contains(reply["msg"].(string), "rtp_type") {
		t.Fatalf("addStreamProxy with rtp_type 7 = %v", reply)
	}
	if list, _ := ts.apiCall(t, "listStreamProxy", nil)["data"].([]any); len(list) != 0 {
		t.Fatalf("listStreamProxy = %v", list)
	}
}

// TestRTSPOnDemandPull: a player of a stream nobody publishes makes the
// server pull it from an rtsp:// cluster.origin_url.
func TestRTSPOnDemandPull(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	cam := rtspcam.Start(t, rtspcam.Options{Path: "/live/door", After: rtspcam.Loop})
	origin := strings.TrimSuffix(cam.URL, "/live/door") + "/%s/%s"
	ts := startServer(t, func(c *config.Config) { c.Cluster.OriginURL = origin })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := testutil.FFprobe(ctx, t, ts.httpURL+"/live/door.live.flv", "-read_intervals", "%+2")
	if err != nil {
		t.Fatalf("player of the on-demand stream: %v", err)
	}
	if v := p.Video(); v == nil || v.CodecName != "h264" || v.NbReadFrames < 25 {
		t.Fatalf("streams %+v, want at least 2 s of h264", p.Streams)
	}
	if cam.Plays() == 0 {
		t.Fatal("the camera was never played")
	}
}
