package server

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/llhls"
)

// llhlsMediaURL fetches a stream's multivariant playlist and returns the
// URL of its video media playlist.
func llhlsMediaURL(t *testing.T, base string) string {
	t.Helper()
	resp, body := httpGet(t, base+"/hls.fmp4.m3u8", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/hls.fmp4.m3u8: %d %s", base, resp.StatusCode, body)
	}
	var mv playlist.Multivariant
	if err := mv.Unmarshal(body); err != nil {
		t.Fatalf("multivariant playlist: %v\n%s", err, body)
	}
	if len(mv.Variants) != 1 {
		t.Fatalf("multivariant playlist:\n%s", body)
	}
	return base + "/" + mv.Variants[0].URI
}

func llhlsMedia(t *testing.T, url string) (*playlist.Media, []byte) {
	t.Helper()
	resp, body := httpGet(t, url, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	var pl playlist.Media
	if err := pl.Unmarshal(body); err != nil {
		t.Fatalf("media playlist: %v\n%s", err, body)
	}
	return &pl, body
}

// llhlsHasPart reports whether pl lists part (msn, part).
func llhlsHasPart(pl *playlist.Media, msn, part int) bool {
	i := msn - pl.MediaSequence
	switch {
	case i < len(pl.Segments):
		return true
	case i == len(pl.Segments):
		return part < len(pl.Parts)
	}
	return false
}

// TestLLHLSFFmpeg publishes over RTMP and plays fMP4 HLS with ffmpeg: the
// copy has the clip's codecs, size and frame rate; the playlist carries
// the LL-HLS tags; TS HLS keeps working on the same stream.
func TestLLHLSFFmpeg(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, func(c *config.Config) { c.HLS.SegDur = time.Second })
	testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/ll", true)
	waitStream(t, ts, "live/ll")
	base := ts.httpURL + "/live/ll"

	pl, body := llhlsMedia(t, llhlsMediaURL(t, base))
	for _, tag := range []string{"#EXT-X-PART:", "#EXT-X-PRELOAD-HINT:", "CAN-BLOCK-RELOAD=YES", "PART-HOLD-BACK=", "#EXT-X-PART-INF:"} {
		if !bytes.Contains(body, []byte(tag)) {
			t.Errorf("media playlist lacks %s:\n%s", tag, body)
		}
	}
	if pl.PartInf == nil || pl.PartInf.PartTarget < 200*time.Millisecond {
		t.Errorf("part target %+v, want at least hls.partDurMS (200ms)", pl.PartInf)
	}

	const seconds = 4
	out := filepath.Join(t.TempDir(), "out.mp4")
	p := testutil.StartFFmpeg(t, "-i", base+"/hls.fmp4.m3u8", "-t", fmt.Sprint(seconds), "-c", "copy", out)
	if err := p.Wait(90 * time.Second); err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	probe, err := testutil.FFprobe(ctx, t, out)
	if err != nil {
		t.Fatal(err)
	}
	v, a := probe.Video(), probe.Audio()
	if v == nil || v.CodecName != "h264" || v.Width != 320 || v.Height != 240 {
		t.Fatalf("video %+v", v)
	}
	if a == nil || a.CodecName != "aac" || a.SampleRate != 44100 {
		t.Fatalf("audio %+v", a)
	}
	pkts, err := testutil.FramePackets(ctx, t, out, "-select_streams", "v")
	if err != nil {
		t.Fatal(err)
	}
	// 25 fps: the copy holds the duration asked for, a frame either way.
	if n := len(pkts); math.Abs(float64(n-seconds*25)) > 3 {
		t.Errorf("%d video frames in %d s, want %d", n, seconds, seconds*25)
	}
	if !pkts[0].Keyframe() {
		t.Error("copy does not start at a keyframe")
	}

	// TS HLS of the same stream is untouched.
	livePlaylist(t, base+"/hls.m3u8")
	// One muxer whatever the number of viewers.
	if n := sinkCount(t, ts, "live", "ll", llhls.SinkName); n != 1 {
		t.Errorf("%d fMP4 HLS muxers, want 1", n)
	}
}

// TestLLHLSBlockingReload: a reload asking for the next part
// (_HLS_msn/_HLS_part) returns once the playlist has that part, judged
// by the playlist's content: while it is out, plain reloads lack it.
func TestLLHLSBlockingReload(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, func(c *config.Config) { c.HLS.SegDur = time.Second })
	testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/block", true)
	waitStream(t, ts, "live/block")
	media := llhlsMediaURL(t, ts.httpURL+"/live/block")

	for round := range 3 {
		pl, _ := llhlsMedia(t, media)
		msn, part := pl.MediaSequence+len(pl.Segments), len(pl.Parts)
		if round == 2 {
			msn, part = msn+1, 0 // the first part of the segment after next
		}
		type result struct {
			code int
			body []byte
			err  error
		}
		var returned atomic.Bool
		ch := make(chan result, 1)
		go func() {
			client := &http.Client{Timeout: 30 * time.Second}
			resp, err := client.Get(fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", media, msn, part))
			if err != nil {
				ch <- result{err: err}
				return
			}
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			resp.Body.Close()
			returned.Store(true)
			ch <- result{code: resp.StatusCode, body: b.Bytes()}
		}()
		sawMissing := false
		var res result
	poll:
		for {
			select {
			case res = <-ch:
				break poll
			default:
			}
			cur, _ := llhlsMedia(t, media)
			if !llhlsHasPart(cur, msn, part) && !returned.Load() {
				sawMissing = true
			}
			time.Sleep(20 * time.Millisecond)
		}
		if res.err != nil || res.code != http.StatusOK {
			t.Fatalf("blocking reload %d/%d: %v %d %s", msn, part, res.err, res.code, res.body)
		}
		if !sawMissing {
			t.Errorf("round %d: part %d/%d never missing while the reload was out", round, msn, part)
		}
		var got playlist.Media
		if err := got.Unmarshal(res.body); err != nil {
			t.Fatal(err)
		}
		if !llhlsHasPart(&got, msn, part) {
			t.Fatalf("reload for %d/%d answered without it:\n%s", msn, part, res.body)
		}
	}
}

// TestLLHLSMissingStream: a stream that is never published is a 404 once
// the max stream wait is over, not a hang.
func TestLLHLSMissingStream(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(c *config.Config) { c.General.MaxStreamWait = time.Second })
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Get(ts.httpURL + "/live/nobody/hls.fmp4.m3u8")
	if err != nil {
		t.Fatalf("request for a missing stream: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("missing stream: %d, want 404", resp.StatusCode)
	}
	for _, p := range []string{"/live/nobody/hls.fmp4/video1_stream.m3u8", "/live/nobody/hls.fmp4/x_video1_part0.mp4"} {
		if resp, _ := httpGet(t, ts.httpURL+p, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
}

// TestLLHLSAlwaysOn: protocol.enable_hls_fmp4 runs the muxer from
// publish, before any request.
func TestLLHLSAlwaysOn(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	// hls_demand, on by default, concerns MPEG-TS HLS: it does not cancel
	// enable_hls_fmp4.
	ts := startServer(t, func(c *config.Config) { c.Protocol.EnableHLSFMP4 = true })
	testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/on", true)
	waitStream(t, ts, "live/on")
	waitFor(t, 10*time.Second, "the fMP4 HLS muxer", func() bool {
		return sinkCount(t, ts, "live", "on", llhls.SinkName) == 1 && ts.llhls.Serving(engine.NewKey("", "live", "on"))
	})
	// A second stream on demand: no muxer until asked.
	ts2 := startServer(t, nil)
	testutil.PublishClip(t, "h264_aac.flv", ts2.rtmpURL+"/live/off", true)
	waitStream(t, ts2, "live/off")
	if n := sinkCount(t, ts2, "live", "off", llhls.SinkName); n != 0 {
		t.Fatalf("%d muxers before a request with enable_hls_fmp4 off", n)
	}
	llhlsMediaURL(t, ts2.httpURL+"/live/off")
	if n := sinkCount(t, ts2, "live", "off", llhls.SinkName); n != 1 {
		t.Fatalf("%d muxers after a request", n)
	}
}

// TestLLHLSIdleStop: an on-demand muxer stops after the idle period
// without requests. It runs an llhls server of its own (short idle
// time) on the server's engine, as TestLiveHLSReap does.
func TestLLHLSIdleStop(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, nil)
	const idle = time.Second
	l := llhls.NewServer(ts.Engine, func() llhls.Settings {
		return llhls.Settings{SegDur: time.Second, SegCount: 7, PartDur: 200 * time.Millisecond, IdleTimeout: idle}
	}, nil)
	srv := httptest.NewServer(l)
	t.Cleanup(srv.Close)
	t.Cleanup(l.Close)
	testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/idle", true)
	waitStream(t, ts, "live/idle")
	llhlsMediaURL(t, srv.URL+"/live/idle")
	if n := sinkCount(t, ts, "live", "idle", llhls.SinkName); n != 1 {
		t.Fatalf("%d muxers after a request", n)
	}
	waitFor(t, 15*time.Second, "the idle muxer to stop", func() bool {
		return sinkCount(t, ts, "live", "idle", llhls.SinkName) == 0
	})
	if resp, _ := httpGet(t, srv.URL+"/live/idle/hls.fmp4/video1_stream.m3u8", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("media playlist after the stop: %d (a playlist request restarts the muxer)", resp.StatusCode)
	}
}
