package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/rtsp"
)

// rtspCodecCase is a clip ffmpeg 5.1 publishes over RTSP and what an
// RTSP player of it must get: every video frame (50) and the audio of
// the clip, judged by ffprobe.
type rtspCodecCase struct {
	clip       string
	args       []string // ffmpeg codec arguments
	video      string   // ffprobe codec names
	audio      string
	audioRate  int
	minAudio   int // audio frames (ffprobe's count; packets for G.711)
	audioSecs  float64
	ffprobeOpt []string
}

var rtspCodecCases = []rtspCodecCase{
	// VP9 over RTP is experimental in ffmpeg 5.1's muxer.
	{clip: "vp9_opus.mp4", args: []string{"-c", "copy", "-strict", "experimental"}, video: "vp9", audio: "opus", audioRate: 48000, minAudio: 101, audioSecs: 2},
	{clip: "h264_pcma.flv", video: "h264", audio: "pcm_alaw", audioRate: 8000, minAudio: 16, audioSecs: 1.92},
	{clip: "h264_pcmu.mov", video: "h264", audio: "pcm_mulaw", audioRate: 8000, minAudio: 16, audioSecs: 1.92},
	// ffmpeg's MP3 packetizer packs several frames per packet and does
	// not send the tail of the clip (72 of 78 frames with ffmpeg 5.1).
	{clip: "h264_mp3.flv", video: "h264", audio: "mp3", audioRate: 44100, minAudio: 70, audioSecs: 1.86},
}

// TestRTSPCodecsPublishPlay: ffmpeg publishes VP9+Opus, H.264+G.711
// (A-law, mu-law) and H.264+MP3 over RTSP (ANNOUNCE/RECORD); an RTSP
// player that waited for the stream gets both tracks, every video frame
// and the audio frames published, timed as published; so does an RTSP
// player of the stream pulled back from the server over rtsp://
// (addStreamProxy).
func TestRTSPCodecsPublishPlay(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	for _, tc := range rtspCodecCases {
		t.Run(tc.clip, func(t *testing.T) {
			t.Parallel() // each on its own server and ports; the clip plays in real time
			ts := startServer(t, nil)
			play := probeRTSPAsync(t, ts.rtspURL("live/c"), "tcp")
			pkts := packetsRTSPAsync(t, ts.rtspURL("live/c"), "tcp")
			// The same stream pulled back over rtsp:// into live/p.
			pulled := probeRTSPAsync(t, ts.rtspURL("live/p"), "tcp")
			ts.waitWaiting(t, 3)
			proxied := proxyRTSPAsync(ts, "live/c", "p")
			ts.waitWaiting(t, 4)
			args := tc.args
			if len(args) == 0 {
				args = []string{"-c", "copy"}
			}
			pub := publishRTSP(t, tc.clip, ts.rtspURL("live/c"), "tcp", args...)
			if msg := <-proxied; msg != "" {
				t.Fatalf("addStreamProxy: %s", msg)
			}
			if err := pub.Wait(30 * time.Second); err != nil {
				t.Fatalf("publisher: %v", err)
			}
			res := <-play
			if res.err != nil {
				t.Fatalf("rtsp play: ffprobe: %v", res.err)
			}
			published := publishedAudio(t, ts)
			checkRTSPCodecProbe(t, tc, res, published)
			checkRTSPCodecSpans(t, tc, <-pkts)
			res = <-pulled
			if res.err != nil {
				t.Fatalf("rtsp play of the pulled stream: ffprobe: %v", res.err)
			}
			checkRTSPCodecProbe(t, tc, res, published)
		})
	}
}

// publishedAudio is the number of audio frames the RTSP publisher of ts
// sent, from its "rtsp publish ended" log line (frames of both tracks,
// less the 50 video frames).
func publishedAudio(t *testing.T, ts *testServer) int {
	t.Helper()
	re := regexp.MustCompile(`rtsp publish ended.* frames=(\d+)`)
	var m []string
	waitFor(t, 10*time.Second, "the publisher's end in the log", func() bool {
		m = re.FindStringSubmatch(ts.logs.String())
		return m != nil
	})
	n, _ := strconv.Atoi(m[1])
	return n - 50
}

func checkRTSPCodecProbe(t *testing.T, tc rtspCodecCase, res probeResult, published int) {
	t.Helper()
	v, a := res.probe.Video(), res.probe.Audio()
	if v == nil || a == nil {
		t.Fatalf("streams %+v, want video and audio", res.probe.Streams)
	}
	t.Logf("%s %dx%d %d frames; %s %d Hz %d frames, %.2f s", v.CodecName, v.Width, v.Height, v.NbReadFrames,
		a.CodecName, a.SampleRate, a.NbReadFrames, res.probe.Format.Duration)
	if v.CodecName != tc.video || v.Width != 320 || v.Height != 240 || v.NbReadFrames != 50 {
		t.Errorf("video %s %dx%d %d frames, want %s 320x240 50 frames", v.CodecName, v.Width, v.Height, v.NbReadFrames, tc.video)
	}
	if a.CodecName != tc.audio || a.SampleRate != tc.audioRate || a.NbReadFrames != published ||
		published < tc.minAudio {
		t.Errorf("audio %s %d Hz %d frames, want %s %d Hz, the %d frames published (at least %d)", a.CodecName, a.SampleRate,
			a.NbReadFrames, tc.audio, tc.audioRate, published, tc.minAudio)
	}
}

type packetsResult struct {
	pkts []testutil.Packet
	err  error
}

// packetsRTSPAsync starts ffprobe -show_packets on an RTSP URL over
// transport until the stream ends.
func packetsRTSPAsync(t *testing.T, url, transport string) <-chan packetsResult {
	ch := make(chan packetsResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		p, err := testutil.FramePackets(ctx, t, url, "-rtsp_transport", transport)
		ch <- packetsResult{p, err}
	}()
	return ch
}

// checkRTSPCodecSpans judges the timing a player got: 50 video frames
// 40 ms apart (1.96 s from first to last) and audio spanning what was
// published (G.711: 16 frames of 125 ms).
func checkRTSPCodecSpans(t *testing.T, tc rtspCodecCase, res packetsResult) {
	t.Helper()
	if res.err != nil {
		t.Fatalf("rtsp play (packets): ffprobe: %v", res.err)
	}
	span := func(kind string) (int, float64) {
		n, lo, hi := 0, math.Inf(1), math.Inf(-1)
		for _, p := range res.pkts {
			if p.CodecType != kind || math.IsNaN(p.PTSTime) {
				continue
			}
			n++
			lo, hi = min(lo, p.PTSTime), max(hi, p.PTSTime)
		}
		return n, hi - lo
	}
	vn, vspan := span("video")
	an, aspan := span("audio")
	t.Logf("packets: video %d over %.3f s, audio %d over %.3f s", vn, vspan, an, aspan)
	// ffprobe's H.264 parser keeps the last access unit of an RTP
	// stream to itself (-count_frames above sees all 50).
	if want := 1.96 - float64(50-vn)*0.04; vn < 49 || math.Abs(vspan-want) > 0.02 {
		t.Errorf("video: %d packets over %.3f s, want 50 (49 for H.264) 40 ms apart", vn, vspan)
	}
	if an == 0 || math.Abs(aspan-tc.audioSecs) > 0.03 {
		t.Errorf("audio: %d packets over %.3f s, want %.2f s", an, aspan, tc.audioSecs)
	}
}

// proxyRTSPAsync calls addStreamProxy to pull rtsp://SERVER/src into
// live/stream: the call answers once the source does (once published),
// with "" or what went wrong.
func proxyRTSPAsync(ts *testServer, src, stream string) <-chan string {
	proxied := make(chan string, 1)
	go func() {
		resp, err := http.PostForm(ts.httpURL+"/index/api/addStreamProxy", url.Values{"app": {"live"},
			"stream": {stream}, "url": {ts.rtspURL(src)}, "retry_count": {"0"}})
		if err != nil {
			proxied <- err.Error()
			return
		}
		defer resp.Body.Close()
		var reply map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil || code(reply) != 0 {
			proxied <- fmt.Sprint(reply, err)
			return
		}
		proxied <- ""
	}()
	return proxied
}

// udpCollector gathers the RTP payloads sent to a UDP socket.
type udpCollector struct {
	conn *net.UDPConn
	mu   sync.Mutex
	data []byte
	n    int
}

func newUDPCollector(t *testing.T) *udpCollector {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c := &udpCollector{conn: conn}
	done := make(chan struct{})
	t.Cleanup(func() { conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			var p rtp.Packet
			if p.Unmarshal(buf[:n]) != nil {
				continue
			}
			c.mu.Lock()
			c.data = append(c.data, p.Payload...)
			c.n++
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *udpCollector) port() int { return c.conn.LocalAddr().(*net.UDPAddr).Port }

func (c *udpCollector) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.data)
}

// TestRTPPSCodecs: ffmpeg publishes over RTSP in a loop; startSendRtp
// sends the stream as GB28181 PS over UDP to a socket of the test and to
// the server's own RTP port (openRtpServer). ffprobe reads the PS bytes
// (H.264 and MP3, PSM stream type 0x03), and an RTSP player of the
// stream the RTP server received gets the same codecs, video and audio
// at their rates. VP9 has no PS stream type: the sender leaves it out,
// getMediaInfo lists it as dropped by "rtp", and the Opus track goes
// through (stream type 0x9C, as ZLMediaKit writes it; ffprobe 5.1 does
// not know that type, so the RTP server's stream is the judge).
func TestRTPPSCodecs(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	for _, tc := range []struct {
		clip, args   string
		video, audio string // what PS carries
		dropped      string // codec_id_name of the track dropped by "rtp"
		perSecond    [2]float64
	}{
		{clip: "h264_mp3.flv", video: "h264", audio: "mp3", perSecond: [2]float64{25, 44100.0 / 1152}},
		{clip: "vp9_opus.mp4", args: "experimental", audio: "opus", dropped: "VP9", perSecond: [2]float64{0, 50}},
	} {
		t.Run(tc.clip, func(t *testing.T) {
			t.Parallel() // each on its own server and ports; the clip plays in real time
			ts := startServer(t, nil)
			args := []string{"-re", "-stream_loop", "-1", "-i", testutil.Clip(t, tc.clip), "-c", "copy"}
			if tc.args != "" {
				args = append(args, "-strict", tc.args)
			}
			pub := testutil.StartFFmpeg(t, append(args, "-f", "rtsp", "-rtsp_transport", "tcp", ts.rtspURL("live/src"))...)
			defer pub.Stop()
			waitStream(t, ts, "live/src")

			col := newUDPCollector(t)
			r := ts.apiCall(t, "openRtpServer", url.Values{"stream_id": {"back"}, "port": {"0"}, "tcp_mode": {"0"}})
			if code(r) != 0 {
				t.Fatalf("openRtpServer: %v", r)
			}
			back := int(r["port"].(float64))
			for i, port := range []int{col.port(), back} {
				r = ts.apiCall(t, "startSendRtp", url.Values{"vhost": {"__defaultVhost__"}, "app": {"live"},
					"stream": {"src"}, "ssrc": {fmt.Sprint(1000 + i)}, "dst_url": {"127.0.0.1"},
					"dst_port": {fmt.Sprint(port)}, "is_udp": {"1"}})
				if code(r) != 0 {
					t.Fatalf("startSendRtp to %d: %v", port, r)
				}
			}
			waitStream(t, ts, "rtp/back")

			// The RTP server's stream, played over RTSP for 3 s.
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			p, err := testutil.FFprobe(ctx, t, ts.rtspURL("rtp/back"), "-rtsp_transport", "tcp", "-read_intervals", "%+3")
			if err != nil {
				t.Fatalf("ffprobe of rtp/back: %v", err)
			}
			checkPSProbe(t, "rtp/back over RTSP", p, tc.video, tc.audio, tc.perSecond)

			if tc.dropped != "" {
				if by := droppedBy(t, ts, "src", tc.dropped); !slices.Contains(by, "rtp") {
					t.Errorf("%s dropped_by %v, want rtp", tc.dropped, by)
				}
			}
			if tc.video == "" {
				return
			}
			// The PS bytes themselves.
			// About 60 packets a second of this clip: wait for 3 s or more.
			waitFor(t, 20*time.Second, "3 s of PS", func() bool { return col.packets() >= 180 })
			file := filepath.Join(t.TempDir(), "out.ps")
			if err := os.WriteFile(file, col.bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			p, err = testutil.FFprobe(ctx, t, file, "-f", "mpeg")
			if err != nil {
				t.Fatalf("ffprobe of the PS: %v", err)
			}
			checkPSProbe(t, "PS", p, tc.video, tc.audio, tc.perSecond)
		})
	}
}

// packets is the number of RTP packets the collector got.
func (c *udpCollector) packets() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// checkPSProbe checks the codecs ffprobe found and that video and audio
// frames came in the clip's proportion.
func checkPSProbe(t *testing.T, what string, p *testutil.Probe, video, audio string, perSecond [2]float64) {
	t.Helper()
	v, a := p.Video(), p.Audio()
	t.Logf("%s: video %+v, audio %+v", what, v, a)
	if video == "" {
		if v != nil {
			t.Errorf("%s: video %s, want none", what, v.CodecName)
		}
	} else if v == nil || v.CodecName != video || v.Width != 320 || v.NbReadFrames < 50 {
		t.Fatalf("%s: video %+v, want %s 320x240, at least 50 frames", what, v, video)
	}
	if a == nil || a.CodecName != audio || a.NbReadFrames < 50 {
		t.Fatalf("%s: audio %+v, want %s, at least 50 frames", what, a, audio)
	}
	if v != nil {
		ratio := float64(a.NbReadFrames) / float64(v.NbReadFrames)
		if want := perSecond[1] / perSecond[0]; math.Abs(ratio-want) > 0.15*want {
			t.Errorf("%s: %d audio frames for %d video frames, want %.2f per video frame", what, a.NbReadFrames,
				v.NbReadFrames, want)
		}
	}
}

// TestRTSPAV1PublishPlay: ffmpeg 5.1 has no AV1 RTP packetizer, so
// gortsplib's client publishes AV1 and Opus (the frames of av1_opus.mp4,
// AV1 as OBU elements) with ANNOUNCE/RECORD, and gortsplib's client
// plays them back: a player that waited for the stream gets every
// temporal unit, the first a keyframe with the sequence header the track
// is built from, at the clip's times, and every Opus packet; so does a
// player of the stream pulled back over rtsp:// (addStreamProxy).
func TestRTSPAV1PublishPlay(t *testing.T) {
	t.Parallel()
	tracks, frames := clipframes.ReadMP4(t, "av1_opus.mp4")
	ts := startServer(t, nil)

	done := make(chan playedFrames, 1)
	go func() { done <- playRTSPFrames(ts.rtspURL("live/av1")) }()
	// The same stream pulled back over rtsp:// into live/av1p.
	pulled := make(chan playedFrames, 1)
	go func() { pulled <- playRTSPFrames(ts.rtspURL("live/av1p")) }()
	ts.waitWaiting(t, 2)
	proxied := proxyRTSPAsync(ts, "live/av1", "av1p")
	ts.waitWaiting(t, 3)

	// The publisher.
	av1 := &format.AV1{PayloadTyp: 96}
	opus := &format.Opus{PayloadTyp: 97, ChannelCount: 2}
	desc := &description.Session{Medias: []*description.Media{
		{Type: description.MediaTypeVideo, Formats: []format.Format{av1}},
		{Type: description.MediaTypeAudio, Formats: []format.Format{opus}},
	}}
	c := &gortsplib.Client{}
	if err := c.StartRecording(ts.rtspURL("live/av1"), desc); err != nil {
		t.Fatal(err)
	}
	venc, err := av1.CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	aenc, err := opus.CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var sentVideo, sentAudio int
	for _, f := range frames {
		// Paced at twice real time: the server stamps with the RTP
		// timestamps, the pace only keeps its queues short.
		if wait := time.Until(start.Add(f.DTS / 2)); wait > 0 {
			time.Sleep(wait)
		}
		var pkts []*rtp.Packet
		m := desc.Medias[1]
		switch f.Track.Codec {
		case media.CodecAV1:
			m = desc.Medias[0]
			obus, err := media.AV1OBUs(f.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if pkts, err = venc.Encode(obus); err != nil {
				t.Fatal(err)
			}
			sentVideo++
		case media.CodecOpus:
			p, err := aenc.Encode(f.Payload)
			if err != nil {
				t.Fatal(err)
			}
			pkts = []*rtp.Packet{p}
			sentAudio++
		}
		for _, p := range pkts {
			p.Timestamp = uint32(f.PTS * time.Duration(m.Formats[0].ClockRate()) / time.Second)
			if err := c.WritePacketRTP(m, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	if sentVideo != 50 || sentAudio != 101 {
		t.Fatalf("sent %d AV1 and %d Opus frames of %v, want 50 and 101", sentVideo, sentAudio, tracks)
	}
	// The client writes from a queue that Close drops: close once the
	// server has every frame.
	// (Counted on live/av1 alone: the pulled copy's frames count in the
	// engine's total too.)
	waitFor(t, 10*time.Second, "the 151 frames published", func() bool {
		info, ok := streamInfo(t, ts, "live", "av1")
		return ok && info.FramesIn >= 151
	})
	c.Close()

	if msg := <-proxied; msg != "" {
		t.Fatalf("addStreamProxy: %s", msg)
	}
	for _, ch := range []<-chan playedFrames{done, pulled} {
		select {
		case res := <-ch:
			checkAV1Played(t, frames, res)
		case <-time.After(30 * time.Second):
			t.Fatal("a player did not end with the stream")
		}
	}
}

// checkAV1Played judges what a player of av1_opus.mp4 got.
func checkAV1Played(t *testing.T, frames []*media.Frame, res playedFrames) {
	t.Helper()
	if res.err != nil {
		t.Fatalf("player: %v", res.err)
	}
	v, a := res.video, res.audio
	if len(v) != 50 || len(a) != 101 {
		t.Fatalf("played %d AV1 and %d Opus frames, want 50 and 101", len(v), len(a))
	}
	if tr := v[0].Track; !v[0].Key || tr.Codec != media.CodecAV1 || tr.Width != 320 || tr.Height != 240 {
		t.Errorf("first AV1 frame: key %v, track %v", v[0].Key, tr)
	}
	var srcV, srcA []*media.Frame
	for _, f := range frames {
		if f.Track.Kind() == media.KindVideo {
			srcV = append(srcV, f)
		} else {
			srcA = append(srcA, f)
		}
	}
	for i, f := range v {
		if want := srcV[i].PTS - srcV[0].PTS; (f.PTS - v[0].PTS - want).Abs() > time.Millisecond {
			t.Fatalf("AV1 frame %d at %v, want %v", i, f.PTS-v[0].PTS, want)
		}
	}
	keys := 0
	for _, f := range v {
		if f.Key {
			keys++
		}
	}
	if keys != 2 {
		t.Errorf("%d AV1 keyframes, want 2", keys)
	}
	if span, want := a[100].PTS-a[0].PTS, srcA[100].PTS-srcA[0].PTS; (span - want).Abs() > time.Millisecond {
		t.Errorf("Opus frames span %v, want %v", span, want)
	}
}

// playedFrames is what playRTSPFrames got.
type playedFrames struct {
	video, audio []*media.Frame
	err          error
}

// playRTSPFrames plays an RTSP URL with gortsplib's client (over TCP)
// until the stream ends and returns the frames mediakit's depacketizer
// makes of the first video and audio media.
func playRTSPFrames(rawURL string) (res playedFrames) {
	u, err := base.ParseURL(rawURL)
	if err != nil {
		res.err = err
		return res
	}
	proto := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto}
	if res.err = c.Start(); res.err != nil {
		return res
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		res.err = fmt.Errorf("describe: %w", err)
		return res
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		res.err = fmt.Errorf("setup: %w", err)
		return res
	}
	var mu sync.Mutex
	deps := map[*description.Media]*rtsp.Depacketizer{}
	first := map[*description.Media]uint32{}
	for _, m := range desc.Medias {
		d, err := rtsp.NewDepacketizer(m.Formats[0])
		if err != nil {
			res.err = err
			return res
		}
		deps[m] = d
	}
	c.OnPacketRTPAny(func(m *description.Media, _ format.Format, p *rtp.Packet) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := first[m]; !ok {
			first[m] = p.Timestamp
		}
		frames, _ := deps[m].Decode(p, int64(p.Timestamp-first[m]))
		if m.Type == description.MediaTypeVideo {
			res.video = append(res.video, frames...)
		} else {
			res.audio = append(res.audio, frames...)
		}
	})
	if _, err := c.Play(nil); err != nil {
		res.err = fmt.Errorf("play: %w", err)
		return res
	}
	_ = c.Wait() // the server ends the session once the stream is gone
	mu.Lock()
	defer mu.Unlock()
	return res
}
