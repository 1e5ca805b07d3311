package server

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/source"
)

// mp4CodecPublish publishes clip as live/NAME, read by pkg/source (the
// MP4 reader for .mp4/.mov clips) at the pace of its timestamps, as
// `mediakit relay` does. With loop the clip plays until the test ends;
// without, once. The returned channel gets the end of the publishing.
func mp4CodecPublish(t *testing.T, ts *testServer, clip, name string, loop bool) <-chan error {
	t.Helper()
	src, err := source.Open(testutil.Clip(t, clip), source.Options{Realtime: true, Loop: loop})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ts.Engine.Publish(context.Background(), engine.NewKey("", "live", name), engine.SessionInfo{ID: "mp4codec-" + name, Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ended := make(chan struct{})
	go func() {
		err := src.Run(ctx, pub)
		pub.Close()
		done <- err
		close(ended)
	}()
	t.Cleanup(func() { cancel(); <-ended })
	return done
}

// mp4CodecStreams is what ffprobe says of a file: codec names, packets
// per kind, duration, whether the video starts on a keyframe.
type mp4CodecStreams struct {
	video, audio     string
	vPackets, aPkts  int
	duration         float64
	firstVideoIsKey  bool
	width, height    int
	audioSampleRate  int
	audioChannels    int
	hasAudio, hasVid bool
}

func mp4CodecProbe(t *testing.T, path string) mp4CodecStreams {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := testutil.FFprobe(ctx, t, path)
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var s mp4CodecStreams
	if v := p.Video(); v != nil {
		s.hasVid, s.video, s.width, s.height = true, v.CodecName, v.Width, v.Height
	}
	if a := p.Audio(); a != nil {
		s.hasAudio, s.audio, s.audioSampleRate, s.audioChannels = true, a.CodecName, a.SampleRate, a.Channels
	}
	s.duration = p.Format.Duration
	pkts, err := testutil.FramePackets(ctx, t, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, pk := range pkts {
		switch pk.CodecType {
		case "video":
			if s.vPackets == 0 {
				s.firstVideoIsKey = pk.Keyframe()
			}
			s.vPackets++
		case "audio":
			s.aPkts++
		}
	}
	return s
}

// TestMP4CodecsOnce publishes AV1+Opus, VP9+Opus, H.264+MP3 and
// H.264+G.711 clips once: the HTTP-fMP4 player waiting from the start
// gets every video frame (50) and the audio from the first keyframe on
// (G.711 dropped), 2 s, and the MP4 recording holds every frame of both
// tracks, 2 s.
func TestMP4CodecsOnce(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	for _, tc := range []struct {
		clip, stream, video, audio string
		audioPackets               int  // in the clip
		fmp4Drops                  bool // HTTP-fMP4 leaves the audio out
	}{
		{"av1_opus.mp4", "av1", "av1", "opus", 101, false},
		{"vp9_opus.mp4", "vp9", "vp9", "opus", 101, false},
		{"h264_mp3.flv", "mp3", "h264", "mp3", 78, false},
		{"h264_pcmu.mov", "pcmu", "h264", "pcm_mulaw", 0, true},
	} {
		t.Run(tc.stream, func(t *testing.T) {
			t.Parallel() // each on its own server and hook server: the waits count the server's players and streams
			h := newHookServer(t, nil)
			ts := startServer(t, func(c *config.Config) {
				c.Protocol.EnableMP4 = true
				c.Protocol.ContinuePush = 200 * time.Millisecond
				c.Hook.Enable = true
				c.Hook.OnRecordMP4 = h.url("on_record_mp4")
			})
			p, out := fmp4Copy(t, ts.httpURL+"/live/"+tc.stream+".live.mp4", 5)
			waitFor(t, 10*time.Second, "the player waiting", func() bool { return ts.Engine.Stats().WaitingReaders.Load() == 1 })
			done := mp4CodecPublish(t, ts, tc.clip, tc.stream, false)
			if err := <-done; err != nil {
				t.Fatalf("publishing: %v", err)
			}
			if err := p.Wait(40 * time.Second); err != nil {
				t.Fatalf("ffmpeg copy of HTTP-fMP4: %v", err)
			}
			got := mp4CodecProbe(t, out)
			t.Logf("HTTP-fMP4: %+v", got)
			if got.video != tc.video || got.width != 320 || got.height != 240 || got.vPackets != 50 || !got.firstVideoIsKey {
				t.Errorf("HTTP-fMP4 video %+v, want %s 320x240, 50 frames from a keyframe", got, tc.video)
			}
			switch {
			case tc.fmp4Drops:
				if got.hasAudio {
					t.Errorf("HTTP-fMP4 audio %+v, want it dropped", got)
				}
			case got.audio != tc.audio || got.aPkts < tc.audioPackets-3 || got.aPkts > tc.audioPackets:
				t.Errorf("HTTP-fMP4 audio %+v, want %s, %d-%d packets", got, tc.audio, tc.audioPackets-3, tc.audioPackets)
			}
			// The samples' durations add up to the clip's 2 s.
			if math.Abs(got.duration-2) > 0.1 {
				t.Errorf("HTTP-fMP4 copy lasts %.3f s, want 2", got.duration)
			}

			body := h.wait(t, "on_record_mp4", 20*time.Second)
			path, _ := body["file_path"].(string)
			if !strings.Contains(path, filepath.Join("live", tc.stream)) {
				t.Fatalf("on_record_mp4 %v", body)
			}
			rec := mp4CodecProbe(t, path)
			t.Logf("recording: %+v", rec)
			if rec.video != tc.video || rec.vPackets != 50 || !rec.firstVideoIsKey || rec.audio != tc.audio {
				t.Errorf("recording %+v, want %s 50 frames and %s", rec, tc.video, tc.audio)
			}
			if tc.audioPackets > 0 && rec.aPkts != tc.audioPackets {
				t.Errorf("recording: %d audio packets, want %d", rec.aPkts, tc.audioPackets)
			}
			if math.Abs(rec.duration-2) > 0.1 {
				t.Errorf("recording lasts %.3f s, want 2", rec.duration)
			}
			waitFor(t, 10*time.Second, "the stream to end", func() bool {
				infos, _ := ts.Engine.Streams(context.Background())
				return len(infos) == 0
			})
		})
	}
}

// TestMP4CodecsLLHLS plays looping AV1+Opus, VP9+Opus, H.264+G.711
// and H.264+MP3 publishers as fMP4 HLS (LL-HLS) with ffmpeg: AV1 and VP9
// come with their Opus; G.711 and MP3 are dropped (G.711 from HTTP-fMP4
// too), reported in getMediaInfo's dropped_by, and the video plays on.
func TestMP4CodecsLLHLS(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	for _, tc := range []struct {
		clip, stream, video, audio string
		dropped                    string   // codec_id_name of the track fMP4 HLS drops
		droppedBy                  []string // the outputs getMediaInfo lists for it
	}{
		{"av1_opus.mp4", "av1", "av1", "opus", "", nil},
		{"vp9_opus.mp4", "vp9", "vp9", "opus", "", nil},
		{"h264_pcmu.mov", "g711", "h264", "", "PCMU", []string{"hls-fmp4", "http-fmp4"}},
		{"h264_mp3.flv", "mp3", "h264", "", "MP3", []string{"hls-fmp4"}},
	} {
		t.Run(tc.stream, func(t *testing.T) {
			t.Parallel() // each on its own server; the clips play in real time
			ts := startServer(t, func(c *config.Config) { c.HLS.SegDur = time.Second })
			mp4CodecPublish(t, ts, tc.clip, tc.stream, true)
			waitStream(t, ts, "live/"+tc.stream)
			const seconds = 3
			out := filepath.Join(t.TempDir(), "hls.mp4")
			p := testutil.StartFFmpeg(t, "-i", ts.httpURL+"/live/"+tc.stream+"/hls.fmp4.m3u8", "-t", fmt.Sprint(seconds), "-c", "copy", out)
			var fp *testutil.Process
			var fout string
			if tc.dropped == "PCMU" {
				fp, fout = fmp4Copy(t, ts.httpURL+"/live/"+tc.stream+".live.mp4", 1)
			}
			if err := p.Wait(90 * time.Second); err != nil {
				t.Fatalf("ffmpeg of fMP4 HLS: %v", err)
			}
			got := mp4CodecProbe(t, out)
			t.Logf("fMP4 HLS: %+v", got)
			if got.video != tc.video || got.width != 320 || got.height != 240 || !got.firstVideoIsKey ||
				math.Abs(float64(got.vPackets-seconds*25)) > 3 {
				t.Errorf("fMP4 HLS video %+v, want %s 320x240, about %d frames from a keyframe", got, tc.video, seconds*25)
			}
			if got.audio != tc.audio {
				t.Errorf("fMP4 HLS audio %q, want %q", got.audio, tc.audio)
			}
			if tc.audio == "opus" && math.Abs(float64(got.aPkts-seconds*50)) > 5 {
				t.Errorf("fMP4 HLS: %d Opus packets, want about %d", got.aPkts, seconds*50)
			}
			if fp != nil {
				if err := fp.Wait(40 * time.Second); err != nil {
					t.Fatalf("ffmpeg copy of HTTP-fMP4: %v", err)
				}
				if f := mp4CodecProbe(t, fout); f.video != "h264" || f.hasAudio || f.vPackets < 20 {
					t.Errorf("HTTP-fMP4 of H.264+G.711: %+v, want the video alone", f)
				}
			}
			if tc.dropped == "" {
				return
			}
			by := droppedBy(t, ts, tc.stream, tc.dropped)
			for _, o := range tc.droppedBy {
				if !strings.Contains(strings.Join(by, ","), o) {
					t.Errorf("%s dropped_by %v, want %s", tc.dropped, by, o)
				}
			}
		})
	}
}
