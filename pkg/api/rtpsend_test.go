package api

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/rtpsend"
)

// fakeSenders records what the endpoints ask of the sender manager.
type fakeSenders struct {
	mu       sync.Mutex
	started  []rtpsend.Options
	startErr error
	port     int
	stopped  []string
	stopN    int
	list     []rtpsend.Info
	err      error // of Stop and List
}

func (f *fakeSenders) Start(ctx context.Context, o rtpsend.Options) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = append(f.started, o)
	if f.startErr != nil {
		return 0, f.startErr
	}
	return f.port, nil
}

func (f *fakeSenders) Stop(ctx context.Context, key engine.Key, ssrc string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = append(f.stopped, key.String()+"#"+ssrc)
	return f.stopN, f.err
}

func (f *fakeSenders) List(ctx context.Context, key engine.Key) ([]rtpsend.Info, error) {
	return f.list, f.err
}

func (f *fakeSenders) last(t *testing.T) rtpsend.Options {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.started) == 0 {
		t.Fatal("Start not called")
	}
	return f.started[len(f.started)-1]
}

func newSendFixture(t *testing.T) (*fixture, *fakeSenders) {
	fx := newFixture(t)
	f := &fakeSenders{port: 30002, stopN: 1}
	fx.srv.RegisterRTPSend(f)
	return fx, f
}

var sendParams = map[string]any{
	"vhost": "__defaultVhost__", "app": "live", "stream": "test", "ssrc": "0200000001",
	"dst_url": "10.0.0.5", "dst_port": 30000, "is_udp": false,
}

func TestStartSendRtp(t *testing.T) {
	for _, st := range allStyles {
		t.Run(st.String(), func(t *testing.T) {
			fx, f := newSendFixture(t)
			m := fx.call(t, st, "startSendRtp", sendParams)
			wantCode(t, m, CodeSuccess, "")
			wantKeys(t, m, "code", "local_port")
			if jInt(t, m, "local_port") != 30002 {
				t.Errorf("local_port = %v", m["local_port"])
			}
			o := f.last(t)
			want := rtpsend.Options{
				Key: engine.NewKey("", "live", "test"), SSRC: "0200000001", Mode: rtpsend.TCPActive, Format: rtpsend.FormatPS,
				DstURL: "10.0.0.5", DstPort: 30000, PayloadType: 96,
			}
			if o != want {
				t.Errorf("options = %+v\nwant      %+v", o, want)
			}
			m = fx.call(t, st, "startSendRtp", with(sendParams, map[string]any{
				"is_udp": true, "src_port": 40000, "pt": 98, "type": 0, "only_audio": true, "close_delay_ms": 1500,
			}))
			wantCode(t, m, CodeSuccess, "")
			o = f.last(t)
			if o.Mode != rtpsend.UDPActive || o.SrcPort != 40000 || o.PayloadType != 98 || o.Format != rtpsend.FormatES ||
				!o.OnlyAudio || o.CloseDelay != 1500*time.Millisecond {
				t.Errorf("options = %+v", o)
			}
			// Older clients: use_ps wins over type.
			fx.call(t, st, "startSendRtp", with(sendParams, map[string]any{"type": 0, "use_ps": 1}))
			if o = f.last(t); o.Format != rtpsend.FormatPS {
				t.Errorf("use_ps=1: format %v", o.Format)
			}
		})
	}
}

func TestStartSendRtpPassiveAndTalk(t *testing.T) {
	fx, f := newSendFixture(t)
	base := map[string]any{"vhost": "__defaultVhost__", "app": "rtp", "stream": "cam", "ssrc": "1"}
	wantCode(t, fx.call(t, styleQuery, "startSendRtpPassive", base), CodeSuccess, "")
	if o := f.last(t); o.Mode != rtpsend.TCPPassive || o.DstPort != 0 {
		t.Errorf("passive: %+v", o)
	}
	wantCode(t, fx.call(t, styleQuery, "startSendRtpPassive", with(base, map[string]any{"is_udp": 1, "src_port": 30010})), CodeSuccess, "")
	if o := f.last(t); o.Mode != rtpsend.UDPPassive || o.SrcPort != 30010 {
		t.Errorf("passive udp: %+v", o)
	}
	m := fx.call(t, styleQuery, "startSendRtpTalk", base)
	wantCode(t, m, CodeInvalidArgs, `Required parameter missed: "vhost","app","stream","ssrc","recv_stream_id"`)
	m = fx.call(t, styleJSON, "startSendRtpTalk", with(base, map[string]any{"recv_stream_id": "34020000001320000001"}))
	wantCode(t, m, CodeSuccess, "")
	if o := f.last(t); o.Mode != rtpsend.VoiceTalk || o.RecvStreamID != "34020000001320000001" || o.Key.App != "rtp" {
		t.Errorf("talk: %+v", o)
	}
}

func TestStartSendRtpErrors(t *testing.T) {
	fx, f := newSendFixture(t)
	cases := []struct {
		name   string
		params map[string]any
		code   Code
		msg    string
	}{
		{"missing is_udp", without(sendParams, "is_udp"), CodeInvalidArgs,
			`Required parameter missed: "vhost","app","stream","ssrc","dst_url","dst_port","is_udp"`},
		{"hex ssrc", with(sendParams, map[string]any{"ssrc": "0BEBC201"}), CodeInvalidArgs, ""},
		{"type 3", with(sendParams, map[string]any{"type": 3}), CodeInvalidArgs, ""},
		{"pt 200", with(sendParams, map[string]any{"pt": 200}), CodeInvalidArgs, ""},
		{"bad port", with(sendParams, map[string]any{"dst_port": 70000}), CodeInvalidArgs, ""},
		{"bad src_port", with(sendParams, map[string]any{"src_port": -1}), CodeInvalidArgs, ""},
		{"negative delay", with(sendParams, map[string]any{"close_delay_ms": -5}), CodeInvalidArgs, ""},
		{"delay beyond a duration", with(sendParams, map[string]any{"close_delay_ms": "9300000000000"}), CodeInvalidArgs, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantCode(t, fx.call(t, styleForm, "startSendRtp", c.params), c.code, c.msg)
		})
	}
	if len(f.started) != 0 {
		t.Fatalf("Start called for invalid parameters: %+v", f.started)
	}
	for _, c := range []struct {
		err  error
		code Code
		msg  string
		port bool
	}{
		{rtpsend.ErrStreamNotFound, CodeNotFound, "can not find the source stream", false},
		{errors.New("rtpsend: connect tcp 10.0.0.5:30000: connection refused"), CodeOtherFailed,
			"rtpsend: connect tcp 10.0.0.5:30000: connection refused", true},
		{rtpsend.ErrTalkNotFound, CodeOtherFailed, rtpsend.ErrTalkNotFound.Error(), true},
	} {
		f.startErr = c.err
		m := fx.call(t, styleQuery, "startSendRtp", sendParams)
		wantCode(t, m, c.code, c.msg)
		if c.port && jInt(t, m, "local_port") != 0 {
			t.Errorf("%v: local_port %v", c.err, m["local_port"])
		}
	}
}

func TestListRtpSender(t *testing.T) {
	fx, f := newSendFixture(t)
	key := map[string]any{"vhost": "__defaultVhost__", "app": "live", "stream": "test"}
	m := fx.call(t, styleQuery, "listRtpSender", key)
	wantCode(t, m, CodeSuccess, "")
	wantKeys(t, m, "code") // nobody sends: no data, as ZLMediaKit
	f.list = []rtpsend.Info{
		{SSRC: "0200000001", BytesSent: 1000, BytesPerSecond: 100},
		{SSRC: "0200000002", BytesSent: 500, BytesPerSecond: 50},
	}
	m = fx.call(t, styleQuery, "listRtpSender", key)
	data := jArr(t, m, "data")
	if len(data) != 2 || data[0] != "0200000001" || data[1] != "0200000002" {
		t.Errorf("data = %v", data)
	}
	if jInt(t, m, "totalBytes") != 1500 || jInt(t, m, "bytesSpeed") != 150 {
		t.Errorf("reply %v", m)
	}
	f.err = rtpsend.ErrStreamNotFound
	wantCode(t, fx.call(t, styleQuery, "listRtpSender", key), CodeNotFound, "can not find the source stream")
	wantCode(t, fx.call(t, styleQuery, "listRtpSender", without(key, "stream")), CodeInvalidArgs, "")
}

func TestStopSendRtp(t *testing.T) {
	fx, f := newSendFixture(t)
	key := map[string]any{"vhost": "__defaultVhost__", "app": "live", "stream": "test"}
	wantCode(t, fx.call(t, styleQuery, "stopSendRtp", with(key, map[string]any{"ssrc": "0200000001"})), CodeSuccess, "")
	wantCode(t, fx.call(t, styleQuery, "stopSendRtp", key), CodeSuccess, "")
	if want := []string{"__defaultVhost__/live/test#0200000001", "__defaultVhost__/live/test#"}; len(f.stopped) != 2 ||
		f.stopped[0] != want[0] || f.stopped[1] != want[1] {
		t.Errorf("stopped %v, want %v", f.stopped, want)
	}
	f.stopN = 0
	wantCode(t, fx.call(t, styleQuery, "stopSendRtp", key), CodeOtherFailed, "stopSendRtp failed")
	f.err = rtpsend.ErrStreamNotFound
	wantCode(t, fx.call(t, styleQuery, "stopSendRtp", key), CodeNotFound, "can not find the stream")
}
