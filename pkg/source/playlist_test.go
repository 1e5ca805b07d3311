package source

import (
	"strings"
	"testing"
	"time"
)

func TestParsePlaylist(t *testing.T) {
	t.Parallel()
	t.Run("media", func(t *testing.T) {
		p, err := parsePlaylist([]byte("\xef\xbb\xbf#EXTM3U\r\n#EXT-X-VERSION:3\r\n#EXT-X-TARGETDURATION:4\r\n" +
			"#EXT-X-MEDIA-SEQUENCE:41\r\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00Z\r\n" +
			"#EXTINF:3.960,title\r\nseg41.ts\r\n#EXT-X-DISCONTINUITY\r\n#EXTINF:4,\r\nhttp://cdn/seg42.ts?x=1\r\n\r\n#EXT-X-ENDLIST\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		if p.master || !p.endList || p.targetDuration != 4*time.Second || p.unsupported != "" {
			t.Fatalf("%+v", p)
		}
		want := []segment{
			{uri: "seg41.ts", seq: 41, duration: 3960 * time.Millisecond},
			{uri: "http://cdn/seg42.ts?x=1", seq: 42, duration: 4 * time.Second, discontinuity: true},
		}
		if len(p.segments) != len(want) {
			t.Fatalf("segments %+v", p.segments)
		}
		for i, w := range want {
			if p.segments[i] != w {
				t.Errorf("segment %d: %+v, want %+v", i, p.segments[i], w)
			}
		}
	})
	t.Run("master", func(t *testing.T) {
		p, err := parsePlaylist([]byte("#EXTM3U\n" +
			"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"en\",URI=\"audio.m3u8\"\n" +
			"#EXT-X-STREAM-INF:BANDWIDTH=1280000,CODECS=\"avc1.4d401f,mp4a.40.2\",AUDIO=\"a\"\nmid.m3u8\n" +
			"#EXT-X-STREAM-INF:CODECS=\"avc1.640028,mp4a.40.2\",BANDWIDTH=2560000,RESOLUTION=1280x720\nhigh.m3u8\n" +
			"#EXT-X-STREAM-INF:BANDWIDTH=2560000\nhigh2.m3u8\n" +
			"#EXT-X-STREAM-INF:BANDWIDTH=640000\nlow.m3u8\n"))
		if err != nil {
			t.Fatal(err)
		}
		if !p.master || len(p.variants) != 4 || p.best().uri != "high.m3u8" {
			t.Fatalf("%+v", p)
		}
	})
	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct{ line, want string }{
			{"#EXT-X-MAP:URI=\"init.mp4\",BYTERANGE=\"100@0\"", "EXT-X-MAP BYTERANGE"},
			{"#EXT-X-BYTERANGE:1000@0", "BYTERANGE"},
			{"#EXT-X-KEY:METHOD=AES-128,URI=\"k\"", "AES-128"},
		} {
			p, err := parsePlaylist([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n" + tc.line + "\n#EXTINF:2,\na.ts\n"))
			if err != nil || !strings.Contains(p.unsupported, tc.want) {
				t.Errorf("%s: %+v %v", tc.line, p, err)
			}
		}
		p, err := parsePlaylist([]byte("#EXTM3U\n#EXT-X-KEY:METHOD=NONE\n#EXTINF:2,\na.ts\n"))
		if err != nil || p.unsupported != "" {
			t.Errorf("METHOD=NONE: %+v %v", p, err)
		}
		// fMP4: each segment has the init segment of the EXT-X-MAP before it
		p, err = parsePlaylist([]byte("#EXTM3U\n#EXTINF:2,\na.ts\n#EXT-X-MAP:URI=\"i1.mp4\"\n#EXTINF:2,\nb.m4s\n" +
			"#EXT-X-MAP:URI=\"i2.mp4\"\n#EXTINF:2,\nc.m4s\n#EXTINF:2,\nd.m4s\n"))
		if err != nil || p.unsupported != "" || len(p.segments) != 4 {
			t.Fatalf("EXT-X-MAP: %+v %v", p, err)
		}
		for i, want := range []string{"", "i1.mp4", "i2.mp4", "i2.mp4"} {
			if p.segments[i].init != want {
				t.Errorf("segment %d: init %q, want %q", i, p.segments[i].init, want)
			}
		}
	})
	t.Run("invalid", func(t *testing.T) {
		for _, in := range []string{
			"",
			"<html>",
			"#EXTM3U\n#EXTINF:abc,\na.ts\n",
			"#EXTM3U\n#EXTINF:-1,\na.ts\n",
			"#EXTM3U\n#EXTINF:NaN,\na.ts\n",
			"#EXTM3U\n#EXT-X-TARGETDURATION:1e300\n",
			"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:-4\n",
			"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:99999999999999999999\n",
			"#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1x1\nv.m3u8\n",
			"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n",
			"#EXTM3U\n" + strings.Repeat("#EXT-X-X\n", maxPlaylistSize/8),
		} {
			if p, err := parsePlaylist([]byte(in)); err == nil {
				t.Errorf("%.40q: %+v, want an error", in, p)
			}
		}
	})
}

func TestParseAttributes(t *testing.T) {
	t.Parallel()
	got := parseAttributes(`BANDWIDTH=1,CODECS="a,b",NAME="x y" , RES=1x2,BROKEN="open`)
	want := map[string]string{"BANDWIDTH": "1", "CODECS": "a,b", "NAME": "x y", "RES": "1x2", "BROKEN": "open"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (%v)", k, got[k], v, got)
		}
	}
}

func TestLiveEdgeStart(t *testing.T) {
	t.Parallel()
	h := &hlsReader{src: &hlsSource{opts: Options{}.withDefaults()}, wd: startWatchdog(time.Hour, func() {}), fd: testFeed(&recSink{})}
	defer h.wd.disarm()
	segs := make([]segment, 8)
	for i := range segs {
		segs[i] = segment{uri: "s.ts", seq: int64(20 + i), duration: 2 * time.Second}
	}
	if err := h.apply(&playlist{targetDuration: 2 * time.Second, mediaSequence: 20, segments: segs}, true); err != nil {
		t.Fatal(err)
	}
	if len(h.queue) != liveEdgeSegments || h.queue[0].seq != 25 || h.lastSeq != 27 {
		t.Fatalf("live start queued %+v", h.queue)
	}
	if h.stallTimeout() != 10*time.Second {
		t.Errorf("stall timeout %v, want ReadTimeout (10s) over 3 x 2 s", h.stallTimeout())
	}
	// The window moves on by two: only those two are queued.
	h.queue = nil
	if err := h.apply(&playlist{targetDuration: 2 * time.Second, mediaSequence: 22, segments: append(segs[2:], segment{seq: 28}, segment{seq: 29})}, false); err != nil {
		t.Fatal(err)
	}
	if len(h.queue) != 2 || h.queue[0].seq != 28 || h.queue[1].seq != 29 {
		t.Fatalf("reload queued %+v", h.queue)
	}
	// The stream restarted: the sequence went back.
	h.queue = nil
	if err := h.apply(&playlist{targetDuration: 2 * time.Second, segments: []segment{{seq: 0}, {seq: 1}}}, false); err != nil {
		t.Fatal(err)
	}
	if len(h.queue) != 2 || !h.queue[0].discontinuity || h.lastSeq != 1 {
		t.Fatalf("restart queued %+v", h.queue)
	}
	// VOD: from the start.
	h2 := &hlsReader{src: h.src, wd: h.wd, fd: h.fd}
	if err := h2.apply(&playlist{targetDuration: 2 * time.Second, endList: true, segments: segs}, true); err != nil {
		t.Fatal(err)
	}
	if len(h2.queue) != len(segs) {
		t.Fatalf("VOD queued %d of %d", len(h2.queue), len(segs))
	}
}
