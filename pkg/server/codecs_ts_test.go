package server

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/config"
)

// tsCodecCase is a clip ffmpeg publishes over RTSP and what MPEG-TS
// outputs carry of it.
type tsCodecCase struct {
	clip, stream string
	args         []string // ffmpeg codec arguments
	video, audio string   // ffprobe names of what MPEG-TS carries; "" when dropped
	dropped      string   // getMediaInfo's codec_id_name of the dropped track
	audioRate    float64  // audio frames a second
	minAudio     int      // audio frames of one play from the first keyframe
}

var tsCodecCases = []tsCodecCase{
	// ffmpeg's RTSP MP3 packetizer does not send the clip's last frames.
	{clip: "h264_mp3.flv", stream: "mp3", video: "h264", audio: "mp3", audioRate: 44100.0 / 1152, minAudio: 66},
	// VP9 over RTP is experimental in ffmpeg 5.1's muxer.
	{clip: "vp9_opus.mp4", stream: "vp9", args: []string{"-c", "copy", "-strict", "experimental"},
		audio: "opus", dropped: "VP9", audioRate: 50, minAudio: 95},
	{clip: "h264_pcma.flv", stream: "pcma", video: "h264", dropped: "PCMA"},
}

// tsGet reads url until the server ends the body.
func tsGet(t *testing.T, url string) <-chan []byte {
	ch := make(chan []byte, 1)
	go func() {
		client := &http.Client{Timeout: 60 * time.Second}
		resp, err := client.Get(url)
		if err != nil {
			t.Errorf("GET %s: %v", url, err)
			ch <- nil
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", url, resp.StatusCode)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Errorf("GET %s: %v", url, err)
		}
		ch <- b
	}()
	return ch
}

// tsProbeBytes writes b to a file and ffprobes it.
func tsProbeBytes(t *testing.T, b []byte) *testutil.Probe {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out.ts")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := testutil.FFprobe(context.Background(), t, path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tsCheckStreams checks the codecs ffprobe found: tc's video and audio,
// nothing else.
func tsCheckStreams(t *testing.T, what string, tc tsCodecCase, p *testutil.Probe) {
	t.Helper()
	var got []string
	for _, s := range p.Streams {
		got = append(got, s.CodecType+":"+s.CodecName)
	}
	var want []string
	if tc.video != "" {
		want = append(want, "video:"+tc.video)
	}
	if tc.audio != "" {
		want = append(want, "audio:"+tc.audio)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: streams %v, want %v", what, got, want)
	}
}

// TestTSCodecs publishes H.264+MP3, VP9+Opus and H.264+G.711 over RTSP.
// An HTTP-TS player waiting from the start gets every video frame MPEG-TS
// carries (50) and the audio from the first keyframe on; live HLS
// segments of a looping publisher hold the same tracks, each segment
// whole. VP9 and G.711 are left out, listed in getMediaInfo as dropped
// by http-ts and hls, and the other track plays.
func TestTSCodecs(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	for _, tc := range tsCodecCases {
		t.Run(tc.stream, func(t *testing.T) {
			t.Parallel() // each on its own server: the waits count the server's players and streams
			ts := startServer(t, func(c *config.Config) {
				c.Protocol.EnableHLS = true
				c.Protocol.ContinuePush = 200 * time.Millisecond
				c.HLS.SegDur = time.Second
			})
			// HTTP-TS: one play of the clip.
			body := tsGet(t, ts.httpURL+"/live/"+tc.stream+".live.ts")
			waitFor(t, 10*time.Second, "the player waiting", func() bool { return ts.Engine.Stats().WaitingReaders.Load() == 1 })
			pub := publishRTSP(t, tc.clip, ts.rtspURL("live/"+tc.stream), "tcp", tc.args...)
			if err := pub.Wait(30 * time.Second); err != nil {
				t.Fatalf("publisher: %v", err)
			}
			p := tsProbeBytes(t, <-body)
			tsCheckStreams(t, "HTTP-TS", tc, p)
			if v := p.Video(); v != nil && v.NbReadFrames != 50 {
				t.Errorf("HTTP-TS: %d video frames, want 50", v.NbReadFrames)
			}
			if a := p.Audio(); a != nil && a.NbReadFrames < tc.minAudio {
				t.Errorf("HTTP-TS: %d %s frames, want at least %d", a.NbReadFrames, a.CodecName, tc.minAudio)
			}
			if d := p.Format.Duration; d < 1.8 || d > 2.3 {
				t.Errorf("HTTP-TS lasts %.3f s, want 2", d)
			}
			waitFor(t, 10*time.Second, "the stream to end", func() bool {
				infos, _ := ts.Engine.Streams(context.Background())
				return len(infos) == 0
			})

			// Live HLS of a looping publisher.
			args := append([]string{"-re", "-stream_loop", "-1", "-i", testutil.Clip(t, tc.clip)}, tc.args...)
			if len(tc.args) == 0 {
				args = append(args, "-c", "copy")
			}
			loop := testutil.StartFFmpeg(t, append(args, "-f", "rtsp", "-rtsp_transport", "tcp", ts.rtspURL("live/"+tc.stream))...)
			base := ts.httpURL + "/live/" + tc.stream + "/"
			waitFor(t, 20*time.Second, "two HLS segments", func() bool {
				resp, b := httpGet(t, base+"hls.m3u8", nil)
				return resp.StatusCode == http.StatusOK && strings.Count(string(b), "#EXTINF") >= 2
			})
			pl := livePlaylist(t, base+"hls.m3u8")
			var secs float64
			audio := 0
			for i, seg := range pl.Segments[:2] {
				resp, b := httpGet(t, base+seg.URI, nil)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("segment %s: %d", seg.URI, resp.StatusCode)
				}
				p := tsProbeBytes(t, b)
				what := fmt.Sprintf("HLS segment %d (%.3f s)", i, seg.Duration.Seconds())
				tsCheckStreams(t, what, tc, p)
				if v := p.Video(); v != nil && math.Abs(float64(v.NbReadFrames)-seg.Duration.Seconds()*25) > 1 {
					t.Errorf("%s: %d video frames, want %.0f", what, v.NbReadFrames, seg.Duration.Seconds()*25)
				}
				secs += seg.Duration.Seconds()
				if a := p.Audio(); a != nil {
					audio += a.NbReadFrames
				}
			}
			// Audio runs along the video (RTP packs several MP3 frames in a
			// packet, so a segment's edge may fall a few frames off).
			if tc.audio != "" && math.Abs(float64(audio)-secs*tc.audioRate) > 5 {
				t.Errorf("HLS: %d audio frames in %.3f s, want about %.0f", audio, secs, secs*tc.audioRate)
			}
			if tc.dropped != "" {
				// An HTTP-TS player of this publish too.
				resp, err := http.Get(ts.httpURL + "/live/" + tc.stream + ".live.ts")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(resp.Body, make([]byte, 188)); err != nil {
					t.Errorf("HTTP-TS of the looping publish: %v", err)
				}
				resp.Body.Close()
				by := droppedBy(t, ts, tc.stream, tc.dropped)
				for _, o := range []string{"http-ts", "hls"} {
					if !slices.Contains(by, o) {
						t.Errorf("%s dropped_by %v, want %s", tc.dropped, by, o)
					}
				}
			}
			loop.Stop()
			waitFor(t, 10*time.Second, "the stream to end", func() bool {
				infos, _ := ts.Engine.Streams(context.Background())
				return len(infos) == 0
			})
		})
	}
}

// TestTSNothingCarried: a stream of G.711 alone has nothing MPEG-TS
// carries: HTTP-TS and HLS players get 404 and the server goes on.
func TestTSNothingCarried(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, func(c *config.Config) {
		c.Protocol.EnableHLS = true
		c.HLS.SegDur = time.Second
	})
	testutil.StartFFmpeg(t, "-re", "-stream_loop", "-1", "-i", testutil.Clip(t, "h264_pcma.flv"), "-vn", "-c", "copy",
		"-f", "rtsp", "-rtsp_transport", "tcp", ts.rtspURL("live/g711"))
	waitStream(t, ts, "live/g711")
	for _, path := range []string{"/live/g711.live.ts", "/live/g711/hls.m3u8"} {
		if resp, body := httpGet(t, ts.httpURL+path, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d %s, want 404", path, resp.StatusCode, body)
		}
	}
	if by := droppedBy(t, ts, "g711", "PCMA"); !slices.Contains(by, "http-ts") || !slices.Contains(by, "hls") {
		t.Errorf("dropped_by %v, want http-ts and hls", by)
	}
	// Counted once per stream and output however many players asked.
	for _, o := range []string{"http-ts", "hls"} {
		name := `mediakit_tracks_dropped_total{codec="pcm_alaw",output="` + o + `"}`
		if v := ts.metric(t, name); v != 1 {
			t.Errorf("%s = %v, want 1", name, v)
		}
	}
	for _, line := range []string{"ts play refused", "live HLS has no track to carry"} {
		if !strings.Contains(ts.logs.String(), line) {
			t.Errorf("no log line %q", line)
		}
	}
	waitStream(t, ts, "live/g711") // still published
}
