package server

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/hls"
)

// countWhere counts the calls of hook name whose body has field = value.
func (h *hookServer) countWhere(name, field, value string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, b := range h.bodies[name] {
		if b[field] == value {
			n++
		}
	}
	return n
}

// hlsPlayer fetches a live playlist and its newest segment, as a player
// does every target duration; it keeps cookies.
type hlsPlayer struct {
	client *http.Client
	url    string
}

func newHLSPlayer(t *testing.T, playlistURL string) *hlsPlayer {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &hlsPlayer{client: &http.Client{Jar: jar, Timeout: 30 * time.Second}, url: playlistURL}
}

func (p *hlsPlayer) fetch(t *testing.T) {
	t.Helper()
	body := p.get(t, p.url)
	pl, err := hls.ParsePlaylist(body)
	if err != nil || len(pl.Segments) == 0 {
		t.Fatalf("playlist: %v\n%s", err, body)
	}
	seg := pl.Segments[len(pl.Segments)-1].URI
	p.get(t, p.url[:strings.LastIndexByte(p.url, '/')+1]+seg)
}

func (p *hlsPlayer) get(t *testing.T, u string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "mediakit-test-player")
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return b
}

// TestHLSViewersArePlayers: an HLS viewer asks on_play once however many
// requests it makes, counts in readerCount and getMediaPlayerList, keeps
// on_stream_none_reader away while it watches, and ends (on_flow_report)
// after a quiet period; ffmpeg as an HLS player is one viewer too.
func TestHLSViewersArePlayers(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	h := newHookServer(t, nil)
	ts := startServer(t, func(c *config.Config) {
		c.HLS.SegDur = time.Second
		c.HLS.ViewerTimeout = time.Second
		c.General.NoneReaderDelay = time.Second
		c.General.FlowThreshold = 0
		c.Protocol.HLSDemand = false // muxed from publish, before any viewer
	})
	ts.enableHooks(t, h, nil)
	testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/watched", true)
	playlist := ts.httpURL + "/live/watched/hls.m3u8"
	// Ready without a viewer (a request would make one): the stream has
	// been unwatched since it started, which on_stream_none_reader tells.
	waitFor(t, 30*time.Second, "the first HLS segment", func() bool {
		return ts.hls.Serving(engine.NewKey("", "live", "watched"))
	})
	h.wait(t, "on_stream_none_reader", 20*time.Second)
	playsBefore := h.countWhere("on_play", "schema", "hls")
	idleBefore := h.count("on_stream_none_reader")

	p := newHLSPlayer(t, playlist)
	// Several refreshes over more than the none-reader delay.
	for i := 0; i < 5; i++ {
		p.fetch(t)
		if n := playersOf(t, ts, "hls"); n != 1 {
			t.Fatalf("getMediaPlayerList schema=hls lists %d players while one watches", n)
		}
		time.Sleep(400 * time.Millisecond) // a player's refresh interval, not a wait for a result
	}
	if n := h.countWhere("on_play", "schema", "hls") - playsBefore; n != 1 {
		t.Fatalf("on_play called %d times for one viewer's 10 requests", n)
	}
	h.mu.Lock()
	play := h.bodies["on_play"][len(h.bodies["on_play"])-1]
	h.mu.Unlock()
	if play["protocol"] != "http" || play["stream"] != "watched" {
		t.Errorf("on_play body %v", play)
	}
	r := ts.apiCall(t, "getMediaList", url.Values{"schema": {"hls"}, "stream": {"watched"}})
	data, _ := r["data"].([]any)
	if len(data) != 1 {
		t.Fatalf("getMediaList schema=hls: %v", r)
	}
	if m := data[0].(map[string]any); m["readerCount"] != 1.0 || m["totalReaderCount"] != 1.0 {
		t.Errorf("hls source counts %v readers of %v", m["readerCount"], m["totalReaderCount"])
	}
	if n := h.count("on_stream_none_reader"); n != idleBefore {
		t.Errorf("on_stream_none_reader fired while an HLS viewer watched")
	}

	// It stops: the session ends with its bytes, then the stream is
	// unwatched.
	waitFor(t, 30*time.Second, "the viewer's on_flow_report", func() bool {
		return h.countWhere("on_flow_report", "schema", "hls") == 1
	})
	var flow map[string]any
	h.mu.Lock()
	for _, b := range h.bodies["on_flow_report"] {
		if b["schema"] == "hls" {
			flow = b
		}
	}
	h.mu.Unlock()
	if flow["player"] != true || flow["totalBytes"].(float64) < 1000 || flow["protocol"] != "http" {
		t.Errorf("viewer on_flow_report %v", flow)
	}
	if n := playersOf(t, ts, "hls"); n != 0 {
		t.Errorf("%d HLS players after the viewer left", n)
	}
	waitFor(t, 20*time.Second, "on_stream_none_reader after the viewer left", func() bool {
		return h.count("on_stream_none_reader") > idleBefore
	})

	// ffmpeg reading several segments and playlists is one viewer.
	playsBefore = h.countWhere("on_play", "schema", "hls")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pkts, err := testutil.FramePackets(ctx, t, playlist, "-read_intervals", "%+4")
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) < 50 {
		t.Fatalf("ffmpeg read %d packets of live HLS", len(pkts))
	}
	if n := h.countWhere("on_play", "schema", "hls") - playsBefore; n != 1 {
		t.Errorf("on_play called %d times for one ffprobe", n)
	}
}

// playersOf counts getMediaPlayerList's players of live/watched in schema.
func playersOf(t *testing.T, ts *testServer, schema string) int {
	t.Helper()
	r := ts.apiCall(t, "getMediaPlayerList", url.Values{"schema": {schema}, "vhost": {"__defaultVhost__"}, "app": {"live"}, "stream": {"watched"}})
	if code(r) != 0 {
		return 0
	}
	data, _ := r["data"].([]any)
	return len(data)
}

// TestFMP4HLSViewersArePlayers: an fMP4 HLS player is one viewer
// (on_play once, schema hls.fmp4, counted while it watches), and the
// stream's hls.fmp4 schema is announced when its on-demand muxer has a
// segment and withdrawn when the stream ends.
func TestFMP4HLSViewersArePlayers(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	h := newHookServer(t, nil)
	ts := startServer(t, func(c *config.Config) {
		c.HLS.SegDur = time.Second
		c.HLS.ViewerTimeout = time.Second
		c.General.FlowThreshold = 0
	})
	ts.enableHooks(t, h, nil)
	pub := testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/watched", true)
	waitStream(t, ts, "live/watched")
	if n := h.countWhere("on_stream_changed", "schema", "hls.fmp4"); n != 0 {
		t.Fatalf("hls.fmp4 announced %d times before anyone asked for it", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pkts, err := testutil.FramePackets(ctx, t, ts.httpURL+"/live/watched/hls.fmp4.m3u8", "-read_intervals", "%+3")
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) < 30 {
		t.Fatalf("ffmpeg read %d packets of fMP4 HLS", len(pkts))
	}
	if n := h.countWhere("on_play", "schema", "hls.fmp4"); n != 1 {
		t.Errorf("on_play called %d times for one ffprobe of fMP4 HLS", n)
	}
	waitFor(t, 20*time.Second, "hls.fmp4 announced", func() bool {
		return h.countWhere("on_stream_changed", "schema", "hls.fmp4") == 1
	})
	r := ts.apiCall(t, "getMediaList", url.Values{"schema": {"hls.fmp4"}, "stream": {"watched"}})
	if data, _ := r["data"].([]any); len(data) != 1 {
		t.Fatalf("getMediaList schema=hls.fmp4: %v", r)
	}
	waitFor(t, 30*time.Second, "the fMP4 HLS viewer's on_flow_report", func() bool {
		return h.countWhere("on_flow_report", "schema", "hls.fmp4") == 1
	})

	pub.Stop()
	waitFor(t, 30*time.Second, "hls.fmp4 withdrawn", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, b := range h.bodies["on_stream_changed"] {
			if b["schema"] == "hls.fmp4" && b["regist"] == false {
				return true
			}
		}
		return false
	})
}
