package llhls

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	mp4codecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// samples counts the samples of track id (1-based) in fMP4 fragments.
func samples(t *testing.T, data []byte, id int) int {
	t.Helper()
	var parts fmp4.Parts
	if err := parts.Unmarshal(data); err != nil {
		t.Fatalf("fragments: %v", err)
	}
	n := 0
	for _, p := range parts {
		for _, pt := range p.Tracks {
			if pt.ID == id {
				n += len(pt.Samples)
			}
		}
	}
	return n
}

// initCodec returns the codec of the single track of an init file.
func initCodec(t *testing.T, data []byte) (mp4codecs.Codec, uint32) {
	t.Helper()
	var in fmp4.Init
	if err := in.Unmarshal(bytes.NewReader(data)); err != nil {
		t.Fatalf("init: %v", err)
	}
	if len(in.Tracks) != 1 {
		t.Fatalf("init has %d tracks, want 1", len(in.Tracks))
	}
	return in.Tracks[0].Codec, in.Tracks[0].TimeScale
}

// TestServeLLHLS plays a published H.264+AAC stream through the
// multivariant playlist, the media playlists, init files, segments and
// parts, and checks the LL-HLS tags and contents.
func TestServeLLHLS(t *testing.T) {
	for _, name := range []string{"h264_aac.flv", "h264_bframes_aac.flv"} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, testSettings(), 5*time.Second)
			tracks, frames := clip(t, name)
			publishClip(t, h.e, engine.NewKey("", "live", "cam"), tracks, frames, 2)

			code, hdr, body := h.get(t, "/live/cam/hls.fmp4.m3u8?token=abc")
			if code != http.StatusOK {
				t.Fatalf("multivariant: %d %s", code, body)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/vnd.apple.mpegurl" {
				t.Errorf("Content-Type %q", ct)
			}
			mv, uris := multivariant(t, body)
			if len(mv.Variants) != 1 || len(uris) != 2 {
				t.Fatalf("multivariant: %d variants, uris %v\n%s", len(mv.Variants), uris, body)
			}
			codecs := strings.Join(mv.Variants[0].Codecs, ",")
			if !strings.Contains(codecs, "avc1.") || !strings.Contains(codecs, "mp4a.40.2") || mv.Variants[0].Resolution != "320x240" {
				t.Errorf("variant codecs %q resolution %q", codecs, mv.Variants[0].Resolution)
			}
			for _, u := range uris {
				if !strings.HasPrefix(u, Dir+"/") || !strings.Contains(u, "token=abc") {
					t.Errorf("media playlist URI %q: want %s/... with the playlist's query", u, Dir)
				}
			}

			// Video: LL-HLS tags, init, segments and parts.
			code, _, body = h.get(t, "/live/cam/"+uris[0])
			if code != http.StatusOK {
				t.Fatalf("video playlist: %d", code)
			}
			for _, tag := range []string{"#EXT-X-PART-INF:PART-TARGET=", "CAN-BLOCK-RELOAD=YES", "PART-HOLD-BACK=", "#EXT-X-PART:", "#EXT-X-PRELOAD-HINT:TYPE=PART", "#EXT-X-MAP:"} {
				if !bytes.Contains(body, []byte(tag)) {
					t.Errorf("video playlist lacks %s:\n%s", tag, body)
				}
			}
			pl := mediaPlaylist(t, body)
			if pl.PartInf == nil || pl.PartInf.PartTarget < 200*time.Millisecond || pl.PartInf.PartTarget > time.Second {
				t.Errorf("part target %+v", pl.PartInf)
			}
			if pl.ServerControl == nil || !pl.ServerControl.CanBlockReload || pl.ServerControl.PartHoldBack == nil ||
				*pl.ServerControl.PartHoldBack < 2*pl.PartInf.PartTarget {
				t.Errorf("server control %+v", pl.ServerControl)
			}
			dir := "/live/cam/" + Dir + "/"
			code, _, init := h.get(t, dir+pl.Map.URI)
			if code != http.StatusOK {
				t.Fatalf("init: %d", code)
			}
			if c, ts := initCodec(t, init); ts != 90000 {
				t.Errorf("video timescale %d", ts)
			} else if _, ok := c.(*mp4codecs.H264); !ok {
				t.Errorf("video codec %T", c)
			}
			real := 0
			for _, seg := range pl.Segments {
				if seg.Gap {
					continue
				}
				real++
				code, _, data := h.get(t, dir+seg.URI)
				if code != http.StatusOK {
					t.Fatalf("segment %s: %d", seg.URI, code)
				}
				// 25 fps, keyframe every second, 1 s segments.
				want := int(math.Round(seg.Duration.Seconds() * 25))
				// B-frames shift a segment's first DTS: one frame either way.
				if n := samples(t, data, 1); n < want-1 || n > want+1 {
					t.Errorf("segment %s of %v: %d video samples, want %d", seg.URI, seg.Duration, n, want)
				}
				partSamples := 0
				for _, p := range seg.Parts {
					code, _, pd := h.get(t, dir+p.URI)
					if code != http.StatusOK {
						t.Fatalf("part %s: %d", p.URI, code)
					}
					partSamples += samples(t, pd, 1)
				}
				if n := samples(t, data, 1); len(seg.Parts) > 0 && partSamples != n {
					t.Errorf("parts of %s hold %d samples, the segment %d", seg.URI, partSamples, n)
				}
			}
			if real == 0 {
				t.Fatalf("no segment in\n%s", body)
			}

			// Audio rendition.
			code, _, body = h.get(t, "/live/cam/"+uris[1])
			if code != http.StatusOK {
				t.Fatalf("audio playlist: %d", code)
			}
			apl := mediaPlaylist(t, body)
			code, _, init = h.get(t, dir+apl.Map.URI)
			if c, ts := initCodec(t, init); code != http.StatusOK || ts != 44100 {
				t.Errorf("audio init: %d, timescale %d", code, ts)
			} else if _, ok := c.(*mp4codecs.MPEG4Audio); !ok {
				t.Errorf("audio codec %T", c)
			}

			// Unknown files of the directory are 404, not an empty 200.
			if code, _, _ := h.get(t, dir+"000000000000_video1_seg999999.mp4"); code != http.StatusNotFound {
				t.Errorf("unknown segment: %d", code)
			}
		})
	}
}

// TestBlockingReload: a reload for the next part is answered only once
// the playlist has it, and a preload hint request gets the part when it
// is complete. Judged by the playlist's content, not by timing: while
// the blocking request is out, plain reloads show the part missing.
func TestBlockingReload(t *testing.T) {
	h := newHarness(t, testSettings(), 5*time.Second)
	tracks, frames := clip(t, "h264_aac.flv")
	publishClip(t, h.e, engine.NewKey("", "live", "cam"), tracks, frames, 1)
	_, _, body := h.get(t, "/live/cam/hls.fmp4.m3u8")
	_, uris := multivariant(t, body)
	media := "/live/cam/" + uris[0]
	sep := "?"
	if strings.Contains(media, "?") {
		sep = "&"
	}

	for round := range 3 {
		_, _, body = h.get(t, media)
		pl := mediaPlaylist(t, body)
		msn, part := nextPart(pl)
		if round == 2 {
			// The first part of the segment after the one being made.
			msn, part = msn+1, 0
		}
		type result struct {
			code int
			body []byte
		}
		var returned atomic.Bool
		ch := make(chan result, 1)
		go func() {
			resp, err := http.Get(h.http.URL + media + sep + fmt.Sprintf("_HLS_msn=%d&_HLS_part=%d", msn, part))
			if err != nil {
				ch <- result{}
				return
			}
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			resp.Body.Close()
			returned.Store(true)
			ch <- result{resp.StatusCode, b.Bytes()}
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
			_, _, b := h.get(t, media)
			if !hasPart(mediaPlaylist(t, b), msn, part) && !returned.Load() {
				sawMissing = true
			}
			time.Sleep(20 * time.Millisecond)
		}
		if res.code != http.StatusOK {
			t.Fatalf("blocking reload %d/%d: %d %s", msn, part, res.code, res.body)
		}
		if !sawMissing {
			t.Errorf("round %d: part %d/%d was never missing while the reload was out", round, msn, part)
		}
		if got := mediaPlaylist(t, res.body); !hasPart(got, msn, part) {
			t.Fatalf("blocking reload for %d/%d returned a playlist without it:\n%s", msn, part, res.body)
		}
	}

	// A preload hint is answered with the part once complete.
	_, _, body = h.get(t, media)
	pl := mediaPlaylist(t, body)
	if pl.PreloadHint == nil {
		t.Fatalf("no preload hint:\n%s", body)
	}
	code, _, data := h.get(t, "/live/cam/"+Dir+"/"+pl.PreloadHint.URI)
	if code != http.StatusOK || samples(t, data, 1) == 0 {
		t.Fatalf("preload hint %s: %d, %d bytes", pl.PreloadHint.URI, code, len(data))
	}
	_, _, body = h.get(t, media)
	found := false
	for _, p := range mediaPlaylist(t, body).Parts {
		found = found || p.URI == pl.PreloadHint.URI
	}
	for _, s := range mediaPlaylist(t, body).Segments {
		for _, p := range s.Parts {
			found = found || p.URI == pl.PreloadHint.URI
		}
	}
	if !found {
		t.Errorf("hinted part %s not in the next playlist:\n%s", pl.PreloadHint.URI, body)
	}

	// Beyond the next segment is a bad request at once.
	code, _, _ = h.get(t, media+sep+fmt.Sprintf("_HLS_msn=%d", pl.MediaSequence+len(pl.Segments)+5))
	if code != http.StatusBadRequest {
		t.Errorf("reload far ahead: %d, want 400", code)
	}
}

// TestWaitForStream: the first request waits up to the engine's
// MaxStreamWait for the stream to be published, and gets 404 when it is
// not; media requests never start a muxer.
func TestWaitForStream(t *testing.T) {
	h := newHarness(t, testSettings(), 3*time.Second)
	key := engine.NewKey("", "live", "late")
	type result struct {
		code int
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		resp, err := http.Get(h.http.URL + "/live/late/hls.fmp4.m3u8")
		if err != nil {
			ch <- result{err: err}
			return
		}
		resp.Body.Close()
		ch <- result{code: resp.StatusCode}
	}()
	// Publish once the request has looked for the stream and waits.
	waitFor(t, 5*time.Second, "the request to look for the stream", func() bool { return h.spy.lookups.Load() > 0 })
	select {
	case r := <-ch:
		t.Fatalf("request answered before the stream came: %+v", r)
	default:
	}
	tracks, frames := clip(t, "h264_aac.flv")
	publishClip(t, h.e, key, tracks, frames, 2)
	if r := <-ch; r.err != nil || r.code != http.StatusOK {
		t.Fatalf("late stream: %+v", r)
	}

	// Never published: 404 after the wait.
	if code, _, _ := h.get(t, "/live/never/hls.fmp4.m3u8"); code != http.StatusNotFound {
		t.Errorf("missing stream: %d", code)
	}
	if code, _, _ := h.get(t, "/live/never/"+Dir+"/video1_stream.m3u8"); code != http.StatusNotFound {
		t.Errorf("missing stream's media playlist: %d", code)
	}
	// A media file of a stream without a muxer: 404 without starting one.
	other := engine.NewKey("", "live", "other")
	publishClip(t, h.e, other, tracks, frames, 2)
	if code, _, _ := h.get(t, "/live/other/"+Dir+"/x_video1_part1.mp4"); code != http.StatusNotFound {
		t.Errorf("part without muxer: %d", code)
	}
	if has, _ := h.e.HasSink(context.Background(), other, SinkName); has {
		t.Error("a media request started a muxer")
	}
}

// TestIdleStop: an on-demand muxer stops after IdleTimeout without a
// request, one that is requested stays, and a new request starts it
// again. A muxer started with the stream (not on demand) stays.
func TestIdleStop(t *testing.T) {
	s := testSettings()
	s.IdleTimeout = 600 * time.Millisecond
	h := newHarness(t, s, 5*time.Second)
	tracks, frames := clip(t, "h264_aac.flv")
	idle := engine.NewKey("", "live", "idle")
	always := engine.NewKey("", "live", "always")
	h.e.SetSinkPolicy(func(info engine.StreamInfo) map[string]func() engine.Sink {
		if info.Key == always {
			return map[string]func() engine.Sink{SinkName: h.srv.NewSink(info.Key, false)}
		}
		return nil
	})
	publishClip(t, h.e, idle, tracks, frames, 2)
	publishClip(t, h.e, always, tracks, frames, 2)
	waitFor(t, 10*time.Second, "the always-on muxer to serve", func() bool { return h.srv.Serving(always) })
	if has, _ := h.e.HasSink(context.Background(), idle, SinkName); has {
		t.Fatal("on-demand muxer ran before a request")
	}
	ctx := context.Background()
	if code, _, _ := h.get(t, "/live/idle/hls.fmp4.m3u8"); code != http.StatusOK {
		t.Fatalf("playlist: %d", code)
	}
	// Requested more often than the idle timeout: kept. The sleeps pace
	// the requests; a loaded machine that stretched a gap between two
	// requests to the idle timeout makes a stop right, so the gaps are
	// measured, from before one request to after the next (or to the
	// check), which is never less than the muxer saw.
	var longest time.Duration
	last := time.Now() // before the latest request
	for range 6 {
		time.Sleep(s.IdleTimeout / 3)
		sent := time.Now()
		if code, _, _ := h.get(t, "/live/idle/hls.fmp4.m3u8"); code != http.StatusOK {
			t.Fatalf("playlist: %d", code)
		}
		longest, last = max(longest, time.Since(last)), sent
	}
	if has, _ := h.e.HasSink(ctx, idle, SinkName); !has {
		if longest = max(longest, time.Since(last)); longest < s.IdleTimeout {
			t.Fatalf("a watched muxer stopped (requests at most %v apart)", longest)
		}
		t.Logf("requests %v apart on a loaded machine, more than the %v idle timeout: keeping is not checked", longest, s.IdleTimeout)
	}
	waitFor(t, 10*time.Second, "the idle muxer to stop", func() bool {
		has, _ := h.e.HasSink(ctx, idle, SinkName)
		return !has && !h.srv.Serving(idle)
	})
	if has, _ := h.e.HasSink(ctx, always, SinkName); !has {
		t.Error("the muxer started with the stream stopped")
	}
	if code, _, _ := h.get(t, "/live/idle/hls.fmp4.m3u8"); code != http.StatusOK {
		t.Fatalf("playlist after the stop: %d", code)
	}
	if has, _ := h.e.HasSink(ctx, idle, SinkName); !has {
		t.Fatal("a new request did not start the muxer")
	}
}

// TestTrackChange: when the publisher changes codec (H.264 to H.265)
// the muxer starts over with the new track: new file names, an hvc1
// init file.
func TestTrackChange(t *testing.T) {
	h := newHarness(t, testSettings(), 5*time.Second)
	key := engine.NewKey("", "live", "change")
	tracks, frames := clip(t, "h264_only.flv")
	f := publishClip(t, h.e, key, tracks, frames, 4)
	_, _, body := h.get(t, "/live/change/hls.fmp4.m3u8")
	_, uris := multivariant(t, body)
	_, _, body = h.get(t, "/live/change/"+uris[0])
	before := mediaPlaylist(t, body).Map.URI

	// Same publisher, new configuration.
	f.cancel()
	<-f.done
	hevc, hframes := hevcFrames(t)
	if err := f.p.SetTracks([]*media.Track{hevc}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// The publisher's clock goes on (the engine clamps a small step back).
	f2 := &feeder{p: f.p, cancel: cancel, done: make(chan struct{}), base: f.last + 40*time.Millisecond}
	go f2.run(ctx, hframes, 4)
	t.Cleanup(func() { cancel(); <-f2.done })

	var init []byte
	waitFor(t, 15*time.Second, "an H.265 muxer", func() bool {
		code, _, body := h.get(t, "/live/change/hls.fmp4.m3u8")
		if code != http.StatusOK {
			return false
		}
		mv, uris := multivariant(t, body)
		if !strings.HasPrefix(strings.Join(mv.Variants[0].Codecs, ","), "hvc1.") {
			return false
		}
		_, _, body = h.get(t, "/live/change/"+uris[0])
		pl := mediaPlaylist(t, body)
		if pl.Map.URI == before {
			t.Fatalf("new muxer kept the init URI %s", before)
		}
		_, _, init = h.get(t, "/live/change/"+Dir+"/"+pl.Map.URI)
		return true
	})
	if c, _ := initCodec(t, init); c == nil {
		t.Fatal("no codec")
	} else if _, ok := c.(*mp4codecs.H265); !ok {
		t.Fatalf("codec after the change: %T", c)
	}
	if !strings.Contains(h.logs.String(), "hls-fmp4 tracks changed") {
		t.Error("restart not logged")
	}
}

// TestDroppedTrack: G.711 is left out with one warning; the H.264 video
// plays.
func TestDroppedTrack(t *testing.T) {
	h := newHarness(t, testSettings(), 5*time.Second)
	tracks, frames := clip(t, "h264_only.flv")
	g711, err := media.NewG711Track(media.CodecG711A, 8000, 1)
	if err != nil {
		t.Fatal(err)
	}
	var mixed []*media.Frame
	for _, f := range frames {
		mixed = append(mixed, f)
		for i := range 2 { // 20 ms frames
			mixed = append(mixed, &media.Frame{Track: g711, DTS: f.DTS + time.Duration(i)*20*time.Millisecond,
				PTS: f.DTS + time.Duration(i)*20*time.Millisecond, Key: true, Payload: make([]byte, 160)})
		}
	}
	publishClip(t, h.e, engine.NewKey("", "live", "g711"), append(tracks, g711), mixed, 4)
	code, _, body := h.get(t, "/live/g711/hls.fmp4.m3u8")
	if code != http.StatusOK {
		t.Fatalf("playlist: %d", code)
	}
	mv, uris := multivariant(t, body)
	if len(uris) != 1 || strings.Join(mv.Variants[0].Codecs, ",") == "" || strings.Contains(strings.Join(mv.Variants[0].Codecs, ","), "mp4a") {
		t.Fatalf("multivariant with G.711:\n%s", body)
	}
	if n := strings.Count(h.logs.String(), DroppedTrackMessage(g711)); n != 1 {
		t.Errorf("%d warnings about the G.711 track, want 1", n)
	}
}

// TestAudioOnly and Opus: a stream without video is served from its
// audio track.
func TestAudioOnly(t *testing.T) {
	h := newHarness(t, testSettings(), 5*time.Second)
	tracks, frames := clip(t, "aac_only.flv")
	publishClip(t, h.e, engine.NewKey("", "live", "radio"), tracks, frames, 4)
	code, _, body := h.get(t, "/live/radio/hls.fmp4.m3u8")
	if code != http.StatusOK {
		t.Fatalf("playlist: %d %s", code, body)
	}
	mv, uris := multivariant(t, body)
	if len(uris) != 1 || !strings.Contains(strings.Join(mv.Variants[0].Codecs, ","), "mp4a.40.2") {
		t.Fatalf("audio-only multivariant:\n%s", body)
	}
	_, _, body = h.get(t, "/live/radio/"+uris[0])
	pl := mediaPlaylist(t, body)
	n := 0
	for _, s := range pl.Segments {
		if !s.Gap {
			_, _, data := h.get(t, "/live/radio/"+Dir+"/"+s.URI)
			n += samples(t, data, 1)
		}
	}
	if n == 0 {
		t.Fatalf("no audio samples in\n%s", body)
	}
}

// TestAuthorize: the Authorizer is asked once per client and stream
// while the client keeps requesting (grants), and its refusal is a 403.
func TestAuthorize(t *testing.T) {
	h := newHarness(t, testSettings(), 5*time.Second)
	auth := &countingAuth{deny: "denied"}
	h.srv.Authorizer = auth
	tracks, frames := clip(t, "h264_aac.flv")
	publishClip(t, h.e, engine.NewKey("", "live", "ok"), tracks, frames, 2)
	publishClip(t, h.e, engine.NewKey("", "live", "denied"), tracks, frames, 2)
	if code, _, _ := h.get(t, "/live/denied/hls.fmp4.m3u8"); code != http.StatusForbidden {
		t.Errorf("denied stream: %d", code)
	}
	_, _, body := h.get(t, "/live/ok/hls.fmp4.m3u8")
	_, uris := multivariant(t, body)
	for range 3 {
		if code, _, _ := h.get(t, "/live/ok/"+uris[0]); code != http.StatusOK {
			t.Fatalf("media playlist: %d", code)
		}
	}
	if n := auth.asked.Load(); n != 2 {
		t.Errorf("authorizer asked %d times, want 2 (one per client and stream)", n)
	}
	if p := auth.protocol.Load(); p == nil || *p != Protocol {
		t.Errorf("session protocol %v", p)
	}
}

type countingAuth struct {
	deny     string
	asked    atomic.Int64
	protocol atomic.Pointer[string]
}

func (a *countingAuth) AuthorizePlay(_ context.Context, key engine.Key, s engine.SessionInfo) error {
	a.asked.Add(1)
	a.protocol.Store(&s.Protocol)
	if key.Stream == a.deny {
		return errors.New("no")
	}
	return nil
}

// hevcFrames builds 25 fps frames from the raw H.265 clip.
func hevcFrames(t testing.TB) (*media.Track, []*media.Frame) {
	t.Helper()
	aus := testutil.ClipAccessUnits(t, "h265.hevc", true)
	var vps, sps, pps []byte
	for _, n := range aus[0] {
		switch (n[0] >> 1) & 0x3f {
		case 32:
			vps = n
		case 33:
			sps = n
		case 34:
			pps = n
		}
	}
	track, err := media.NewH265Track(vps, sps, pps)
	if err != nil {
		t.Fatal(err)
	}
	frames := make([]*media.Frame, len(aus))
	for i, au := range aus {
		payload := media.AppendAVCC(nil, au...)
		ts := time.Duration(i) * 40 * time.Millisecond
		frames[i] = &media.Frame{Track: track, DTS: ts, PTS: ts, Key: media.IsRandomAccess(media.CodecH265, payload), Payload: payload}
	}
	return track, frames
}

// TestOpus: an Opus track (20 ms packets) is muxed as fMP4 Opus.
func TestOpus(t *testing.T) {
	h := newHarness(t, testSettings(), 5*time.Second)
	opus := &media.Track{Codec: media.CodecOpus, SampleRate: 48000, Channels: 2}
	var frames []*media.Frame
	for i := range 200 { // 4 s; CELT fullband 20 ms silence packets
		ts := time.Duration(i) * 20 * time.Millisecond
		frames = append(frames, &media.Frame{Track: opus, DTS: ts, PTS: ts, Key: true, Payload: []byte{0xf8, 0xff, 0xfe}})
	}
	publishClip(t, h.e, engine.NewKey("", "live", "opus"), []*media.Track{opus}, frames, 4)
	code, _, body := h.get(t, "/live/opus/hls.fmp4.m3u8")
	if code != http.StatusOK {
		t.Fatalf("playlist: %d %s", code, body)
	}
	mv, uris := multivariant(t, body)
	if len(uris) != 1 || !strings.Contains(strings.Join(mv.Variants[0].Codecs, ","), "opus") {
		t.Fatalf("Opus multivariant:\n%s", body)
	}
	_, _, body = h.get(t, "/live/opus/"+uris[0])
	pl := mediaPlaylist(t, body)
	_, _, init := h.get(t, "/live/opus/"+Dir+"/"+pl.Map.URI)
	if c, ts := initCodec(t, init); ts != 48000 {
		t.Errorf("Opus timescale %d", ts)
	} else if o, ok := c.(*mp4codecs.Opus); !ok || o.ChannelCount != 2 {
		t.Errorf("codec %#v", c)
	}
	checked := 0
	for _, s := range pl.Segments {
		if s.Gap {
			continue
		}
		checked++
		_, _, data := h.get(t, "/live/opus/"+Dir+"/"+s.URI)
		// 50 packets a second.
		if n, want := samples(t, data, 1), int(math.Round(s.Duration.Seconds()*50)); n < want-1 || n > want+1 {
			t.Errorf("segment of %v: %d Opus samples, want %d", s.Duration, n, want)
		}
	}
	if checked == 0 {
		t.Fatalf("no segment:\n%s", body)
	}
}

// TestBadTrackConfig: an audio track whose configuration gohlslib cannot
// use is left out with a warning; the video is served all the same.
func TestBadTrackConfig(t *testing.T) {
	h := newHarness(t, testSettings(), 5*time.Second)
	tracks, frames := clip(t, "h264_only.flv")
	bad := &media.Track{Codec: media.CodecAAC, AACConfig: []byte{0xff}, SampleRate: 44100, Channels: 2}
	var mixed []*media.Frame
	for _, f := range frames {
		mixed = append(mixed, f, &media.Frame{Track: bad, DTS: f.DTS, PTS: f.DTS, Key: true, Payload: []byte{1, 2, 3}})
	}
	publishClip(t, h.e, engine.NewKey("", "live", "bad"), append(tracks, bad), mixed, 4)
	code, _, body := h.get(t, "/live/bad/hls.fmp4.m3u8")
	if code != http.StatusOK {
		t.Fatalf("playlist: %d", code)
	}
	mv, uris := multivariant(t, body)
	if len(uris) != 1 || strings.Contains(strings.Join(mv.Variants[0].Codecs, ","), "mp4a") {
		t.Fatalf("multivariant with a bad audio track:\n%s", body)
	}
	if n := strings.Count(h.logs.String(), "hls-fmp4: track left out"); n != 1 {
		t.Errorf("%d warnings about the bad track, want 1", n)
	}
	if strings.Contains(h.logs.String(), "tracks changed") {
		t.Error("the bad track restarted the muxer")
	}
}
