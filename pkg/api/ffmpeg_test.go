package api

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/ffmpegsrc"
)

// fakeFFmpeg records what the endpoints ask of the manager.
type fakeFFmpeg struct {
	mu      sync.Mutex
	added   []ffmpegsrc.Spec
	addErr  error
	deleted []string
	delErr  error
	list    []ffmpegsrc.Info
}

func (f *fakeFFmpeg) Add(ctx context.Context, s ffmpegsrc.Spec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.added = append(f.added, s)
	if f.addErr != nil {
		return "", f.addErr
	}
	return ffmpegsrc.Key(s.DstURL), nil
}

func (f *fakeFFmpeg) Delete(ctx context.Context, key string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, key)
	return key == "k1", f.delErr
}

func (f *fakeFFmpeg) List() []ffmpegsrc.Info {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.list
}

func (f *fakeFFmpeg) lastAdded() ffmpegsrc.Spec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.added[len(f.added)-1]
}

func TestFFmpegEndpoints(t *testing.T) {
	f := &fakeFFmpeg{}
	s := NewServer(nil, nil, nil)
	s.RegisterFFmpeg(f)

	// Every parameter style; enable_hls/enable_mp4 as ZLMediaKit's ints
	// and as booleans.
	fx := &fixture{srv: s}
	for _, st := range allStyles {
		params := map[string]any{"src_url": "rtsp://cam/a b", "dst_url": "rtmp://127.0.0.1/live/ff", "timeout_ms": 10000,
			"enable_hls": 1, "enable_mp4": true, "ffmpeg_cmd_key": "ffmpeg.cmd_hd"}
		r := newRequest(st, "addFFmpegSource", params)
		r.RemoteAddr, r.Host = "127.0.0.1:1", "127.0.0.1:8080"
		_, m := do(t, fx.srv, r)
		wantCode(t, m, CodeSuccess, "")
		if key := jStr(t, jObj(t, m, "data"), "key"); key != ffmpegsrc.Key("rtmp://127.0.0.1/live/ff") {
			t.Errorf("%v: key %s", st, key)
		}
		got := f.lastAdded()
		want := ffmpegsrc.Spec{SrcURL: "rtsp://cam/a b", DstURL: "rtmp://127.0.0.1/live/ff", Timeout: 10 * time.Second,
			EnableHLS: true, EnableMP4: true, CmdKey: "ffmpeg.cmd_hd"}
		if got != want {
			t.Errorf("%v: spec %+v, want %+v", st, got, want)
		}
	}

	base := url.Values{"src_url": {"rtmp://10.0.0.1/live/a"}, "dst_url": {"rtmp://127.0.0.1/live/ff"}, "timeout_ms": {"5000"}}
	with := func(kv ...string) url.Values {
		v := url.Values{}
		for k, x := range base {
			v[k] = x
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				v.Del(kv[i])
			} else {
				v.Set(kv[i], kv[i+1])
			}
		}
		return v
	}
	m := rtpCall(t, s, "addFFmpegSource", with("enable_hls", "0", "enable_mp4", "2"))
	wantCode(t, m, CodeSuccess, "")
	if sp := f.lastAdded(); sp.EnableHLS || !sp.EnableMP4 {
		t.Errorf("enable_hls=0 enable_mp4=2: %+v", sp)
	}
	m = rtpCall(t, s, "addFFmpegSource", with("timeout_ms", "99999999999999999"))
	wantCode(t, m, CodeSuccess, "")
	if sp := f.lastAdded(); sp.Timeout != ffmpegsrc.MaxTimeout {
		t.Errorf("a huge timeout_ms became %v, want the %v bound", sp.Timeout, ffmpegsrc.MaxTimeout)
	}

	calls := len(f.added)
	for _, v := range []url.Values{
		with("src_url", ""),
		with("dst_url", ""),
		with("timeout_ms", ""),
		with("timeout_ms", "0"),
		with("timeout_ms", "-5"),
		with("timeout_ms", "soon"),
		with("enable_hls", "maybe"),
	} {
		m := rtpCall(t, s, "addFFmpegSource", v)
		wantCode(t, m, CodeInvalidArgs, "")
	}
	if m := rtpCall(t, s, "addFFmpegSource", with("src_url", "")); m["msg"] != `Required parameter missed: "src_url","dst_url","timeout_ms"` {
		t.Errorf("msg %v, want ZLMediaKit's", m["msg"])
	}
	if len(f.added) != calls {
		t.Errorf("invalid calls reached the manager")
	}

	for _, c := range []struct {
		err  error
		code Code
	}{
		{fmt.Errorf("add ffmpeg source /tmp/x: %w: dst_url \"/tmp/x\": only rtmp:// and rtmps:// destinations are allowed", ffmpegsrc.ErrInvalid), CodeInvalidArgs},
		{errors.New("add ffmpeg source rtmp://127.0.0.1/live/ff: __defaultVhost__/live/ff not live within 5s; ffmpeg: Connection refused"), CodeOtherFailed},
	} {
		f.addErr = c.err
		m := rtpCall(t, s, "addFFmpegSource", base)
		wantCode(t, m, c.code, c.err.Error())
		if _, ok := m["data"]; ok {
			t.Errorf("failure carries data: %v", m)
		}
	}

	m = rtpCall(t, s, "delFFmpegSource", url.Values{"key": {"k1"}})
	wantCode(t, m, CodeSuccess, "")
	if !jBool(t, jObj(t, m, "data"), "flag") {
		t.Errorf("del of a source: %v", m)
	}
	m = rtpCall(t, s, "delFFmpegSource", url.Values{"key": {"none"}})
	wantCode(t, m, CodeSuccess, "")
	if jBool(t, jObj(t, m, "data"), "flag") {
		t.Errorf("del of nothing: %v", m)
	}
	wantCode(t, rtpCall(t, s, "delFFmpegSource", nil), CodeInvalidArgs, `Required parameter missed: "key"`)
	f.delErr = errors.New("delete ffmpeg source k1: store: disk full")
	wantCode(t, rtpCall(t, s, "delFFmpegSource", url.Values{"key": {"k1"}}), CodeOtherFailed, f.delErr.Error())

	if m := rtpCall(t, s, "listFFmpegSource", nil); m["data"] != nil {
		t.Errorf("empty list has data: %v", m)
	}
	f.list = []ffmpegsrc.Info{{
		Key:  "k1",
		Spec: ffmpegsrc.Spec{SrcURL: "rtsp://cam/a", DstURL: "rtmp://127.0.0.1/live/ff", Timeout: 5 * time.Second, EnableMP4: true, CmdKey: "ffmpeg.cmd"},
		Cmd:  "ffmpeg -re -i rtsp://cam/a -c copy -f flv rtmp://127.0.0.1/live/ff",
		Status: ffmpegsrc.Status{State: ffmpegsrc.StateRunning, PID: 4242, Restarts: 3, LastExit: "exit status 1",
			Since: time.Now().Add(-90 * time.Second)},
		Uptime: 90500 * time.Millisecond,
		Stderr: "frame=1\rConnection refused\n",
	}}
	m = rtpCall(t, s, "listFFmpegSource", nil)
	wantCode(t, m, CodeSuccess, "")
	items := jObjects(t, m, "data")
	if len(items) != 1 {
		t.Fatalf("list: %v", m)
	}
	it := items[0]
	wantKeys(t, it, "key", "src_url", "dst_url", "cmd", "ffmpeg_cmd_key", "timeout_ms", "enable_hls", "enable_mp4",
		"status", "pid", "restarts", "uptime", "last_exit", "stderr")
	if jStr(t, it, "key") != "k1" || jStr(t, it, "src_url") != "rtsp://cam/a" || jStr(t, it, "dst_url") != "rtmp://127.0.0.1/live/ff" ||
		jStr(t, it, "cmd") != f.list[0].Cmd || jStr(t, it, "ffmpeg_cmd_key") != "ffmpeg.cmd" || jInt(t, it, "timeout_ms") != 5000 ||
		jBool(t, it, "enable_hls") || !jBool(t, it, "enable_mp4") || jStr(t, it, "status") != "running" ||
		jInt(t, it, "pid") != 4242 || jInt(t, it, "restarts") != 3 || jInt(t, it, "uptime") != 90 ||
		jStr(t, it, "last_exit") != "exit status 1" || jStr(t, it, "stderr") != "frame=1\rConnection refused\n" {
		t.Errorf("list item %v", it)
	}
}
