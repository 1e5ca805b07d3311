package api

import (
	"runtime"
	"slices"
	"strings"
	"testing"
)

// mediaKeys are the fields of ZLMediaKit's makeMediaSourceJson
// (/tmp/zlm-spec.md §2, getMediaList).
var mediaKeys = []string{
	"schema", "vhost", "app", "stream", "params", "createStamp", "aliveSecond", "bytesSpeed",
	"totalBytes", "readerCount", "totalReaderCount", "originType", "originTypeStr", "originUrl",
	"isRecordingMP4", "isRecordingHLS", "originSock", "tracks",
}

// checkMediaTest checks the media object of live/test, field by field.
func checkMediaTest(t *testing.T, fx *fixture, m map[string]any) {
	t.Helper()
	for _, c := range []struct{ key, want string }{
		{"schema", "rtmp"}, {"vhost", "__defaultVhost__"}, {"app", "live"}, {"stream", "test"},
		{"params", "token=1"}, {"originTypeStr", "rtmp_push"},
		{"originUrl", "rtmp://10.0.0.2:1935/live/test?token=1"},
	} {
		if got := jStr(t, m, c.key); got != c.want {
			t.Errorf("%s = %q, want %q", c.key, got, c.want)
		}
	}
	if got := jInt(t, m, "createStamp"); got != fx.created.Unix() {
		t.Errorf("createStamp = %d, want %d", got, fx.created.Unix())
	}
	if got := jInt(t, m, "aliveSecond"); got < 9 || got > 12 {
		t.Errorf("aliveSecond = %d, want about 10", got)
	}
	// First look: the average since creation, 1 MB over ~10 s.
	if got := jInt(t, m, "bytesSpeed"); got < 80_000 || got > 101_000 {
		t.Errorf("bytesSpeed = %d, want about 100000", got)
	}
	if got := jInt(t, m, "totalBytes"); got != 1_000_000 {
		t.Errorf("totalBytes = %d", got)
	}
	// rtmp and http-flv readers read the rtmp source; the hls one does not.
	if got := jInt(t, m, "readerCount"); got != 2 {
		t.Errorf("readerCount = %d, want 2", got)
	}
	if got := jInt(t, m, "totalReaderCount"); got != 3 {
		t.Errorf("totalReaderCount = %d, want 3", got)
	}
	if got := jInt(t, m, "originType"); got != 1 {
		t.Errorf("originType = %d, want 1", got)
	}
	if jBool(t, m, "isRecordingMP4") || jBool(t, m, "isRecordingHLS") {
		t.Errorf("isRecording* = true")
	}
	sock := jObj(t, m, "originSock")
	wantKeys(t, sock, "identifier", "local_ip", "local_port", "peer_ip", "peer_port")
	if jStr(t, sock, "identifier") != "rtmp-1" || jStr(t, sock, "local_ip") != "10.0.0.2" ||
		jInt(t, sock, "local_port") != 1935 || jStr(t, sock, "peer_ip") != "10.0.0.9" ||
		jInt(t, sock, "peer_port") != 5555 {
		t.Errorf("originSock = %v", sock)
	}

	tracks := jObjects(t, m, "tracks")
	if len(tracks) != 2 {
		t.Fatalf("%d tracks, want 2", len(tracks))
	}
	v, a := tracks[0], tracks[1]
	wantKeys(t, v, "codec_id", "codec_id_name", "codec_type", "ready", "frames", "duration", "dropped_by",
		"width", "height", "fps", "key_frames", "gop_size", "gop_interval_ms", "b_frames")
	if jInt(t, v, "codec_id") != 0 || jStr(t, v, "codec_id_name") != "H264" || jInt(t, v, "codec_type") != 0 ||
		!jBool(t, v, "ready") {
		t.Errorf("video track = %v", v)
	}
	if jInt(t, v, "width") != 1280 || jInt(t, v, "height") != 720 || jNum(t, v, "fps") != 25 {
		t.Errorf("video size/fps = %v", v)
	}
	if jInt(t, v, "frames") != 250 || jInt(t, v, "key_frames") != 5 || jInt(t, v, "gop_size") != 50 ||
		jInt(t, v, "gop_interval_ms") != 2000 || jNum(t, v, "duration") != 10000 {
		t.Errorf("video stats = %v", v)
	}
	wantKeys(t, a, "codec_id", "codec_id_name", "codec_type", "ready", "frames", "duration", "dropped_by",
		"sample_rate", "channels", "sample_bit")
	if jInt(t, a, "codec_id") != 2 || jStr(t, a, "codec_id_name") != "mpeg4-generic" || jInt(t, a, "codec_type") != 1 ||
		!jBool(t, a, "ready") {
		t.Errorf("audio track = %v", a)
	}
	if jInt(t, a, "sample_rate") != 44100 || jInt(t, a, "channels") != 2 || jInt(t, a, "sample_bit") != 16 ||
		jInt(t, a, "frames") != 430 || jNum(t, a, "duration") != 9980 {
		t.Errorf("audio fields = %v", a)
	}
}

// checkMediaGrace checks live/grace: no publisher, so originSock is null,
// and fps comes from the GOP (10 frames in 400 ms).
func checkMediaGrace(t *testing.T, m map[string]any) {
	t.Helper()
	wantKeys(t, m, mediaKeys...)
	if jStr(t, m, "stream") != "grace" || jStr(t, m, "params") != "" {
		t.Errorf("grace item = %v", m)
	}
	if v, ok := m["originSock"]; !ok || v != nil {
		t.Errorf("originSock = %#v, want JSON null", v)
	}
	if jInt(t, m, "originType") != 0 || jStr(t, m, "originTypeStr") != "unknown" {
		t.Errorf("origin = %v/%v", m["originType"], m["originTypeStr"])
	}
	if got := jStr(t, m, "originUrl"); got != "rtmp://__defaultVhost__/live/grace" {
		t.Errorf("originUrl = %q", got)
	}
	if jInt(t, m, "readerCount") != 0 || jInt(t, m, "totalReaderCount") != 0 {
		t.Errorf("readers = %v/%v", m["readerCount"], m["totalReaderCount"])
	}
	tracks := jObjects(t, m, "tracks")
	if len(tracks) != 1 || jInt(t, tracks[0], "codec_id") != 1 || jStr(t, tracks[0], "codec_id_name") != "H265" ||
		jNum(t, tracks[0], "fps") != 25 {
		t.Errorf("grace tracks = %v", tracks)
	}
}

var testStream = map[string]any{"schema": "rtmp", "vhost": "__defaultVhost__", "app": "live", "stream": "test"}

// with returns base plus extra (nil values stay: JSON null).
func with(base map[string]any, extra map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func without(base map[string]any, key string) map[string]any {
	out := with(base, nil)
	delete(out, key)
	return out
}

const missedStream = `Required parameter missed: "schema","vhost","app","stream"`

type endpointCase struct {
	name   string
	api    string
	params map[string]any
	check  func(t *testing.T, fx *fixture, m map[string]any)
}

var endpointCases = []endpointCase{
	{"getApiList", "getApiList", nil, func(t *testing.T, fx *fixture, m map[string]any) {
		wantCode(t, m, CodeSuccess, "")
		if _, ok := m["msg"]; ok {
			t.Errorf("success reply has msg: %v", m)
		}
		var got []string
		for _, x := range jArr(t, m, "data") {
			s, ok := x.(string)
			if !ok {
				t.Fatalf("data item %#v is not a string", x)
			}
			got = append(got, s)
		}
		for _, want := range []string{"getApiList", "getMediaList", "isMediaOnline", "getMediaInfo",
			"getMediaPlayerList", "close_stream", "close_streams", "getAllSession", "kick_session",
			"kick_sessions", "getServerConfig", "setServerConfig", "getStatistic", "getThreadsLoad",
			"getWorkThreadsLoad", "version"} {
			if !slices.Contains(got, Prefix+want) {
				t.Errorf("getApiList lacks %s: %v", Prefix+want, got)
			}
		}
		if !slices.IsSorted(got) {
			t.Errorf("getApiList not sorted: %v", got)
		}
	}},
	{"getMediaList all", "getMediaList", nil, func(t *testing.T, fx *fixture, m map[string]any) {
		wantCode(t, m, CodeSuccess, "")
		items := jObjects(t, m, "data")
		if len(items) != 2 { // live/notready is not ready
			t.Fatalf("%d items, want 2: %v", len(items), items)
		}
		checkMediaGrace(t, items[0])
		wantKeys(t, items[1], mediaKeys...)
		checkMediaTest(t, fx, items[1])
	}},
	{"getMediaList filter, null ignored", "getMediaList",
		map[string]any{"app": "live", "stream": "test", "vhost": nil, "schema": "rtmp"},
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantCode(t, m, CodeSuccess, "")
			items := jObjects(t, m, "data")
			if len(items) != 1 {
				t.Fatalf("%d items, want 1", len(items))
			}
			wantKeys(t, items[0], mediaKeys...)
			checkMediaTest(t, fx, items[0])
		}},
	{"getMediaList other schema: no data", "getMediaList", map[string]any{"schema": "rtsp"},
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantKeys(t, m, "code")
			wantCode(t, m, CodeSuccess, "")
		}},
	{"getMediaList no match: no data", "getMediaList", map[string]any{"vhost": "other", "app": "live"},
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantKeys(t, m, "code")
		}},
	{"isMediaOnline yes", "isMediaOnline", testStream, func(t *testing.T, fx *fixture, m map[string]any) {
		wantKeys(t, m, "code", "online")
		wantCode(t, m, CodeSuccess, "")
		if !jBool(t, m, "online") {
			t.Error("online = false")
		}
	}},
	{"isMediaOnline other schema", "isMediaOnline", with(testStream, map[string]any{"schema": "rtsp"}),
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantCode(t, m, CodeSuccess, "")
			if jBool(t, m, "online") {
				t.Error("online = true for rtsp")
			}
		}},
	{"isMediaOnline not ready", "isMediaOnline", with(testStream, map[string]any{"stream": "notready"}),
		func(t *testing.T, fx *fixture, m map[string]any) {
			if jBool(t, m, "online") {
				t.Error("online = true for a stream without tracks")
			}
		}},
	{"isMediaOnline missing", "isMediaOnline", without(testStream, "vhost"),
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantKeys(t, m, "code", "msg")
			wantCode(t, m, CodeInvalidArgs, missedStream)
		}},
	{"isMediaOnline empty", "isMediaOnline", with(testStream, map[string]any{"stream": ""}),
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantCode(t, m, CodeInvalidArgs, missedStream)
		}},
	{"isMediaOnline null", "isMediaOnline", with(testStream, map[string]any{"app": nil}),
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantCode(t, m, CodeInvalidArgs, missedStream)
		}},
	{"getMediaInfo found", "getMediaInfo", testStream, func(t *testing.T, fx *fixture, m map[string]any) {
		wantCode(t, m, CodeSuccess, "")
		wantKeys(t, m, append([]string{"code", "online"}, mediaKeys...)...)
		if !jBool(t, m, "online") {
			t.Error("online = false")
		}
		checkMediaTest(t, fx, m)
	}},
	{"getMediaInfo not found", "getMediaInfo", with(testStream, map[string]any{"stream": "nope"}),
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantKeys(t, m, "code", "msg")
			wantCode(t, m, CodeNotFound, "can not find the stream")
		}},
	{"getMediaInfo missing", "getMediaInfo", without(testStream, "schema"),
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantCode(t, m, CodeInvalidArgs, missedStream)
		}},
	{"getMediaPlayerList", "getMediaPlayerList", testStream, func(t *testing.T, fx *fixture, m map[string]any) {
		wantCode(t, m, CodeSuccess, "")
		players := jObjects(t, m, "data")
		if len(players) != 2 {
			t.Fatalf("%d players, want 2 (rtmp + http-flv)", len(players))
		}
		want := []struct {
			id, peer, typeid string
			peerPort, port   int64
		}{
			{"rtmp-2", "10.0.0.20", "mediakit::RtmpSession", 40000, 1935},
			{"http-3", "10.0.0.21", "mediakit::HttpSession", 40001, 8080},
		}
		for i, p := range players {
			wantKeys(t, p, "identifier", "local_ip", "local_port", "peer_ip", "peer_port", "typeid")
			w := want[i]
			if jStr(t, p, "identifier") != w.id || jStr(t, p, "peer_ip") != w.peer ||
				jInt(t, p, "peer_port") != w.peerPort || jStr(t, p, "local_ip") != "10.0.0.2" ||
				jInt(t, p, "local_port") != w.port || jStr(t, p, "typeid") != w.typeid {
				t.Errorf("player %d = %v, want %+v", i, p, w)
			}
		}
	}},
	{"getMediaPlayerList no players", "getMediaPlayerList", with(testStream, map[string]any{"stream": "grace"}),
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantKeys(t, m, "code")
		}},
	{"getMediaPlayerList not found", "getMediaPlayerList", with(testStream, map[string]any{"schema": "rtsp"}),
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantCode(t, m, CodeNotFound, "can not find the stream")
		}},
	{"getMediaPlayerList missing", "getMediaPlayerList", without(testStream, "app"),
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantCode(t, m, CodeInvalidArgs, missedStream)
		}},
	{"close_stream with readers", "close_stream", testStream, func(t *testing.T, fx *fixture, m map[string]any) {
		wantKeys(t, m, "code", "msg", "result")
		wantCode(t, m, CodeOtherFailed, "close failed")
		if jInt(t, m, "result") != -1 {
			t.Errorf("result = %v, want -1", m["result"])
		}
		if got := fx.eng.closedKeys(); len(got) != 0 {
			t.Errorf("closed %v", got)
		}
	}},
	{"close_stream force=false", "close_stream", with(testStream, map[string]any{"force": false}),
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantCode(t, m, CodeOtherFailed, "close failed")
		}},
	{"close_stream force", "close_stream", with(testStream, map[string]any{"force": true}),
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantKeys(t, m, "code", "msg", "result")
			wantCode(t, m, CodeSuccess, "success")
			if jInt(t, m, "result") != 0 {
				t.Errorf("result = %v", m["result"])
			}
			if got := fx.eng.closedKeys(); !slices.Equal(got, []string{keyTest.String()}) {
				t.Errorf("closed %v", got)
			}
		}},
	{"close_stream without readers", "close_stream", with(testStream, map[string]any{"stream": "grace", "force": nil}),
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantCode(t, m, CodeSuccess, "success")
			if got := fx.eng.closedKeys(); !slices.Equal(got, []string{keyGrace.String()}) {
				t.Errorf("closed %v", got)
			}
		}},
	{"close_stream not found", "close_stream", with(testStream, map[string]any{"stream": "nope", "force": true}),
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantCode(t, m, CodeNotFound, "can not find the stream")
		}},
	{"close_stream bad force", "close_stream", with(testStream, map[string]any{"force": "maybe"}),
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantCode(t, m, CodeInvalidArgs, "")
		}},
	{"close_stream missing", "close_stream", map[string]any{"force": true},
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantCode(t, m, CodeInvalidArgs, missedStream)
		}},
	{"close_streams", "close_streams", nil, func(t *testing.T, fx *fixture, m map[string]any) {
		wantKeys(t, m, "code", "count_hit", "count_closed")
		wantCode(t, m, CodeSuccess, "")
		if jInt(t, m, "count_hit") != 2 || jInt(t, m, "count_closed") != 1 {
			t.Errorf("hit/closed = %v/%v, want 2/1", m["count_hit"], m["count_closed"])
		}
		if got := fx.eng.closedKeys(); !slices.Equal(got, []string{keyGrace.String()}) {
			t.Errorf("closed %v", got)
		}
	}},
	{"close_streams force", "close_streams", map[string]any{"force": true, "app": "live"},
		func(t *testing.T, fx *fixture, m map[string]any) {
			if jInt(t, m, "count_hit") != 2 || jInt(t, m, "count_closed") != 2 {
				t.Errorf("hit/closed = %v/%v, want 2/2", m["count_hit"], m["count_closed"])
			}
			if got := fx.eng.closedKeys(); len(got) != 2 {
				t.Errorf("closed %v", got)
			}
		}},
	{"close_streams filter", "close_streams", map[string]any{"force": true, "stream": "test", "schema": nil},
		func(t *testing.T, fx *fixture, m map[string]any) {
			if jInt(t, m, "count_hit") != 1 || jInt(t, m, "count_closed") != 1 {
				t.Errorf("hit/closed = %v/%v, want 1/1", m["count_hit"], m["count_closed"])
			}
		}},
	{"close_streams none", "close_streams", map[string]any{"schema": "rtsp"},
		func(t *testing.T, fx *fixture, m map[string]any) {
			if jInt(t, m, "count_hit") != 0 || jInt(t, m, "count_closed") != 0 {
				t.Errorf("hit/closed = %v/%v", m["count_hit"], m["count_closed"])
			}
		}},
	{"getAllSession", "getAllSession", nil, func(t *testing.T, fx *fixture, m map[string]any) {
		wantCode(t, m, CodeSuccess, "")
		list := jObjects(t, m, "data")
		if len(list) != 3 {
			t.Fatalf("%d sessions, want 3", len(list))
		}
		s := list[0]
		wantKeys(t, s, "id", "identifier", "local_ip", "local_port", "peer_ip", "peer_port", "typeid")
		if jStr(t, s, "id") != "rtmp-1" || jStr(t, s, "identifier") != "rtmp-1" || jStr(t, s, "local_ip") != "10.0.0.2" ||
			jInt(t, s, "local_port") != 1935 || jStr(t, s, "peer_ip") != "10.0.0.9" || jInt(t, s, "peer_port") != 5555 ||
			jStr(t, s, "typeid") != "mediakit::RtmpSession" {
			t.Errorf("session = %v", s)
		}
		if jStr(t, list[2], "typeid") != "mediakit::HttpSession" {
			t.Errorf("http-flv typeid = %v", list[2]["typeid"])
		}
	}},
	{"getAllSession local_port", "getAllSession", map[string]any{"local_port": 1935},
		func(t *testing.T, fx *fixture, m map[string]any) {
			if n := len(jObjects(t, m, "data")); n != 2 {
				t.Errorf("%d sessions, want 2", n)
			}
		}},
	{"getAllSession local_port and peer_ip", "getAllSession", map[string]any{"local_port": 1935, "peer_ip": "10.0.0.9"},
		func(t *testing.T, fx *fixture, m map[string]any) {
			list := jObjects(t, m, "data")
			if len(list) != 1 || jStr(t, list[0], "id") != "rtmp-1" {
				t.Errorf("sessions = %v", list)
			}
		}},
	{"getAllSession local_port 0 is no filter", "getAllSession", map[string]any{"local_port": 0, "peer_ip": nil},
		func(t *testing.T, fx *fixture, m map[string]any) {
			if n := len(jObjects(t, m, "data")); n != 3 {
				t.Errorf("%d sessions, want 3", n)
			}
		}},
	{"getAllSession none", "getAllSession", map[string]any{"peer_ip": "192.0.2.99"},
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantKeys(t, m, "code")
		}},
	{"getAllSession bad port", "getAllSession", map[string]any{"local_port": "abc"},
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantCode(t, m, CodeInvalidArgs, "")
		}},
	{"kick_session", "kick_session", map[string]any{"id": "http-3"}, func(t *testing.T, fx *fixture, m map[string]any) {
		wantCode(t, m, CodeSuccess, "")
		if got := fx.sessions.kickedIDs(); !slices.Equal(got, []string{"http-3"}) {
			t.Errorf("kicked %v", got)
		}
	}},
	{"kick_session unknown", "kick_session", map[string]any{"id": "nope"}, func(t *testing.T, fx *fixture, m map[string]any) {
		wantKeys(t, m, "code", "msg")
		wantCode(t, m, CodeOtherFailed, "can not find the target")
	}},
	{"kick_session missing", "kick_session", map[string]any{"id": nil}, func(t *testing.T, fx *fixture, m map[string]any) {
		wantCode(t, m, CodeInvalidArgs, `Required parameter missed: "id"`)
	}},
	{"kick_sessions", "kick_sessions", map[string]any{"local_port": 1935}, func(t *testing.T, fx *fixture, m map[string]any) {
		wantKeys(t, m, "code", "count_hit")
		if jInt(t, m, "count_hit") != 2 {
			t.Errorf("count_hit = %v", m["count_hit"])
		}
		if got := fx.sessions.kickedIDs(); !slices.Equal(got, []string{"rtmp-1", "rtmp-2"}) {
			t.Errorf("kicked %v", got)
		}
	}},
	{"kick_sessions peer_ip", "kick_sessions", map[string]any{"peer_ip": "10.0.0.21"}, func(t *testing.T, fx *fixture, m map[string]any) {
		if jInt(t, m, "count_hit") != 1 {
			t.Errorf("count_hit = %v", m["count_hit"])
		}
	}},
	{"kick_sessions bad port", "kick_sessions", map[string]any{"local_port": "x"}, func(t *testing.T, fx *fixture, m map[string]any) {
		wantCode(t, m, CodeInvalidArgs, "")
		if got := fx.sessions.kickedIDs(); len(got) != 0 {
			t.Errorf("kicked %v", got)
		}
	}},
	{"getServerConfig", "getServerConfig", nil, func(t *testing.T, fx *fixture, m map[string]any) {
		wantCode(t, m, CodeSuccess, "")
		data := jObjects(t, m, "data")
		if len(data) != 1 {
			t.Fatalf("data has %d elements, want 1", len(data))
		}
		want := fx.config.ServerConfig()
		if len(data[0]) != len(want) {
			t.Errorf("%d keys, want %d", len(data[0]), len(want))
		}
		for k, v := range want {
			if got := jStr(t, data[0], k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
	}},
	{"setServerConfig", "setServerConfig",
		map[string]any{"rtmp.port": 1936, "hls.segDur": "2", "unknown.key": "x", "general.enableVhost": true, "hook.enable": nil},
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantKeys(t, m, "code", "changed")
			wantCode(t, m, CodeSuccess, "")
			if jInt(t, m, "changed") != 2 {
				t.Errorf("changed = %v, want 2", m["changed"])
			}
			call := fx.config.lastCall()
			if _, ok := call["secret"]; ok {
				t.Error("secret passed to SetServerConfig")
			}
			// A boolean arrives as given: "1" from JSON true or a query, "true" from a form.
			if call["rtmp.port"] != "1936" || (call["general.enableVhost"] != "1" && call["general.enableVhost"] != "true") ||
				call["hls.segDur"] != "2" {
				t.Errorf("SetServerConfig got %v", call)
			}
			if _, ok := call["hook.enable"]; ok {
				t.Errorf("null hook.enable passed: %v", call)
			}
			if got := fx.config.ServerConfig()["rtmp.port"]; got != "1936" {
				t.Errorf("rtmp.port = %q", got)
			}
		}},
	{"setServerConfig unchanged", "setServerConfig", map[string]any{"rtmp.port": "1935"},
		func(t *testing.T, fx *fixture, m map[string]any) {
			if jInt(t, m, "changed") != 0 {
				t.Errorf("changed = %v, want 0", m["changed"])
			}
		}},
	{"setServerConfig error", "setServerConfig", map[string]any{"bad.key": "v"},
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantKeys(t, m, "code", "msg")
			wantCode(t, m, CodeInvalidArgs, `bad.key: invalid value "v"`)
		}},
	{"setServerConfig api error", "setServerConfig", map[string]any{"api.error": "1"},
		func(t *testing.T, fx *fixture, m map[string]any) {
			wantCode(t, m, CodeOtherFailed, "persist failed")
		}},
	{"getStatistic", "getStatistic", nil, func(t *testing.T, fx *fixture, m map[string]any) {
		wantCode(t, m, CodeSuccess, "")
		data := jObj(t, m, "data")
		if jInt(t, data, "MediaSource") != 3 || jInt(t, data, "TcpSession") != 4 || jInt(t, data, "Buffer") != 12 {
			t.Errorf("data = %v", data)
		}
	}},
	{"getThreadsLoad", "getThreadsLoad", nil, checkThreadsLoad},
	{"getWorkThreadsLoad", "getWorkThreadsLoad", nil, checkThreadsLoad},
	{"version", "version", nil, func(t *testing.T, fx *fixture, m map[string]any) {
		wantCode(t, m, CodeSuccess, "")
		data := jObj(t, m, "data")
		wantKeys(t, data, "branchName", "buildTime", "commitHash")
		if jStr(t, data, "branchName") != "main" || jStr(t, data, "buildTime") != "2025-01-02T03:04:05" ||
			jStr(t, data, "commitHash") != "abc1234" {
			t.Errorf("data = %v", data)
		}
	}},
}

func checkThreadsLoad(t *testing.T, fx *fixture, m map[string]any) {
	t.Helper()
	wantCode(t, m, CodeSuccess, "")
	data := jObjects(t, m, "data")
	if len(data) != runtime.GOMAXPROCS(0) {
		t.Errorf("%d entries, want %d", len(data), runtime.GOMAXPROCS(0))
	}
	for _, d := range data {
		wantKeys(t, d, "delay", "load")
		if l := jInt(t, d, "load"); l < 0 || l > 100 {
			t.Errorf("load = %d", l)
		}
		jInt(t, d, "delay")
	}
}

// TestEndpoints runs every case in all three parameter styles, each on a
// fresh fixture.
func TestEndpoints(t *testing.T) {
	for _, c := range endpointCases {
		for _, st := range allStyles {
			t.Run(c.name+"/"+st.String(), func(t *testing.T) {
				fx := newFixture(t)
				m := fx.call(t, st, c.api, c.params)
				c.check(t, fx, m)
			})
		}
	}
}

// Every registered endpoint has at least one case above.
func TestEndpointsAllCovered(t *testing.T) {
	fx := newFixture(t)
	covered := map[string]bool{}
	for _, c := range endpointCases {
		covered[c.api] = true
	}
	for _, name := range fx.srv.Names() {
		if !covered[name] {
			t.Errorf("endpoint %s has no test case", name)
		}
	}
}

func TestEndpointsEngineError(t *testing.T) {
	for _, api := range []string{"getMediaList", "isMediaOnline", "getMediaInfo", "getMediaPlayerList", "close_stream", "close_streams"} {
		t.Run(api, func(t *testing.T) {
			fx := newFixture(t)
			fx.eng.err = errEngine
			m := fx.call(t, styleQuery, api, testStream)
			wantCode(t, m, CodeException, errEngine.Error())
		})
	}
}

// The bytesSpeed of a second look within a second is the first one's.
func TestGetMediaListSpeedStable(t *testing.T) {
	fx := newFixture(t)
	first := jObjects(t, fx.call(t, styleQuery, "getMediaList", map[string]any{"stream": "test"}), "data")[0]
	second := jObjects(t, fx.call(t, styleQuery, "getMediaList", map[string]any{"stream": "test"}), "data")[0]
	if jInt(t, first, "bytesSpeed") != jInt(t, second, "bytesSpeed") {
		t.Errorf("bytesSpeed %v then %v", first["bytesSpeed"], second["bytesSpeed"])
	}
}

// The reply is JSON with every int a JSON number, never a string.
func TestRepliesNeverQuoteNumbers(t *testing.T) {
	fx := newFixture(t)
	w := newRequest(styleQuery, "getMediaList", withSecret(nil))
	rec := newRecorder(fx.srv, w)
	body := rec.Body.String()
	for _, frag := range []string{`"code":0`, `"readerCount":2`, `"totalReaderCount":3`, `"originType":1`, `"codec_id":0`, `"codec_id":2`, `"local_port":1935`} {
		if !strings.Contains(body, frag) {
			t.Errorf("reply lacks %s: %s", frag, body)
		}
	}
}
