package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	gcodecs "github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/rtmp"
)

// TestFLVCodecsLegacyFFmpeg: ffmpeg publishes H.264 with MP3 and with
// G.711 A-law and mu-law over RTMP (legacy FLV sound formats 2, 7 and
// 8); ffprobe
// players that waited for the stream on RTMP and HTTP-FLV get both
// tracks, every video frame and every audio frame, 2 s.
func TestFLVCodecsLegacyFFmpeg(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	for _, tc := range []struct {
		clip, audio string
		rate, ch    int
		audioFrames int // 0: G.711, whose frames are the publisher's packets
	}{
		{"h264_mp3.flv", "mp3", 44100, 2, 78},
		{"h264_pcma.flv", "pcm_alaw", 8000, 1, 0},
		// mu-law: sound format 8 (ffmpeg's FLV muxer takes it from the
		// QuickTime clip with -c copy).
		{"h264_pcmu.mov", "pcm_mulaw", 8000, 1, 0},
	} {
		t.Run(tc.clip, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, nil)
			rtmpPlay := probeAsync(t, ts.rtmpURL+"/live/c")
			flvPlay := probeAsync(t, ts.httpURL+"/live/c.live.flv")
			// Live FLV declares no duration: packet times tell it.
			spans := map[string]<-chan float64{}
			for name, u := range map[string]string{"rtmp": ts.rtmpURL + "/live/c", "http-flv": ts.httpURL + "/live/c.live.flv"} {
				ch := make(chan float64, 1)
				spans[name] = ch
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					defer cancel()
					pkts, err := testutil.FramePackets(ctx, t, u)
					if err != nil || len(pkts) == 0 {
						ch <- -1
						return
					}
					first, last := pkts[0].PTSTime, pkts[0].PTSTime
					for _, p := range pkts {
						first, last = min(first, p.PTSTime), max(last, p.PTSTime)
					}
					ch <- last - first
				}()
			}
			ts.waitWaiting(t, 4)
			pub := testutil.PublishClip(t, tc.clip, ts.rtmpURL+"/live/c", false)
			if err := pub.Wait(30 * time.Second); err != nil {
				t.Fatalf("publisher: %v", err)
			}
			for name, ch := range map[string]<-chan probeResult{"rtmp": rtmpPlay, "http-flv": flvPlay} {
				res := <-ch
				if res.err != nil {
					t.Fatalf("%s player: %v", name, res.err)
				}
				v, a := res.probe.Video(), res.probe.Audio()
				if v == nil || a == nil || len(res.probe.Streams) != 2 {
					t.Fatalf("%s player: streams %+v, want video and audio", name, res.probe.Streams)
				}
				span := <-spans[name]
				t.Logf("%s: %s %d frames, %s %d Hz %d ch %d frames, packets over %.3f s", name, v.CodecName, v.NbReadFrames,
					a.CodecName, a.SampleRate, a.Channels, a.NbReadFrames, span)
				if v.CodecName != "h264" || v.NbReadFrames != 50 {
					t.Errorf("%s video: %s %d frames, want h264 50", name, v.CodecName, v.NbReadFrames)
				}
				if a.CodecName != tc.audio || a.SampleRate != tc.rate || a.Channels != tc.ch ||
					(tc.audioFrames > 0 && a.NbReadFrames != tc.audioFrames) || a.NbReadFrames == 0 {
					t.Errorf("%s audio: %s %d Hz %d ch %d frames, want %s %d Hz %d ch %d frames", name, a.CodecName,
						a.SampleRate, a.Channels, a.NbReadFrames, tc.audio, tc.rate, tc.ch, tc.audioFrames)
				}
				if span < 1.9 || span > 2.1 {
					t.Errorf("%s: packets over %.3f s, want about 2", name, span)
				}
			}
		})
	}
}

// flvTally is what a player of a stream got, judged by mediakit's own FLV
// parsers (ffprobe 5.1 cannot read Enhanced FLV): the tracks the ingest
// finds in it, frames per codec, and how the bodies were framed.
type flvTally struct {
	tracks   []*media.Track
	frames   map[media.Codec]int
	enhanced map[media.Codec]bool // frames in Enhanced (FourCC) bodies
	// headerless are the codecs with a frame before any sequence header
	// of theirs.
	headerless  map[media.Codec]bool
	headers     map[media.Codec]bool
	first, last time.Duration // the span of the frames' timestamps (DTS)
	err         error
}

// frame counts a frame of codec c at ts.
func (ft *flvTally) frame(c media.Codec, ts time.Duration, enhanced bool) {
	if len(ft.frames) == 0 || ts < ft.first {
		ft.first = ts
	}
	ft.last = max(ft.last, ts)
	ft.frames[c]++
	ft.enhanced[c] = enhanced
	if !ft.headers[c] {
		ft.headerless[c] = true
	}
}

// add takes one audio or video body.
func (ft *flvTally) add(in *flv.Ingest, video bool, ts time.Duration, body []byte) error {
	if ft.frames == nil {
		ft.frames, ft.enhanced = map[media.Codec]int{}, map[media.Codec]bool{}
		ft.headers, ft.headerless = map[media.Codec]bool{}, map[media.Codec]bool{}
	}
	ex := len(body) > 0 && ((video && body[0]&0x80 != 0) || (!video && body[0]>>4 == 9))
	if video {
		if err := flv.EachVideoPacket(body, func(p flv.VideoPacket) error {
			switch p.Type {
			case flv.VideoSequenceHeader:
				ft.headers[p.Codec] = true
			case flv.VideoFrame:
				ft.frame(p.Codec, ts, ex)
			}
			return nil
		}); err != nil {
			return err
		}
		return in.Video(ts, body)
	}
	if err := flv.EachAudioPacket(body, func(p flv.AudioPacket) error {
		switch {
		case p.SequenceHeader:
			ft.headers[p.Codec] = true
		case !p.Ignored:
			// Legacy codecs without a sequence header (MP3, G.711)
			// count as having one.
			ft.headers[p.Codec] = ft.headers[p.Codec] || (p.Codec != media.CodecAAC && p.Codec != media.CodecOpus)
			ft.frame(p.Codec, ts, ex)
		}
		return nil
	}); err != nil {
		return err
	}
	return in.Audio(ts, body)
}

// playHTTPFLV plays url until the stream ends.
func playHTTPFLV(ctx context.Context, url string) (ft flvTally) {
	sink := &clipframes.FrameCollector{}
	in := flv.NewIngest(sink)
	defer func() { ft.tracks = sink.Tracks }()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ft.err = err
		return ft
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		ft.err = fmt.Errorf("status %d", resp.StatusCode)
		return ft
	}
	r := flv.NewReader(resp.Body, 0)
	for {
		tag, err := r.Next()
		if errors.Is(err, io.EOF) {
			ft.err = in.Flush()
			return ft
		}
		if err != nil {
			ft.err = err
			return ft
		}
		switch tag.Type {
		case flv.TagVideo, flv.TagAudio:
			if err := ft.add(in, tag.Type == flv.TagVideo, tag.Timestamp, slices.Clone(tag.Body)); err != nil {
				ft.err = err
				return ft
			}
		case flv.TagScript:
			_ = in.Script(tag.Body)
		}
	}
}

// playRTMP plays url with mediakit's RTMP client until the stream ends.
func playRTMP(ctx context.Context, url string) (ft flvTally) {
	sink := &clipframes.FrameCollector{}
	in := flv.NewIngest(sink)
	defer func() { ft.tracks = sink.Tracks }()
	c, err := rtmp.DialPlay(ctx, url, rtmp.ClientOptions{StartTimeout: 20 * time.Second})
	if err != nil {
		ft.err = err
		return ft
	}
	defer c.Close()
	for {
		msg, err := c.ReadMessage()
		if errors.Is(err, io.EOF) {
			ft.err = in.Flush()
			return ft
		}
		if err != nil {
			ft.err = err
			return ft
		}
		switch msg.Type {
		case rtmp.MsgVideo, rtmp.MsgAudio:
			if err := ft.add(in, msg.Type == rtmp.MsgVideo, msg.Timestamp, msg.Body); err != nil {
				ft.err = err
				return ft
			}
		case rtmp.MsgDataAMF0:
			_ = in.Script(msg.Body)
		}
	}
}

// flvPlayers plays a stream over RTMP and HTTP-FLV from before it starts.
func flvPlayers(t *testing.T, ts *testServer, stream string) map[string]<-chan flvTally {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	out := map[string]<-chan flvTally{}
	for name, play := range map[string]func() flvTally{
		"rtmp":     func() flvTally { return playRTMP(ctx, ts.rtmpURL+"/live/"+stream) },
		"http-flv": func() flvTally { return playHTTPFLV(ctx, ts.httpURL+"/live/"+stream+".live.flv") },
	} {
		ch := make(chan flvTally, 1)
		go func() { ch <- play() }()
		out[name] = ch
	}
	ts.waitWaiting(t, 2)
	return out
}

// publishEnhanced publishes tracks and frames with gortmplib's client, an
// Enhanced RTMP v2 publisher, in real time. With secondVideo it sends
// every video frame on a second video track too (a multitrack message,
// track id 1), as OBS does with several encodings. A frame of a track
// not among tracks replaces the track of its kind: a new onMetaData and
// sequence headers, as a publisher that changes codec sends them.
func publishEnhanced(ctx context.Context, rtmpURL string, tracks []*media.Track, frames []*media.Frame, secondVideo bool) error {
	u, err := url.Parse(rtmpURL)
	if err != nil {
		return err
	}
	c := &gortmplib.Client{URL: u, Publish: true}
	if err := c.Initialize(ctx); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	var w *gortmplib.Writer
	var byTrack map[*media.Track][]*gortmplib.Track
	announce := func(tracks []*media.Track) error {
		byTrack = map[*media.Track][]*gortmplib.Track{}
		var all []*gortmplib.Track
		for _, tr := range tracks {
			var codec gcodecs.Codec
			switch tr.Codec {
			case media.CodecH264:
				codec = &gcodecs.H264{SPS: tr.SPS, PPS: tr.PPS}
			case media.CodecAV1:
				codec = &gcodecs.AV1{}
			case media.CodecVP9:
				codec = &gcodecs.VP9{}
			case media.CodecOpus:
				codec = &gcodecs.Opus{IDHeader: &opus.IDHeader{Version: 1, ChannelCount: uint8(tr.Channels), InputSampleRate: 48000}}
			default:
				return fmt.Errorf("publishEnhanced: codec %v", tr.Codec)
			}
			gt := &gortmplib.Track{Codec: codec}
			byTrack[tr] = append(byTrack[tr], gt)
			all = append(all, gt)
			if secondVideo && tr.Kind() == media.KindVideo {
				second := &gortmplib.Track{Codec: codec}
				byTrack[tr] = append(byTrack[tr], second)
				all = append(all, second)
			}
		}
		// Video tracks first: gortmplib numbers tracks of a kind in order.
		slices.SortStableFunc(all, func(a, b *gortmplib.Track) int {
			if a.Codec.IsVideo() == b.Codec.IsVideo() {
				return 0
			}
			if a.Codec.IsVideo() {
				return -1
			}
			return 1
		})
		w = &gortmplib.Writer{Conn: c, Tracks: all}
		if err := w.Initialize(); err != nil {
			return fmt.Errorf("tracks: %w", err)
		}
		return nil
	}
	if err := announce(tracks); err != nil {
		return err
	}
	start := time.Now()
	for _, f := range frames {
		if d := time.Until(start.Add(f.DTS)); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if byTrack[f.Track] == nil {
			tracks = append(slices.DeleteFunc(slices.Clone(tracks), func(t *media.Track) bool { return t.Kind() == f.Track.Kind() }), f.Track)
			if err := announce(tracks); err != nil {
				return err
			}
		}
		for _, gt := range byTrack[f.Track] {
			switch f.Track.Codec {
			case media.CodecH264:
				var au h264.AVCC
				if err = au.Unmarshal(f.Payload); err == nil {
					err = w.WriteH264(gt, f.PTS, f.DTS, au)
				}
			case media.CodecAV1:
				var tu av1.Bitstream
				if err := tu.Unmarshal(f.Payload); err != nil {
					return err
				}
				err = w.WriteAV1(gt, f.DTS, tu)
			case media.CodecVP9:
				err = w.WriteVP9(gt, f.DTS, f.Payload)
			case media.CodecOpus:
				err = w.WriteOpus(gt, f.DTS, f.Payload)
			}
			if err != nil {
				return fmt.Errorf("frame at %v: %w", f.DTS, err)
			}
		}
	}
	return nil
}

// mediaInfoCodecs returns the codec ids getMediaInfo reports for a live
// RTMP stream.
func mediaInfoCodecs(t *testing.T, ts *testServer, stream string) []int {
	t.Helper()
	reply := ts.apiCall(t, "getMediaInfo", url.Values{"schema": {"rtmp"}, "vhost": {"__defaultVhost__"},
		"app": {"live"}, "stream": {stream}})
	tracks, _ := reply["tracks"].([]any)
	var ids []int
	for _, tr := range tracks {
		m, _ := tr.(map[string]any)
		id, _ := m["codec_id"].(float64)
		ids = append(ids, int(id))
	}
	return ids
}

// TestFLVCodecsEnhancedPublish: gortmplib publishes AV1+Opus and
// VP9+Opus over Enhanced RTMP, and AV1+Opus with a second video track
// (multitrack). The stream has the video and Opus tracks (getMediaInfo
// codec ids 9 or 8, and 5; the second video track left out with one
// warning, the publisher kept), and RTMP and HTTP-FLV players that waited
// for it get Enhanced FLV with every frame: 50 video, 101 Opus.
func TestFLVCodecsEnhancedPublish(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	for _, tc := range []struct {
		name, clip  string
		multitrack  bool
		video       media.Codec
		wantCodecID []int
	}{
		{"av1", "av1_opus.mp4", false, media.CodecAV1, []int{9, 5}},
		{"vp9", "vp9_opus.mp4", false, media.CodecVP9, []int{8, 5}},
		{"multitrack", "av1_opus.mp4", true, media.CodecAV1, []int{9, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tracks, frames := clipframes.ReadMP4(t, tc.clip)
			ts := startServer(t, nil)
			players := flvPlayers(t, ts, tc.name)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			published := make(chan error, 1)
			go func() { published <- publishEnhanced(ctx, ts.rtmpURL+"/live/"+tc.name, tracks, frames, tc.multitrack) }()
			waitStream(t, ts, "live/"+tc.name)
			if ids := mediaInfoCodecs(t, ts, tc.name); !slices.Equal(ids, tc.wantCodecID) {
				t.Errorf("getMediaInfo codec ids %v, want %v", ids, tc.wantCodecID)
			}
			if err := <-published; err != nil {
				t.Fatalf("publisher: %v", err)
			}
			for name, ch := range players {
				got := <-ch
				if got.err != nil {
					t.Fatalf("%s player: %v", name, got.err)
				}
				t.Logf("%s: tracks %v frames %v", name, got.tracks, got.frames)
				if len(got.tracks) != 2 || got.tracks[0].Codec != tc.video || got.tracks[1].Codec != media.CodecOpus ||
					got.tracks[0].Width != 320 || got.tracks[0].Height != 240 || got.tracks[1].Channels != 2 {
					t.Errorf("%s: tracks %v, want %v 320x240 and opus stereo", name, got.tracks, tc.video)
				}
				if got.frames[tc.video] != 50 || got.frames[media.CodecOpus] != 101 || len(got.frames) != 2 {
					t.Errorf("%s: frames %v, want 50 %v and 101 opus", name, got.frames, tc.video)
				}
				if !got.enhanced[tc.video] || !got.enhanced[media.CodecOpus] {
					t.Errorf("%s: frames not in Enhanced FLV bodies: %v", name, got.enhanced)
				}
				// The clips' 2 s: video to 1.96 s, Opus to 2 s.
				if span := got.last - got.first; span < 1900*time.Millisecond || span > 2100*time.Millisecond {
					t.Errorf("%s: frames over %v, want about 2 s", name, span)
				}
			}
			// One warning for the left-out second video track, none
			// otherwise; no session ended with an error.
			wantWarnings := 0
			if tc.multitrack {
				wantWarnings = 1
			}
			for _, line := range strings.Split(ts.logs.String(), "\n") {
				if strings.Contains(line, "ingest: media left out") {
					wantWarnings--
					if !strings.Contains(line, `media="video multitrack"`) {
						t.Errorf("unexpected warning: %s", line)
					}
				}
				if strings.Contains(line, "connection closed") && strings.Contains(line, "error=") {
					t.Errorf("a connection ended with an error: %s", line)
				}
			}
			if wantWarnings != 0 {
				t.Errorf("left-out warnings: %d more than wanted (negative: too few)", -wantWarnings)
			}
		})
	}
}

// TestFLVCodecChange: a publisher switches its video from H.264 to AV1
// mid-stream over Enhanced RTMP (gortmplib: new onMetaData and sequence
// header, then AV1 frames). RTMP and HTTP-FLV players that waited for the
// stream stay connected and get every frame of both codecs, each codec's
// sequence header before its first frame, and AV1 320x240 as their last
// track, over the 3 s published.
func TestFLVCodecChange(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	h264Tracks, h264Frames := clipframes.Read(t, "h264_only.flv")
	_, av1Frames := clipframes.ReadMP4(t, "av1_opus.mp4")
	var frames []*media.Frame
	for _, f := range h264Frames {
		if f.DTS < time.Second {
			frames = append(frames, f)
		}
	}
	h264Count := len(frames)
	av1Count := 0
	for _, f := range av1Frames {
		if f.Track.Codec == media.CodecAV1 {
			frames = append(frames, &media.Frame{Track: f.Track, DTS: f.DTS + time.Second, PTS: f.PTS + time.Second, Key: f.Key, Payload: f.Payload})
			av1Count++
		}
	}
	ts := startServer(t, nil)
	players := flvPlayers(t, ts, "switch")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := publishEnhanced(ctx, ts.rtmpURL+"/live/switch", h264Tracks[:1], frames, false); err != nil {
		t.Fatalf("publisher: %v", err)
	}
	for name, ch := range players {
		got := <-ch
		if got.err != nil {
			t.Fatalf("%s player: %v", name, got.err)
		}
		t.Logf("%s: tracks %v frames %v headers %v, over %v", name, got.tracks, got.frames, got.headers, got.last-got.first)
		if got.frames[media.CodecH264] != h264Count || got.frames[media.CodecAV1] != av1Count || len(got.frames) != 2 {
			t.Errorf("%s: frames %v, want %d h264 then %d av1", name, got.frames, h264Count, av1Count)
		}
		if len(got.headerless) != 0 || !got.headers[media.CodecAV1] {
			t.Errorf("%s: frames before their codec's sequence header: %v", name, got.headerless)
		}
		if len(got.tracks) != 1 || got.tracks[0].Codec != media.CodecAV1 || got.tracks[0].Width != 320 || got.tracks[0].Height != 240 {
			t.Errorf("%s: last tracks %v, want av1 320x240", name, got.tracks)
		}
		if span := got.last - got.first; span < 2900*time.Millisecond || span > 3100*time.Millisecond {
			t.Errorf("%s: frames over %v, want about 3 s", name, span)
		}
	}
}

// TestFLVDropsTrackItCannotCarry: a stream with a track of a codec FLV
// cannot carry (a made-up one: FLV carries every codec mediakit has) plays
// over RTMP and HTTP-FLV with its video, the track dropped and reported
// once per output in getMediaInfo's dropped_by.
func TestFLVDropsTrackItCannotCarry(t *testing.T) {
	t.Parallel()
	tracks, frames := clipframes.Read(t, "h264_only.flv")
	fake := &media.Track{Codec: media.Codec(99), SampleRate: 8000, Channels: 1}
	ts := startServer(t, nil)
	players := flvPlayers(t, ts, "drop")
	key := engine.Key{Vhost: "__defaultVhost__", App: "live", Stream: "drop"}
	pub, err := ts.Engine.Publish(context.Background(), key, engine.SessionInfo{ID: "test-drop", Protocol: "rtmp"})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.SetTracks(append(slices.Clone(tracks), fake)); err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if err := pub.WriteFrame(&media.Frame{Track: f.Track, DTS: f.DTS, PTS: f.PTS, Key: f.Key, Payload: f.Payload}); err != nil {
			t.Fatal(err)
		}
		if err := pub.WriteFrame(&media.Frame{Track: fake, DTS: f.DTS, PTS: f.DTS, Key: true, Payload: []byte{1, 2, 3}}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "both FLV outputs to report the drop", func() bool {
		dropped := droppedByOutputs(t, ts, "drop")
		return slices.Contains(dropped, "rtmp") && slices.Contains(dropped, "http-flv")
	})
	pub.Close()
	for name, ch := range players {
		got := <-ch
		if got.err != nil {
			t.Fatalf("%s player: %v", name, got.err)
		}
		if len(got.tracks) != 1 || got.tracks[0].Codec != media.CodecH264 || got.frames[media.CodecH264] != len(frames) || len(got.frames) != 1 {
			t.Errorf("%s: tracks %v frames %v, want h264 only, %d frames", name, got.tracks, got.frames, len(frames))
		}
	}
	for _, output := range []string{"rtmp", "http-flv"} {
		if n := strings.Count(ts.logs.String(), "output="+output+" codec=unknown"); n != 1 {
			t.Errorf("%s: %d drop warnings, want 1", output, n)
		}
	}
}

// droppedByOutputs is getMediaInfo's dropped_by of every track of a live
// RTMP stream.
func droppedByOutputs(t *testing.T, ts *testServer, stream string) []string {
	t.Helper()
	reply := ts.apiCall(t, "getMediaInfo", url.Values{"schema": {"rtmp"}, "vhost": {"__defaultVhost__"},
		"app": {"live"}, "stream": {stream}})
	tracks, _ := reply["tracks"].([]any)
	var out []string
	for _, tr := range tracks {
		m, _ := tr.(map[string]any)
		list, _ := m["dropped_by"].([]any)
		for _, o := range list {
			out = append(out, fmt.Sprint(o))
		}
	}
	return out
}
