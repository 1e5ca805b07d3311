package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/rtp"
	"github.com/mediakit/mediakit/pkg/rtpserver"
)

// fakeRTP records what the endpoints ask of the registry.
type fakeRTP struct {
	opened   []rtpserver.Options
	openErr  error
	closed   []engine.Key
	stream   rtpserver.StreamInfo
	list     []rtpserver.Info
	ssrc     map[engine.Key]uint32
	paused   time.Duration
	resumed  bool
	connects []netip.AddrPort
}

func (f *fakeRTP) Open(ctx context.Context, o rtpserver.Options) (int, error) {
	f.opened = append(f.opened, o)
	if f.openErr != nil {
		return 0, f.openErr
	}
	return 30000, nil
}
func (f *fakeRTP) Close(k engine.Key) bool { f.closed = append(f.closed, k); return k.Stream == "open" }
func (f *fakeRTP) Info(k engine.Key) (rtpserver.Info, bool) {
	return rtpserver.Info{}, false
}
func (f *fakeRTP) Stream(k engine.Key) (rtpserver.StreamInfo, bool) {
	if k.Stream != "live" {
		return rtpserver.StreamInfo{}, false
	}
	return f.stream, true
}
func (f *fakeRTP) List() []rtpserver.Info { return f.list }
func (f *fakeRTP) UpdateSSRC(k engine.Key, ssrc uint32) error {
	if k.Stream != "open" {
		return rtpserver.ErrNotFound
	}
	f.ssrc[k] = ssrc
	return nil
}
func (f *fakeRTP) PauseCheck(k engine.Key, d time.Duration) error {
	if k.Stream != "open" {
		return rtpserver.ErrNotFound
	}
	f.paused = d
	return nil
}
func (f *fakeRTP) ResumeCheck(k engine.Key) error { f.resumed = true; return nil }
func (f *fakeRTP) Connect(ctx context.Context, k engine.Key, a netip.AddrPort) error {
	f.connects = append(f.connects, a)
	return nil
}

func rtpCall(t *testing.T, s *Server, name string, v url.Values) map[string]any {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, Prefix+name+"?"+v.Encode(), nil)
	r.RemoteAddr = "127.0.0.1:1"
	r.Host = "127.0.0.1:8080"
	_, m := do(t, s, r)
	return m
}

func TestRTPEndpoints(t *testing.T) {
	f := &fakeRTP{ssrc: map[engine.Key]uint32{}}
	s := NewServer(nil, nil, nil)
	s.RegisterRTP(f)

	m := rtpCall(t, s, "openRtpServer", url.Values{"port": {"0"}, "stream_id": {"0BEBC201"}, "enable_tcp": {"1"},
		"only_audio": {"true"}, "ssrc": {"0200000001"}, "re_use_port": {"1"}})
	wantCode(t, m, CodeSuccess, "")
	if jInt(t, m, "port") != 30000 {
		t.Errorf("port %v", m["port"])
	}
	o := f.opened[0]
	if o.App != "" || o.StreamID != "0BEBC201" || o.TCPMode != rtpserver.TCPPassive || o.OnlyTrack != 1 || o.SSRC != 200000001 || !o.ReusePort {
		t.Errorf("options %+v: enable_tcp and only_audio are the old spellings of tcp_mode 1 and only_track 1", o)
	}
	rtpCall(t, s, "openRtpServerMultiplex", url.Values{"port": {"10001"}, "stream_id": {"mux"}, "ssrc": {"5"}})
	if o := f.opened[1]; !o.Multiplex || !o.ReusePort || o.SSRC != 0 || o.Port != 10001 {
		t.Errorf("multiplex options %+v", o)
	}

	for _, c := range []struct {
		err  error
		code Code
	}{
		{rtpserver.ErrExists, CodeInvalidArgs},
		{fmt.Errorf("%w: tcp_mode 3", rtpserver.ErrInvalidOptions), CodeInvalidArgs},
		{errors.New("rtp: listen udp :30000: address already in use"), CodeException},
	} {
		f.openErr = c.err
		m := rtpCall(t, s, "openRtpServer", url.Values{"port": {"0"}, "stream_id": {"x"}})
		wantCode(t, m, c.code, "")
		if c.err == rtpserver.ErrExists && m["msg"] != "This stream already exists" {
			t.Errorf("msg %v, want ZLMediaKit's", m["msg"])
		}
	}
	f.openErr = nil
	wantCode(t, rtpCall(t, s, "openRtpServer", url.Values{"stream_id": {"x"}}), CodeInvalidArgs, "")
	wantCode(t, rtpCall(t, s, "openRtpServer", url.Values{"port": {"0"}, "stream_id": {"x"}, "ssrc": {"99999999999"}}), CodeInvalidArgs, "")

	if m := rtpCall(t, s, "closeRtpServer", url.Values{"stream_id": {"open"}}); jInt(t, m, "hit") != 1 {
		t.Errorf("close: %v", m)
	}
	if m := rtpCall(t, s, "closeRtpServer", url.Values{"stream_id": {"none"}}); jInt(t, m, "hit") != 0 || jInt(t, m, "code") != 0 {
		t.Errorf("close of nothing: %v", m)
	}
	if k := f.closed[0]; k != engine.NewKey("", "rtp", "open") {
		t.Errorf("closed %v: vhost and app default to __defaultVhost__ and rtp", k)
	}

	if m := rtpCall(t, s, "getRtpInfo", url.Values{"stream_id": {"none"}}); m["exist"] != false {
		t.Errorf("getRtpInfo none: %v", m)
	}
	f.stream = rtpserver.StreamInfo{Published: true, Peer: netip.MustParseAddrPort("10.0.0.9:5000"), LocalIP: "0.0.0.0", LocalPort: 30000, Session: "rtp-1",
		SSRC: 7, Transport: "udp", Payload: "ps", Codecs: []string{"h264"}, Stats: rtp.Stats{Packets: 100, Bytes: 120000, Lost: 3, JitterMS: 1.5}, BitrateBPS: 512000.7}
	m = rtpCall(t, s, "getRtpInfo", url.Values{"stream_id": {"live"}})
	if m["exist"] != true || m["peer_ip"] != "10.0.0.9" || jInt(t, m, "peer_port") != 5000 || jInt(t, m, "local_port") != 30000 || m["identifier"] != "rtp-1" {
		t.Errorf("getRtpInfo: %v", m)
	}
	// mediakit's figures of what arrives, for the console.
	if jInt(t, m, "packets") != 100 || jInt(t, m, "lost") != 3 || jInt(t, m, "bitrate") != 512000 || jInt(t, m, "ssrc") != 7 ||
		m["payload"] != "ps" || m["transport"] != "udp" || jNum(t, m, "jitter_ms") != 1.5 || len(jArr(t, m, "codecs")) != 1 {
		t.Errorf("getRtpInfo figures: %v", m)
	}

	if m := rtpCall(t, s, "listRtpServer", nil); m["data"] != nil {
		t.Errorf("empty list has data: %v", m)
	}
	f.list = []rtpserver.Info{{Vhost: "__defaultVhost__", App: "rtp", StreamID: "a", Port: 30000, SSRC: 7, TCPMode: rtpserver.TCPActive}}
	m = rtpCall(t, s, "listRtpServer", nil)
	item := m["data"].([]any)[0].(map[string]any)
	if item["stream_id"] != "a" || jInt(t, item, "port") != 30000 || jInt(t, item, "ssrc") != 7 || jInt(t, item, "tcp_mode") != 2 {
		t.Errorf("list item %v", item)
	}

	wantCode(t, rtpCall(t, s, "updateRtpServerSSRC", url.Values{"stream_id": {"open"}, "ssrc": {"42"}}), CodeSuccess, "")
	wantCode(t, rtpCall(t, s, "updateRtpServerSSRC", url.Values{"stream_id": {"none"}, "ssrc": {"42"}}), CodeNotFound, "")
	wantCode(t, rtpCall(t, s, "pauseRtpCheck", url.Values{"stream_id": {"open"}, "pause_seconds": {"30"}}), CodeSuccess, "")
	if f.paused != 30*time.Second {
		t.Errorf("paused %v", f.paused)
	}
	wantCode(t, rtpCall(t, s, "pauseRtpCheck", url.Values{"stream_id": {"open"}}), CodeSuccess, "")
	if f.paused != 300*time.Second {
		t.Errorf("pause without pause_seconds: %v, want ZLMediaKit's 300 s", f.paused)
	}
	wantCode(t, rtpCall(t, s, "pauseRtpCheck", url.Values{"stream_id": {"open"}, "pause_seconds": {"9300000000"}}), CodeSuccess, "")
	if f.paused != maxPauseSeconds*time.Second {
		t.Errorf("pause of 9.3e9 s: %v, want it capped at %v (not overflowed)", f.paused, maxPauseSeconds*time.Second)
	}
	wantCode(t, rtpCall(t, s, "pauseRtpCheck", url.Values{"stream_id": {"none"}}), CodeNotFound, "")
	wantCode(t, rtpCall(t, s, "connectRtpServer", url.Values{"stream_id": {"open"}, "dst_url": {"10.0.0.9"}, "dst_port": {"6000"}}), CodeSuccess, "")
	if len(f.connects) != 1 || f.connects[0] != netip.MustParseAddrPort("10.0.0.9:6000") {
		t.Errorf("connects %v", f.connects)
	}
	wantCode(t, rtpCall(t, s, "connectRtpServer", url.Values{"stream_id": {"open"}, "dst_url": {"10.0.0.9"}, "dst_port": {"0"}}), CodeInvalidArgs, "")
}
