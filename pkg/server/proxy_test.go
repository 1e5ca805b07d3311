package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/record"
)

// TestProxyLocalFilesConfined: a proxy reads local files only inside the
// data dir (or record.allow_paths), as recording paths are confined; a
// file there plays, with the stream options of the call applied by the
// stream's owner.
func TestProxyLocalFilesConfined(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	outside := filepath.Join(t.TempDir(), "secret.flv")
	data, err := os.ReadFile(testutil.Clip(t, "h264_aac.flv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(outside, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{outside, "file://" + outside, "../" + filepath.Base(filepath.Dir(outside)) + "/secret.flv", "x" + strings.Repeat("/..", 20) + outside} {
		reply := ts.apiCall(t, "addStreamProxy", url.Values{"app": {"proxy"}, "stream": {"f"}, "url": {u}, "retry_count": {"0"}})
		if code(reply) != -1 {
			t.Fatalf("addStreamProxy of %s = %v, want -1", u, reply)
		}
	}
	inside := filepath.Join(ts.Config().General.DataDir, "clip.flv")
	if err := os.WriteFile(inside, data, 0o600); err != nil {
		t.Fatal(err)
	}
	reply := ts.apiCall(t, "addStreamProxy", url.Values{"app": {"proxy"}, "stream": {"f"}, "url": {"clip.flv"}, "enable_hls": {"0"}})
	if code(reply) != 0 {
		t.Fatalf("addStreamProxy of a file in the data dir = %v", reply)
	}
	list := ts.apiCall(t, "listStreamProxy", nil)["data"].([]any)
	if len(list) != 1 {
		t.Fatalf("listStreamProxy = %v", list)
	}
	if st, _ := list[0].(map[string]any)["options"].(map[string]any); st["enable_hls"] != "0" {
		t.Fatalf("options = %v", st)
	}
}

// TestProxyStreamOptions: addStreamProxy's enable_hls and enable_mp4 are
// applied by the stream's owner: the proxied stream records MP4 and
// serves live HLS, or neither, whatever the configuration says.
func TestProxyStreamOptions(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	publishAndWait(t, ts, "src")
	src := ts.rtmpURL + "/live/src"
	for _, tc := range []struct {
		stream   string
		on       string
		recorder int
		playlist int
	}{
		{"with", "1", 1, http.StatusOK},
		{"without", "0", 0, http.StatusNotFound},
	} {
		t.Run(tc.stream, func(t *testing.T) {
			reply := ts.apiCall(t, "addStreamProxy", url.Values{"app": {"proxy"}, "stream": {tc.stream}, "url": {src},
				"enable_hls": {tc.on}, "enable_mp4": {tc.on}})
			if code(reply) != 0 {
				t.Fatalf("addStreamProxy: %v", reply)
			}
			waitFor(t, 20*time.Second, "the proxied stream", func() bool {
				info, ok := streamInfo(t, ts, "proxy", tc.stream)
				return ok && info.Ready
			})
			// The pulled bytes count as the stream's bytes in, as a
			// publisher's do (getMediaList's totalBytes and bytesSpeed).
			waitFor(t, 20*time.Second, "bytes in of proxy/"+tc.stream, func() bool {
				info, ok := streamInfo(t, ts, "proxy", tc.stream)
				return ok && info.BytesIn > 10000
			})
			if n := sinkCount(t, ts, "proxy", tc.stream, record.SinkName(record.TypeMP4)); n != tc.recorder {
				t.Errorf("%d MP4 recorders on proxy/%s, want %d", n, tc.stream, tc.recorder)
			}
			if status, body := ts.get(t, "/proxy/"+tc.stream+"/hls.m3u8"); status != tc.playlist {
				t.Errorf("live HLS of proxy/%s: %d %s, want %d", tc.stream, status, body, tc.playlist)
			}
		})
	}
}

// TestRTSPPushProxy: addStreamPusherProxy to an rtsp:// URL publishes
// the stream there (ANNOUNCE, RECORD), over TCP (rtp_type 0) and UDP (1);
// ffprobe reads the pushed copy with the source's codecs and frames.
func TestRTSPPushProxy(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, nil)
	publishAndWait(t, ts, "src")
	for _, tc := range []struct{ name, rtpType string }{{"tcp", "0"}, {"udp", "1"}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each pushes to a stream of its own
			dst := ts.rtspURL("pushed/" + tc.name)
			reply := ts.apiCall(t, "addStreamPusherProxy", url.Values{"schema": {"rtmp"}, "app": {"live"}, "stream": {"src"},
				"dst_url": {dst}, "rtp_type": {tc.rtpType}})
			if code(reply) != 0 {
				t.Fatalf("addStreamPusherProxy: %v", reply)
			}
			waitFor(t, 20*time.Second, "the pushed stream", func() bool {
				info, ok := streamInfo(t, ts, "pushed", tc.name)
				return ok && info.Ready && info.Publisher != nil && info.Publisher.Protocol == "rtsp"
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			packets, err := testutil.FramePackets(ctx, t, ts.httpURL+"/pushed/"+tc.name+".live.flv", "-read_intervals", "%+3")
			if err != nil {
				t.Fatal(err)
			}
			var video, audio int
			for _, p := range packets {
				switch p.CodecType {
				case "video":
					video++
				case "audio":
					audio++
				}
			}
			// 3 s of a 25 fps, 44.1 kHz AAC clip: both tracks went through.
			if video < 50 || audio < 80 {
				t.Fatalf("the RTSP-pushed copy gave %d video and %d audio packets in 3 s", video, audio)
			}
			list := ts.apiCall(t, "listStreamPusherProxy", nil)
			if code(list) != 0 || !strings.Contains(fmt.Sprint(list), dst) {
				t.Fatalf("listStreamPusherProxy: %v", list)
			}
		})
	}
}
