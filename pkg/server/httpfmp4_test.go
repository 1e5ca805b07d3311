package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/session"
)

// TestHTTPFMP4 publishes a clip over RTMP while ffprobe, a raw HTTP
// reader and a WebSocket reader play /live/x.live.mp4 from before the
// first frame: ffprobe counts every video frame of the clip in H.264
// 320x240 and AAC, the HTTP and WebSocket bytes are the same, and the
// sessions are listed (registry and getMediaPlayerList schema fmp4)
// while they play.
func TestHTTPFMP4(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, nil)
	url := ts.httpURL + "/live/x.live.mp4"
	probe := probeAsync(t, url)

	var wg sync.WaitGroup
	var httpBody, wsBody []byte
	var httpErr, wsErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		resp, err := http.Get(url)
		if err != nil {
			httpErr = err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/mp4" {
			t.Errorf("status %d, Content-Type %q; want 200 video/mp4", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		httpBody, httpErr = io.ReadAll(resp.Body)
	}()
	go func() {
		defer wg.Done()
		wsBody, wsErr = fmp4ReadWS(ts.HTTPAddr(), "/live/x.live.mp4")
	}()
	waitFor(t, 10*time.Second, "three players waiting", func() bool { return ts.Engine.Stats().WaitingReaders.Load() == 3 })
	pub := testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/x", false)

	count := func(proto string) int {
		n := 0
		for _, in := range ts.Sessions.List() {
			if in.Protocol == proto {
				n++
			}
		}
		return n
	}
	waitFor(t, 10*time.Second, "fMP4 sessions listed", func() bool { return count("http-fmp4") == 2 && count("ws-fmp4") == 1 })
	reply := ts.apiCall(t, "getMediaPlayerList", url2values("fmp4", "live", "x"))
	if data, _ := reply["data"].([]any); len(data) != 3 {
		t.Errorf("getMediaPlayerList schema fmp4: %v, want 3 players", reply)
	}
	all, _ := ts.apiCall(t, "getAllSession", nil)["data"].([]any)
	n := 0
	for _, s := range all {
		if id, _ := s.(map[string]any)["id"].(string); strings.HasPrefix(id, "fmp4-") {
			n++
		}
	}
	if n != 3 {
		t.Errorf("getAllSession lists %d fmp4 sessions, want 3: %v", n, all)
	}

	if err := pub.Wait(30 * time.Second); err != nil {
		t.Fatalf("publisher: %v", err)
	}
	res := <-probe
	if res.err != nil {
		t.Fatalf("ffprobe: %v", res.err)
	}
	v, a := res.probe.Video(), res.probe.Audio()
	if v == nil || a == nil {
		t.Fatalf("streams %+v, want video and audio", res.probe.Streams)
	}
	t.Logf("ffprobe: %s %dx%d %d frames, %s %d frames", v.CodecName, v.Width, v.Height, v.NbReadFrames, a.CodecName, a.NbReadFrames)
	if v.CodecName != "h264" || v.Width != 320 || v.Height != 240 || v.NbReadFrames != 150 {
		t.Errorf("video: %s %dx%d, %d frames; want h264 320x240, 150", v.CodecName, v.Width, v.Height, v.NbReadFrames)
	}
	// Audio from the first keyframe on: the clip's 260 frames less the
	// few ahead of it.
	if a.CodecName != "aac" || a.NbReadFrames < 255 || a.NbReadFrames > 260 {
		t.Errorf("audio: %s, %d frames; want aac, 255-260", a.CodecName, a.NbReadFrames)
	}

	wg.Wait()
	if httpErr != nil || wsErr != nil {
		t.Fatalf("HTTP reader: %v; WebSocket reader: %v", httpErr, wsErr)
	}
	if len(httpBody) == 0 || !bytes.Equal(httpBody, wsBody) {
		t.Errorf("HTTP and WebSocket readers got %d and %d bytes, want the same", len(httpBody), len(wsBody))
	}
	if !bytes.Equal(httpBody[4:8], []byte("ftyp")) {
		t.Errorf("stream starts with %q, want an ftyp box", httpBody[:8])
	}
	waitFor(t, 10*time.Second, "fMP4 sessions to end", func() bool {
		return !slices.ContainsFunc(ts.Sessions.List(), func(in session.Info) bool { return strings.HasSuffix(in.Protocol, "-fmp4") })
	})
}

// TestHTTPFMP4LateJoin: ffmpeg joins a running stream with B-frames and
// copies 3 s of it: it starts on a keyframe, and the decode times let it
// take 3 s worth of frames (75 video, about 129 audio) without gaps, so
// a player joining late neither stalls nor races.
func TestHTTPFMP4LateJoin(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, nil)
	pub := testutil.PublishClip(t, "h264_bframes_aac.flv", ts.rtmpURL+"/live/late", true)
	defer pub.Stop()
	// Join after the first GOP, so the player starts at a later keyframe.
	waitFor(t, 15*time.Second, "a second keyframe", func() bool {
		info, ok, err := ts.Engine.Stream(context.Background(), engine.NewKey("", "live", "late"))
		if err != nil || !ok {
			return false
		}
		for tr, st := range info.TrackStats {
			if tr.Kind() == media.KindVideo && st.KeyFrames >= 2 {
				return true
			}
		}
		return false
	})
	out := fmp4Segment(t, ts.httpURL+"/live/late.live.mp4", 3)
	judgeFMP4Segment(t, out, "h264", 3)
}

// TestHTTPFMP4H265: an H.265 stream (an MP4 file pulled by a proxy, since
// ffmpeg 5.1 cannot publish H.265 over RTMP) plays as hvc1 with every
// frame in order.
func TestHTTPFMP4H265(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, nil)
	data, err := os.ReadFile(testutil.Clip(t, "h265_aac.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts.Config().General.DataDir, "h265.mp4"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	p, out := fmp4Copy(t, ts.httpURL+"/live/h265.live.mp4", 3)
	waitFor(t, 10*time.Second, "the player waiting", func() bool { return ts.Engine.Stats().WaitingReaders.Load() == 1 })
	reply := ts.apiCall(t, "addStreamProxy", url.Values{"app": {"live"}, "stream": {"h265"}, "url": {"h265.mp4"}})
	if code(reply) != 0 {
		t.Fatalf("addStreamProxy: %v", reply)
	}
	if err := p.Wait(40 * time.Second); err != nil {
		t.Fatalf("ffmpeg copy: %v", err)
	}
	judgeFMP4Segment(t, out, "hevc", 3)
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte("hvc1")) {
		t.Error("copied H.265 track is not tagged hvc1")
	}
}

func url2values(schema, app, stream string) url.Values {
	return url.Values{"schema": {schema}, "vhost": {"__defaultVhost__"}, "app": {app}, "stream": {stream}}
}

// fmp4Segment copies secs seconds of url with
// `ffmpeg -i URL -t SECS -c copy -f mp4 OUT` and returns OUT.
func fmp4Segment(t *testing.T, url string, secs int) string {
	t.Helper()
	p, out := fmp4Copy(t, url, secs)
	if err := p.Wait(40 * time.Second); err != nil {
		t.Fatalf("ffmpeg copy of %s: %v", url, err)
	}
	return out
}

// fmp4Copy starts `ffmpeg -i URL -t SECS -c copy -f mp4 OUT`.
func fmp4Copy(t *testing.T, url string, secs int) (*testutil.Process, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.mp4")
	return testutil.StartFFmpeg(t, "-rw_timeout", "20000000", "-i", url, "-t", fmt.Sprint(secs), "-c", "copy", "-f", "mp4", "-y", out), out
}

// judgeFMP4Segment checks a copy of secs seconds of a 25 fps stream with
// 44.1 kHz AAC: codec and size, a keyframe first, every frame of the
// span and no gap in the video decode times.
func judgeFMP4Segment(t *testing.T, out, codec string, secs int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	probe, err := testutil.FFprobe(ctx, t, out)
	if err != nil {
		t.Fatal(err)
	}
	v, a := probe.Video(), probe.Audio()
	if v == nil || a == nil {
		t.Fatalf("streams %+v, want video and audio", probe.Streams)
	}
	if v.CodecName != codec || v.Width != 320 || v.Height != 240 || a.CodecName != "aac" {
		t.Errorf("streams: %s %dx%d and %s; want %s 320x240 and aac", v.CodecName, v.Width, v.Height, a.CodecName, codec)
	}
	pkts, err := testutil.FramePackets(ctx, t, out)
	if err != nil {
		t.Fatal(err)
	}
	var video, audio []testutil.Packet
	for _, p := range pkts {
		switch p.CodecType {
		case "video":
			video = append(video, p)
		case "audio":
			audio = append(audio, p)
		}
	}
	t.Logf("%s: %d video packets, %d audio packets, duration %.3f s", out, len(video), len(audio), probe.Format.Duration)
	wantVideo := 25 * secs
	if len(video) < wantVideo-2 || len(video) > wantVideo+1 {
		t.Errorf("%d video packets, want %d", len(video), wantVideo)
	}
	wantAudio := float64(secs) * 44100 / 1024
	if math.Abs(float64(len(audio))-wantAudio) > 4 {
		t.Errorf("%d audio packets, want about %.0f", len(audio), wantAudio)
	}
	if len(video) == 0 || !video[0].Keyframe() {
		t.Fatal("the copy does not start with a video keyframe")
	}
	// 40 ms a frame; a looping publisher's seam may add a frame or two.
	for i := 1; i < len(video); i++ {
		if d := video[i].DTSTime - video[i-1].DTSTime; d <= 0 || d > 0.1 {
			t.Errorf("video packet %d: DTS step %.3f s", i, d)
			break
		}
	}
	if d := probe.Format.Duration; math.Abs(d-float64(secs)) > 0.2 {
		t.Errorf("duration %.3f s, want about %d", d, secs)
	}
}

// fmp4ReadWS plays path over WebSocket and returns the binary payloads
// up to the server's Close frame.
func fmp4ReadWS(addr, path string) ([]byte, error) {
	var k [16]byte
	_, _ = rand.Read(k[:])
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		path, addr, base64.StdEncoding.EncodeToString(k[:]))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("WebSocket handshake: status %d", resp.StatusCode)
	}
	var data []byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return data, err
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return data, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return data, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		if n > 64<<20 {
			return data, fmt.Errorf("WebSocket frame of %d bytes", n)
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			return data, err
		}
		switch h[0] & 0x0f {
		case 2:
			data = append(data, p...)
		case 8:
			return data, nil
		default:
			return data, fmt.Errorf("unexpected opcode %d", h[0]&0x0f)
		}
	}
}
