package server

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/config"
)

// aacConfigCase is an RTMP publisher whose AudioSpecificConfig
// mediacommon does not write back as it is, and what players read of it.
type aacConfigCase struct {
	name, clip string
	// from, to: the clip's config and the one published instead (hex),
	// when the test makes one ffmpeg cannot encode.
	from, to          string
	rate, channels    int
	profile           string // ffprobe's
	tsRate, tsChannel int    // HTTP-TS (ADTS): 0 when not checked
}

var aacConfigCases = []aacConfigCase{
	// ffmpeg's encoder for 6.1(back): 7 channels, which only a program
	// config element describes.
	{name: "pce", clip: "h264_aac_pce.flv", rate: 48000, channels: 7, profile: "LC", tsRate: 48000, tsChannel: 7},
	// Implicit HE-AAC: the LC core at 24 kHz and, after it, the sync
	// extension with SBR at 48 kHz (ffmpeg's encoder writes the extension
	// with the SBR flag off; the frames have no SBR data, which decoders
	// take, upsampling). 48 kHz is what tells the extension arrived:
	// ffprobe names the profile after the core's object type, LC, as for
	// any implicit signalling. ADTS says LC at the core rate, as it must,
	// so HTTP-TS is not checked.
	{name: "heaac", clip: "h264_aac24k.flv", from: "131056e500", to: "131056e598", rate: 48000, channels: 2, profile: "LC"},
}

// aacConfigClip returns the path of the clip tc publishes: the clip, or
// a copy whose AAC sequence header has tc.to for tc.from.
func aacConfigClip(t *testing.T, tc aacConfigCase) string {
	t.Helper()
	path := testutil.Clip(t, tc.clip)
	if tc.from == "" {
		return path
	}
	from, _ := hex.DecodeString(tc.from)
	to, _ := hex.DecodeString(tc.to)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The sequence header's body: AAC (0xaf), packet type 0, the config.
	from = append([]byte{0xaf, 0}, from...)
	if n := bytes.Count(data, from); n != 1 {
		t.Fatalf("%s: %d AAC sequence headers with config %s, want 1", tc.clip, n, tc.from)
	}
	out := filepath.Join(t.TempDir(), tc.clip)
	if err := os.WriteFile(out, bytes.Replace(data, from, append([]byte{0xaf, 0}, to...), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAACConfigOutputs: ffmpeg publishes H.264 with AAC over RTMP whose
// config mediacommon would rebuild without what matters (a PCE's 6.1
// layout; implicit HE-AAC's SBR); HTTP-fMP4, RTSP and HTTP-TS players
// that waited for the stream and the MP4 recording are read by ffprobe
// with the publisher's channels, rate and profile, and every video frame.
func TestAACConfigOutputs(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	for _, tc := range aacConfigCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each on its own server and hook server: the waits count the server's players and streams
			h := newHookServer(t, nil)
			ts := startServer(t, func(c *config.Config) {
				c.Protocol.EnableMP4 = true
				c.Protocol.ContinuePush = 200 * time.Millisecond
				c.Hook.Enable = true
				c.Hook.OnRecordMP4 = h.url("on_record_mp4")
			})
			clip := aacConfigClip(t, tc)
			fp, fout := fmp4Copy(t, ts.httpURL+"/live/"+tc.name+".live.mp4", 5)
			rtspPlay := probeRTSPAsync(t, ts.rtspURL("live/"+tc.name), "tcp")
			tsPlay := probeAsync(t, ts.httpURL+"/live/"+tc.name+".live.ts")
			ts.waitWaiting(t, 3)
			pub := testutil.PublishClip(t, clip, ts.rtmpURL+"/live/"+tc.name, false)
			if err := pub.Wait(30 * time.Second); err != nil {
				t.Fatalf("publisher: %v", err)
			}
			if err := fp.Wait(40 * time.Second); err != nil {
				t.Fatalf("ffmpeg copy of HTTP-fMP4: %v", err)
			}
			check := func(output string, p *testutil.Probe, rate, channels int, profile string) {
				t.Helper()
				v, a := p.Video(), p.Audio()
				if v == nil || a == nil {
					t.Errorf("%s: streams %+v, want video and audio", output, p.Streams)
					return
				}
				t.Logf("%s: %s %d frames; %s %s %d Hz %d ch %d frames", output, v.CodecName, v.NbReadFrames,
					a.CodecName, a.Profile, a.SampleRate, a.Channels, a.NbReadFrames)
				if v.CodecName != "h264" || v.NbReadFrames != 50 {
					t.Errorf("%s video: %s %d frames, want h264 50", output, v.CodecName, v.NbReadFrames)
				}
				if a.CodecName != "aac" || a.Channels != channels || (rate > 0 && a.SampleRate != rate) ||
					(profile != "" && a.Profile != profile) || a.NbReadFrames < 40 {
					t.Errorf("%s audio: %s %s %d Hz %d channels %d frames, want aac %s %d Hz %d channels", output,
						a.CodecName, a.Profile, a.SampleRate, a.Channels, a.NbReadFrames, profile, rate, channels)
				}
			}
			probeFile := func(path string) *testutil.Probe {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				p, err := testutil.FFprobe(ctx, t, path)
				if err != nil {
					t.Fatalf("ffprobe %s: %v", path, err)
				}
				return p
			}
			check("http-fmp4", probeFile(fout), tc.rate, tc.channels, tc.profile)
			res := <-rtspPlay
			if res.err != nil {
				t.Fatalf("rtsp player: %v", res.err)
			}
			check("rtsp", res.probe, tc.rate, tc.channels, tc.profile)
			if res = <-tsPlay; res.err != nil {
				t.Fatalf("http-ts player: %v", res.err)
			}
			if tc.tsChannel > 0 {
				check("http-ts", res.probe, tc.tsRate, tc.tsChannel, "")
			}

			body := h.wait(t, "on_record_mp4", 20*time.Second)
			path, _ := body["file_path"].(string)
			if !strings.Contains(path, filepath.Join("live", tc.name)) {
				t.Fatalf("on_record_mp4 %v", body)
			}
			check("recording", probeFile(path), tc.rate, tc.channels, tc.profile)
			waitFor(t, 10*time.Second, "the stream to end", func() bool {
				infos, _ := ts.Engine.Streams(context.Background())
				return len(infos) == 0
			})
		})
	}
}
