package zlm

import (
	"encoding/json"
	"math"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/session"
)

var t0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

func TestSpeedMeter(t *testing.T) {
	key := engine.NewKey("", "live", "a")
	info := func(created time.Time, bytes int64) engine.StreamInfo {
		return engine.StreamInfo{Key: key, CreatedAt: created, BytesIn: bytes}
	}
	created := t0.Add(-10 * time.Second)
	var m SpeedMeter // the zero value is ready
	steps := []struct {
		name  string
		now   time.Time
		info  engine.StreamInfo
		want  int64
		check func()
	}{
		{name: "first look: average since creation", now: t0, info: info(created, 10_000), want: 1000},
		{name: "under a second later: unchanged", now: t0.Add(500 * time.Millisecond), info: info(created, 60_000), want: 1000},
		{name: "one second after the first: rate over the window", now: t0.Add(time.Second), info: info(created, 15_000), want: 5000},
		{name: "within the next window", now: t0.Add(1900 * time.Millisecond), info: info(created, 99_000), want: 5000},
		{name: "1.5 s window", now: t0.Add(2500 * time.Millisecond), info: info(created, 18_000), want: 2000},
		{name: "no new bytes", now: t0.Add(4 * time.Second), info: info(created, 18_000), want: 0},
		{name: "clock going back: unchanged", now: t0, info: info(created, 50_000), want: 0},
		{name: "bytes go down: reset to the average", now: t0.Add(5 * time.Second), info: info(t0.Add(3*time.Second), 4000), want: 2000},
		{name: "then windows again", now: t0.Add(7 * time.Second), info: info(t0.Add(3*time.Second), 10_000), want: 3000},
		{name: "a new stream of that name with more bytes: reset", now: t0.Add(8 * time.Second),
			info: info(t0.Add(6*time.Second), 100_000), want: 50_000},
	}
	for _, s := range steps {
		if got := m.Speed(s.info, s.now); got != s.want {
			t.Fatalf("%s: speed %d, want %d", s.name, got, s.want)
		}
	}
}

func TestSpeedMeterNoCreatedAt(t *testing.T) {
	var m SpeedMeter
	key := engine.NewKey("", "live", "a")
	if got := m.Speed(engine.StreamInfo{Key: key, BytesIn: 5000}, t0); got != 0 {
		t.Errorf("first look without CreatedAt: %d, want 0", got)
	}
	if got := m.Speed(engine.StreamInfo{Key: key, BytesIn: 8000}, t0.Add(2*time.Second)); got != 1500 {
		t.Errorf("second look: %d, want 1500", got)
	}
	// CreatedAt in the future: no division by a negative age.
	k2 := engine.NewKey("", "live", "b")
	if got := m.Speed(engine.StreamInfo{Key: k2, BytesIn: 5000, CreatedAt: t0.Add(time.Hour)}, t0); got != 0 {
		t.Errorf("future CreatedAt: %d", got)
	}
}

func TestSpeedMeterForgetDrop(t *testing.T) {
	var m SpeedMeter
	a, b := engine.NewKey("", "live", "a"), engine.NewKey("", "live", "b")
	created := t0.Add(-time.Second)
	m.Speed(engine.StreamInfo{Key: a, CreatedAt: created, BytesIn: 1000}, t0)
	m.Speed(engine.StreamInfo{Key: b, CreatedAt: created, BytesIn: 2000}, t0)
	// Streams are independent.
	if got := m.Speed(engine.StreamInfo{Key: b, CreatedAt: created, BytesIn: 4000}, t0.Add(time.Second)); got != 2000 {
		t.Errorf("b: %d", got)
	}
	sweep := m.Sweep()
	m.Speed(engine.StreamInfo{Key: b, CreatedAt: created, BytesIn: 4000}, t0.Add(time.Second))
	m.ForgetUnseen(sweep)
	// a was forgotten: a first look again (average over 3 s).
	if got := m.Speed(engine.StreamInfo{Key: a, CreatedAt: created, BytesIn: 3000}, t0.Add(2*time.Second)); got != 1000 {
		t.Errorf("a after the sweep: %d, want 1000", got)
	}
	// b was kept: a window from its last sample.
	if got := m.Speed(engine.StreamInfo{Key: b, CreatedAt: created, BytesIn: 5000}, t0.Add(3*time.Second)); got != 500 {
		t.Errorf("b after the sweep: %d, want 500", got)
	}
	// Two looks overlap; each sees both streams. Whichever ends first
	// forgets nothing the other has seen.
	first := m.Sweep()
	m.Speed(engine.StreamInfo{Key: a, CreatedAt: created, BytesIn: 3000}, t0.Add(3*time.Second))
	second := m.Sweep()
	m.Speed(engine.StreamInfo{Key: a, CreatedAt: created, BytesIn: 3000}, t0.Add(3*time.Second))
	m.Speed(engine.StreamInfo{Key: b, CreatedAt: created, BytesIn: 5000}, t0.Add(3*time.Second))
	m.ForgetUnseen(second)
	m.Speed(engine.StreamInfo{Key: b, CreatedAt: created, BytesIn: 5000}, t0.Add(3*time.Second))
	m.ForgetUnseen(first)
	if got := m.Speed(engine.StreamInfo{Key: b, CreatedAt: created, BytesIn: 6000}, t0.Add(4*time.Second)); got != 1000 {
		t.Errorf("b after overlapping sweeps: %d, want 1000 (a window from its last sample)", got)
	}
	m.Drop(b)
	if got := m.Speed(engine.StreamInfo{Key: b, CreatedAt: created, BytesIn: 5000}, t0.Add(4*time.Second)); got != 1000 {
		t.Errorf("b after Drop: %d, want 1000", got)
	}
	var empty SpeedMeter
	empty.ForgetUnseen(empty.Sweep())
	empty.Drop(a)
}

func TestSpeedMeterConcurrent(t *testing.T) {
	var m SpeedMeter
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := engine.NewKey("", "live", string(rune('a'+i%3)))
			for j := range 200 {
				m.Speed(engine.StreamInfo{Key: key, CreatedAt: t0, BytesIn: int64(j * 100)}, t0.Add(time.Duration(j)*time.Second))
				if j%50 == 0 {
					m.ForgetUnseen(m.Sweep())
				}
			}
		}()
	}
	wg.Wait()
}

func TestOriginURL(t *testing.T) {
	key := engine.NewKey("", "live", "test")
	for _, c := range []struct {
		name string
		pub  *engine.SessionInfo
		key  engine.Key
		want string
	}{
		{"rtmp push", &engine.SessionInfo{Protocol: "rtmp", Local: "10.0.0.2:1935", Params: "token=1"}, key,
			"rtmp://10.0.0.2:1935/live/test?token=1"},
		{"rtmp push without params", &engine.SessionInfo{Protocol: "rtmp", Local: "10.0.0.2:1935"}, key,
			"rtmp://10.0.0.2:1935/live/test"},
		{"rtmp push without local address", &engine.SessionInfo{Protocol: "rtmp"}, key,
			"rtmp://__defaultVhost__/live/test"},
		{"rtsp push", &engine.SessionInfo{Protocol: "rtsp", Local: "10.0.0.2:8554"}, key,
			"rtsp://10.0.0.2:8554/live/test"},
		{"rtsps push", &engine.SessionInfo{Protocol: "rtsps", Local: "10.0.0.2:8322", Params: "a=b"}, key,
			"rtsps://10.0.0.2:8322/live/test?a=b"},
		{"rtp push", &engine.SessionInfo{Protocol: "rtp", Local: "10.0.0.2:10000"}, engine.NewKey("", "rtp", "0000ABCD"),
			"rtp://__defaultVhost__/rtp/0000ABCD"},
		{"no publisher", nil, engine.NewKey("v1", "app", "s/sub"), "rtmp://v1/app/s/sub"},
	} {
		got := OriginURL(engine.StreamInfo{Key: c.key, Publisher: c.pub})
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestSessionTypeID(t *testing.T) {
	for proto, want := range map[string]string{
		"rtmp":     "mediakit::RtmpSession",
		"http-flv": "mediakit::HttpSession",
		"ws-flv":   "mediakit::WebSocketSession",
		"rtsp":     "mediakit::RtspSession",
		"rtsps":    "mediakit::RtspSession",
		"http-ts":  "mediakit::HttpSession",
		"hls-fmp4": "mediakit::HttpSession",
		"ws-fmp4":  "mediakit::WebSocketSession",
		"rtp":      "mediakit::rtp",
		"":         "mediakit::",
	} {
		if got := SessionTypeID(proto); got != want {
			t.Errorf("SessionTypeID(%q) = %q, want %q", proto, got, want)
		}
	}
}

func TestReaderSchemaHookProtocol(t *testing.T) {
	for _, c := range []struct{ proto, schema, hook string }{
		{"rtmp", "rtmp", "rtmp"}, {"http-flv", "rtmp", "http"}, {"ws-flv", "rtmp", "ws"},
		// ZLMediaKit's hook protocol is the URL's scheme: an HLS player's
		// is http.
		{"hls", "hls", "http"}, {"hls-fmp4", "hls.fmp4", "http"},
		{"rtsp", "rtsp", "rtsp"}, {"http-ts", "ts", "http"}, {"ws-fmp4", "fmp4", "ws"},
	} {
		if got := ReaderSchema(c.proto); got != c.schema {
			t.Errorf("ReaderSchema(%q) = %q", c.proto, got)
		}
		if got := HookProtocol(c.proto); got != c.hook {
			t.Errorf("HookProtocol(%q) = %q", c.proto, got)
		}
	}
}

func TestOrigin(t *testing.T) {
	for proto, want := range map[string]OriginType{
		"rtmp": OriginRTMPPush, "rtsp": OriginRTSPPush, "rtsps": OriginRTSPPush, "rtp": OriginRTPPush, "gb28181": OriginRTPPush, "pull": OriginPull, "webrtc": OriginUnknown,
	} {
		if got := Origin(proto); got != want {
			t.Errorf("Origin(%q) = %d", proto, got)
		}
	}
	names := []string{"unknown", "rtmp_push", "rtsp_push", "rtp_push", "pull", "ffmpeg_pull", "mp4_vod",
		"device_chn", "rtc_push", "srt_push"}
	for i, want := range names {
		if got := OriginType(i).String(); got != want {
			t.Errorf("OriginType(%d) = %q, want %q", i, got, want)
		}
	}
	for _, o := range []OriginType{-1, 10, 255} {
		if got := o.String(); got != "unknown" {
			t.Errorf("OriginType(%d) = %q", o, got)
		}
	}
}

func TestSplitAddr(t *testing.T) {
	for _, c := range []struct {
		in   string
		host string
		port int
	}{
		{"10.0.0.9:5555", "10.0.0.9", 5555}, {"[::1]:80", "::1", 80}, {"host:x", "host", 0},
		{"noport", "noport", 0}, {"", "", 0},
	} {
		h, p := SplitAddr(c.in)
		if h != c.host || p != c.port {
			t.Errorf("SplitAddr(%q) = %q, %d", c.in, h, p)
		}
	}
}

func TestSockInfo(t *testing.T) {
	m := SockInfo(engine.SessionInfo{ID: "rtmp-1", Remote: "10.0.0.9:5555", Local: "10.0.0.2:1935"})
	want := map[string]any{"identifier": "rtmp-1", "local_ip": "10.0.0.2", "local_port": 1935, "peer_ip": "10.0.0.9", "peer_port": 5555}
	if len(m) != len(want) {
		t.Errorf("SockInfo = %v", m)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
}

func TestSession(t *testing.T) {
	local := &net.TCPAddr{IP: net.ParseIP("10.0.0.2"), Port: 1935}
	remote := &net.TCPAddr{IP: net.ParseIP("10.0.0.9"), Port: 5555}
	m := Session(session.Info{ID: "rtmp-1", Protocol: "rtmp", Local: local, Remote: remote})
	want := map[string]any{"id": "rtmp-1", "identifier": "rtmp-1", "local_ip": "10.0.0.2", "local_port": 1935,
		"peer_ip": "10.0.0.9", "peer_port": 5555, "typeid": "mediakit::RtmpSession"}
	if len(m) != len(want) {
		t.Errorf("Session = %v", m)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	// A TypeID set by the session wins; missing addresses give zero values.
	m = Session(session.Info{ID: "x", Protocol: "ws-flv", TypeID: "mediakit::WebSocketSession<FlvSession>"})
	if m["typeid"] != "mediakit::WebSocketSession<FlvSession>" || m["local_ip"] != "" || m["peer_port"] != 0 {
		t.Errorf("Session = %v", m)
	}
}

func TestTrackVideo(t *testing.T) {
	for _, c := range []struct {
		name  string
		fps   float64
		stats engine.TrackStats
		want  float64
	}{
		{"fps known", 25, engine.TrackStats{GOPSize: 60, GOPInterval: 2 * time.Second}, 25},
		{"fps rounded", 29.97, engine.TrackStats{}, 30},
		{"fps 0, from gop", 0, engine.TrackStats{GOPSize: 50, GOPInterval: 2 * time.Second}, 25},
		{"fps 0, ntsc gop", 0, engine.TrackStats{GOPSize: 12, GOPInterval: 1001 * time.Millisecond}, 12},
		{"fps 1 counts as unknown", 1, engine.TrackStats{GOPSize: 30, GOPInterval: time.Second}, 30},
		{"fps 0.5, from gop", 0.5, engine.TrackStats{GOPSize: 10, GOPInterval: 400 * time.Millisecond}, 25},
		{"fps 0, no gop yet", 0, engine.TrackStats{GOPSize: 5}, 0},
		{"fps NaN", math.NaN(), engine.TrackStats{}, 0},
		{"fps +Inf, from gop", math.Inf(1), engine.TrackStats{GOPSize: 15, GOPInterval: time.Second}, 15},
	} {
		tr := &media.Track{Codec: media.CodecH264, Width: 1280, Height: 720, FPS: c.fps}
		m := Track(tr, c.stats, nil)
		fps, ok := m["fps"].(float64)
		if !ok || fps != c.want {
			t.Errorf("%s: fps %#v, want %v", c.name, m["fps"], c.want)
		}
		if _, err := json.Marshal(m); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}

	tr := &media.Track{Codec: media.CodecH265, Width: 1920, Height: 1080, FPS: 30}
	m := Track(tr, engine.TrackStats{Frames: 300, KeyFrames: 10, GOPSize: 30, GOPInterval: time.Second, Duration: 10 * time.Second, BFrames: 200}, nil)
	want := map[string]any{"codec_id": 1, "codec_id_name": "H265", "codec_type": 0, "ready": true, "frames": int64(300),
		"duration": int64(10000), "width": 1920, "height": 1080, "fps": 30.0, "key_frames": int64(10), "gop_size": int64(30),
		"gop_interval_ms": int64(1000), "b_frames": int64(200)}
	if d, ok := m["dropped_by"].([]string); !ok || len(d) != 0 {
		t.Errorf("dropped_by = %#v, want an empty list", m["dropped_by"])
	}
	if len(m) != len(want)+1 {
		t.Errorf("video track = %v", m)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
}

func TestTrackAudio(t *testing.T) {
	m := Track(&media.Track{Codec: media.CodecAAC, SampleRate: 48000, Channels: 2}, engine.TrackStats{Frames: 100, Duration: 2133 * time.Millisecond},
		[]engine.TrackDrop{{Output: "hls", Codec: media.CodecH264}, {Output: "rtsp", Codec: media.CodecAAC}, {Output: "flv", Codec: media.CodecAAC}})
	want := map[string]any{"codec_id": 2, "codec_id_name": "mpeg4-generic", "codec_type": 1, "ready": true, "frames": int64(100),
		"duration": int64(2133), "sample_rate": 48000, "channels": 2, "sample_bit": 16}
	if d, _ := m["dropped_by"].([]string); !slices.Equal(d, []string{"rtsp", "flv"}) {
		t.Errorf("dropped_by = %#v, want [rtsp flv]", m["dropped_by"])
	}
	if len(m) != len(want)+1 {
		t.Errorf("audio track = %v", m)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	for codec, id := range map[media.Codec]int{media.CodecG711A: 3, media.CodecG711U: 4, media.CodecOpus: 5, media.CodecMP3: 14} {
		m := Track(&media.Track{Codec: codec, SampleRate: 8000, Channels: 1}, engine.TrackStats{}, nil)
		if m["codec_id"] != id || m["codec_type"] != 1 {
			t.Errorf("%v: %v", codec, m)
		}
	}
}

func TestMediaSource(t *testing.T) {
	video := &media.Track{Codec: media.CodecH264, Width: 1280, Height: 720}
	audio := &media.Track{Codec: media.CodecAAC, SampleRate: 44100, Channels: 2}
	info := engine.StreamInfo{
		Key: engine.NewKey("", "live", "test"), State: engine.StateLive, Ready: true,
		Tracks:    []*media.Track{video, audio},
		Publisher: &engine.SessionInfo{ID: "rtmp-1", Protocol: "rtmp", Remote: "10.0.0.9:5555", Local: "10.0.0.2:1935", Params: "token=1"},
		Readers: []engine.ReaderInfo{
			{SessionInfo: engine.SessionInfo{Protocol: "rtmp"}}, {SessionInfo: engine.SessionInfo{Protocol: "http-flv"}},
			{SessionInfo: engine.SessionInfo{Protocol: "ws-flv"}}, {SessionInfo: engine.SessionInfo{Protocol: "hls"}},
		},
		CreatedAt:  t0.Add(-90 * time.Second),
		BytesIn:    123456,
		TrackStats: map[*media.Track]engine.TrackStats{video: {GOPSize: 50, GOPInterval: 2 * time.Second}},
	}
	m := MediaSource(info, SchemaRTMP, 777, t0)
	want := map[string]any{
		"schema": "rtmp", "vhost": "__defaultVhost__", "app": "live", "stream": "test", "params": "token=1",
		"createStamp": t0.Add(-90 * time.Second).Unix(), "aliveSecond": int64(90), "bytesSpeed": int64(777),
		"totalBytes": int64(123456), "readerCount": 3, "totalReaderCount": 4, "originType": 1,
		"originTypeStr": "rtmp_push", "originUrl": "rtmp://10.0.0.2:1935/live/test?token=1",
		"isRecordingMP4": false, "isRecordingHLS": false,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	if len(m) != len(want)+2 {
		t.Errorf("%d fields: %v", len(m), m)
	}
	tracks, ok := m["tracks"].([]map[string]any)
	if !ok || len(tracks) != 2 || tracks[0]["fps"] != 25.0 || tracks[1]["codec_id"] != 2 {
		t.Errorf("tracks = %v", m["tracks"])
	}
	if sock, ok := m["originSock"].(map[string]any); !ok || sock["peer_port"] != 5555 {
		t.Errorf("originSock = %#v", m["originSock"])
	}
	// The hls schema counts the hls reader only.
	if got := MediaSource(info, "hls", 0, t0)["readerCount"]; got != 1 {
		t.Errorf("hls readerCount = %v", got)
	}

	// No publisher, no CreatedAt, no tracks: originSock is null, tracks an
	// empty array (never null), created now.
	m = MediaSource(engine.StreamInfo{Key: engine.NewKey("", "live", "x")}, SchemaRTMP, 0, t0)
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(body, &back); err != nil {
		t.Fatal(err)
	}
	if v, ok := back["originSock"]; !ok || v != nil {
		t.Errorf("originSock = %#v, want null", v)
	}
	if tr, ok := back["tracks"].([]any); !ok || len(tr) != 0 {
		t.Errorf("tracks = %#v, want []", back["tracks"])
	}
	if back["createStamp"] != float64(t0.Unix()) || back["aliveSecond"] != 0.0 || back["originTypeStr"] != "unknown" {
		t.Errorf("media = %v", back)
	}
}

func TestMediaSourceRecordingFlags(t *testing.T) {
	info := engine.StreamInfo{Key: engine.NewKey("", "live", "a"), Sinks: []string{"hls", "record-mp4"}}
	m := MediaSource(info, SchemaRTMP, 0, time.Now())
	if m["isRecordingMP4"] != true || m["isRecordingHLS"] != false {
		t.Fatalf("flags: mp4 %v hls %v", m["isRecordingMP4"], m["isRecordingHLS"])
	}
	info.Sinks = []string{"record-hls"}
	if m := MediaSource(info, SchemaRTMP, 0, time.Now()); m["isRecordingHLS"] != true || m["isRecordingMP4"] != false {
		t.Fatalf("flags: %v", m)
	}
}
