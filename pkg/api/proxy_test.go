package api

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/proxy"
)

// fakeProxies records what the endpoints ask of the proxy manager.
type fakeProxies struct {
	pulls    []proxy.PullSpec
	forced   []bool
	pushes   []proxy.PushSpec
	addErr   error
	deleted  []string
	list     []proxy.PullEntry
	pushList []proxy.PushEntry
}

func (f *fakeProxies) AddPull(ctx context.Context, s proxy.PullSpec, force bool) (string, error) {
	f.pulls, f.forced = append(f.pulls, s), append(f.forced, force)
	if f.addErr != nil {
		return "", f.addErr
	}
	return s.Key().String(), nil
}
func (f *fakeProxies) DeletePull(key string) (bool, error) {
	f.deleted = append(f.deleted, key)
	return key == "__defaultVhost__/proxy/a", nil
}
func (f *fakeProxies) Pulls() []proxy.PullEntry { return f.list }
func (f *fakeProxies) PullStatus(key string) (proxy.PullSpec, proxy.Status, bool) {
	for _, e := range f.list {
		if e.Status.Key == key {
			return e.Spec, e.Status, true
		}
	}
	return proxy.PullSpec{}, proxy.Status{}, false
}
func (f *fakeProxies) AddPush(ctx context.Context, s proxy.PushSpec) (string, error) {
	f.pushes = append(f.pushes, s)
	if f.addErr != nil {
		return "", f.addErr
	}
	return s.Key(), nil
}
func (f *fakeProxies) DeletePush(key string) (bool, error) { return key == "k", nil }
func (f *fakeProxies) Pushes() []proxy.PushEntry           { return f.pushList }
func (f *fakeProxies) PushStatus(key string) (proxy.PushEntry, bool) {
	for _, e := range f.pushList {
		if e.Status.Key == key {
			return e, true
		}
	}
	return proxy.PushEntry{}, false
}

func TestProxyEndpoints(t *testing.T) {
	f := &fakeProxies{}
	s := NewServer(nil, nil, nil)
	s.RegisterProxies(f, &fakeEngine{})

	m := rtpCall(t, s, "addStreamProxy", url.Values{"vhost": {""}, "app": {"proxy"}, "stream": {"a"}, "url": {" rtmp://o/live/a "},
		"timeout_sec": {"2.5"}, "enable_audio": {"0"}, "add_mute_audio": {"1"}, "enable_hls": {"0"}, "enable_mp4": {"1"},
		"mp4_max_second": {"60"}, "force": {"1"}, "secret_sauce": {"x"}})
	wantCode(t, m, CodeSuccess, "")
	if m["data"].(map[string]any)["key"] != "__defaultVhost__/proxy/a" {
		t.Errorf("key %v", m["data"])
	}
	sp := f.pulls[0]
	if sp.URL != "rtmp://o/live/a" || sp.RetryCount != -1 || sp.Timeout != 2500*time.Millisecond || !sp.DropAudio || !sp.AddMuteAudio || !f.forced[0] {
		t.Errorf("spec %+v force %v", sp, f.forced[0])
	}
	if len(sp.Options) != 3 || sp.Options["enable_hls"] != "0" || sp.Options["enable_mp4"] != "1" || sp.Options["mp4_max_second"] != "60" {
		t.Errorf("stream options %v: only ZLMediaKit's protocol options are kept", sp.Options)
	}
	wantCode(t, rtpCall(t, s, "addStreamProxy", url.Values{"app": {"proxy"}, "stream": {"a"}}), CodeInvalidArgs, "")
	wantCode(t, rtpCall(t, s, "addStreamProxy", url.Values{"app": {"proxy"}, "stream": {"a"}, "url": {"rtmp://x/y/z"}, "timeout_sec": {"soon"}}), CodeInvalidArgs, "")
	rtpCall(t, s, "addStreamProxy", url.Values{"app": {"proxy"}, "stream": {"b"}, "url": {"rtmp://x/y/z"}, "retry_count": {"-7"}})
	if f.pulls[len(f.pulls)-1].RetryCount != -1 {
		t.Errorf("retry_count -7 gave %d, want -1 (forever)", f.pulls[len(f.pulls)-1].RetryCount)
	}
	f.addErr = proxy.ErrExists
	m = rtpCall(t, s, "addStreamProxy", url.Values{"app": {"proxy"}, "stream": {"a"}, "url": {"rtmp://x/y/z"}})
	wantCode(t, m, CodeOtherFailed, "")
	if m["msg"] != "This stream already exists" {
		t.Errorf("duplicate msg %v, want ZLMediaKit's", m["msg"])
	}
	f.addErr = nil

	m = rtpCall(t, s, "delStreamProxy", url.Values{"key": {"__defaultVhost__/proxy/a"}})
	if m["data"].(map[string]any)["flag"] != true {
		t.Errorf("del: %v", m)
	}
	if m := rtpCall(t, s, "delStreamProxy", url.Values{"key": {"nope"}}); m["data"].(map[string]any)["flag"] != false {
		t.Errorf("del of nothing: %v", m)
	}
	wantCode(t, rtpCall(t, s, "delStreamProxy", nil), CodeInvalidArgs, "")

	f.list = []proxy.PullEntry{{
		Spec:   proxy.PullSpec{Vhost: engine.DefaultVhost, App: "proxy", Stream: "a", URL: "rtmp://o/live/a", RetryCount: -1},
		Status: proxy.Status{Key: "__defaultVhost__/proxy/a", State: proxy.StatePlaying, Text: "playing", Live: 90 * time.Second, Restarts: 2, Bytes: 1000, Speed: 10, URL: "rtmp://o/live/a"},
	}}
	m = rtpCall(t, s, "listStreamProxy", nil)
	item := m["data"].([]any)[0].(map[string]any)
	if item["key"] != "__defaultVhost__/proxy/a" || jInt(t, item, "status") != 0 || item["status_str"] != "playing" || jInt(t, item, "liveSecs") != 90 ||
		jInt(t, item, "rePullCount") != 2 || jInt(t, item, "totalBytes") != 1000 || jInt(t, item, "bytesSpeed") != 10 ||
		item["src"].(map[string]any)["stream"] != "a" || item["tracks"] == nil {
		t.Errorf("list item %v", item)
	}
	if m := rtpCall(t, s, "listStreamProxy", url.Values{"key": {"other"}}); m["data"] != nil {
		t.Errorf("filtered list %v", m)
	}
	wantCode(t, rtpCall(t, s, "getProxyInfo", url.Values{"key": {"__defaultVhost__/proxy/a"}}), CodeSuccess, "")
	m = rtpCall(t, s, "getProxyInfo", url.Values{"key": {"nope"}})
	wantCode(t, m, CodeNotFound, "")

	m = rtpCall(t, s, "addStreamPusherProxy", url.Values{"schema": {"rtmp"}, "vhost": {"__defaultVhost__"}, "app": {"live"}, "stream": {"s"},
		"dst_url": {"rtmp://d/live/s"}, "retry_count": {"3"}})
	wantCode(t, m, CodeSuccess, "")
	if ps := f.pushes[0]; ps.URL != "rtmp://d/live/s" || ps.RetryCount != 3 || ps.Schema != "rtmp" {
		t.Errorf("push spec %+v", ps)
	}
	wantCode(t, rtpCall(t, s, "addStreamPusherProxy", url.Values{"schema": {"rtmp"}, "app": {"live"}, "stream": {"s"},
		"dst_url": {"/etc/passwd"}}), CodeInvalidArgs, "")
	// RTSP destinations, over TCP or UDP; multicast is for players.
	wantCode(t, rtpCall(t, s, "addStreamPusherProxy", url.Values{"schema": {"rtmp"}, "app": {"live"}, "stream": {"s"},
		"dst_url": {"rtsp://d/live/s"}, "rtp_type": {"1"}}), CodeSuccess, "")
	if ps := f.pushes[len(f.pushes)-1]; ps.URL != "rtsp://d/live/s" || ps.RTPType != 1 {
		t.Errorf("rtsp push spec %+v", ps)
	}
	wantCode(t, rtpCall(t, s, "addStreamPusherProxy", url.Values{"schema": {"rtmp"}, "app": {"live"}, "stream": {"s"},
		"dst_url": {"rtsp://d/live/m"}, "rtp_type": {"2"}}), CodeInvalidArgs, "")
	f.addErr = errors.Join(proxy.ErrNoSource)
	m = rtpCall(t, s, "addStreamPusherProxy", url.Values{"schema": {"rtmp"}, "app": {"live"}, "stream": {"s"}, "dst_url": {"rtmp://d/x/y"}})
	if jInt(t, m, "code") != -1 || m["msg"] != "can not find the source stream" {
		t.Errorf("push without source: %v", m)
	}
	f.addErr = nil
	f.pushList = []proxy.PushEntry{{Spec: proxy.PushSpec{Schema: "rtmp", Vhost: engine.DefaultVhost, App: "live", Stream: "s"},
		Status: proxy.Status{Key: "k", State: proxy.StateRetrying, Text: "push failed: refused", Restarts: 1}}}
	item = rtpCall(t, s, "listStreamPusherProxy", nil)["data"].([]any)[0].(map[string]any)
	if item["key"] != "k" || jInt(t, item, "status") != 1 || jInt(t, item, "rePublishCount") != 1 || item["status_str"] != "push failed: refused" {
		t.Errorf("pusher item %v", item)
	}
	wantCode(t, rtpCall(t, s, "getProxyPusherInfo", url.Values{"key": {"k"}}), CodeSuccess, "")
	wantCode(t, rtpCall(t, s, "getProxyPusherInfo", url.Values{"key": {"x"}}), CodeNotFound, "")
	if m := rtpCall(t, s, "delStreamPusherProxy", url.Values{"key": {"k"}}); m["data"].(map[string]any)["flag"] != true {
		t.Errorf("delStreamPusherProxy: %v", m)
	}
}
