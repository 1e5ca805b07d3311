package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	pionrtp "github.com/pion/rtp"

	"github.com/mediakit/mediakit/internal/gbsender"
	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/format/ps"
	"github.com/mediakit/mediakit/pkg/rtp"
)

// callKV calls API name on ts with secret and key-value parameters.
func callKV(t *testing.T, ts *testServer, secret, name string, kv ...string) map[string]any {
	t.Helper()
	v := url.Values{"secret": {secret}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return ts.apiCall(t, name, v)
}

// TestSendRTPCascade is GB28181 cascading between two mediakit servers:
// A receives a stream over RTMP and sends it with startSendRtp as PS over
// RTP to B's openRtpServer port, over UDP and over TCP; B's stream plays
// over HTTP-FLV with its H.264 video and AAC audio. stopSendRtp on A ends
// the sender and fires on_send_rtp_stopped with ZLMediaKit's body.
func TestSendRTPCascade(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	for _, tc := range []struct {
		name, isUDP, tcpMode string
	}{{"udp", "1", "0"}, {"tcp", "0", "1"}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each on its own servers and ports; the clip plays in real time
			const ssrc = "0200000001"
			h := newHookServer(t, nil)
			a := startServer(t, func(c *config.Config) { c.API.Secret = "a" })
			b := startServer(t, func(c *config.Config) { c.API.Secret = "b" })
			a.enableHooks(t, h, url.Values{"secret": {"a"}, "hook.on_send_rtp_stopped": {h.url("on_send_rtp_stopped")}})

			pub := testutil.PublishClip(t, "h264_aac.flv", a.rtmpURL+"/live/src", true)
			defer pub.Stop()
			waitStream(t, a, "live/src")

			r := callKV(t, b, "b", "openRtpServer", "stream_id", "cascade", "port", "0", "tcp_mode", tc.tcpMode)
			if code(r) != 0 {
				t.Fatalf("openRtpServer on B: %v", r)
			}
			port := int(r["port"].(float64))
			send := []string{"vhost", "__defaultVhost__", "app", "live", "stream", "src", "ssrc", ssrc,
				"dst_url", "127.0.0.1", "dst_port", fmt.Sprint(port), "is_udp", tc.isUDP}
			r = callKV(t, a, "a", "startSendRtp", send...)
			if code(r) != 0 || r["local_port"].(float64) <= 0 {
				t.Fatalf("startSendRtp on A: %v", r)
			}
			waitStream(t, b, "rtp/cascade")

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			p, err := testutil.FFprobe(ctx, t, b.httpURL+"/rtp/cascade.live.flv", "-read_intervals", "%+3")
			if err != nil {
				t.Fatalf("ffprobe of B's stream: %v", err)
			}
			t.Logf("B plays video %+v, audio %+v", p.Video(), p.Audio())
			if v := p.Video(); v == nil || v.CodecName != "h264" || v.Width != 320 || v.Height != 240 || v.NbReadFrames < 25 {
				t.Errorf("B's video: %+v", v)
			}
			if a := p.Audio(); a == nil || a.CodecName != "aac" {
				t.Errorf("B's audio: %+v", a)
			}

			list := callKV(t, a, "a", "listRtpSender", "vhost", "__defaultVhost__", "app", "live", "stream", "src")
			if data, _ := list["data"].([]any); len(data) != 1 || data[0] != ssrc || list["totalBytes"].(float64) <= 0 {
				t.Errorf("listRtpSender: %v", list)
			}
			if r := callKV(t, a, "a", "stopSendRtp", "vhost", "__defaultVhost__", "app", "live", "stream", "src", "ssrc", ssrc); code(r) != 0 {
				t.Fatalf("stopSendRtp: %v", r)
			}
			body := h.wait(t, "on_send_rtp_stopped", 10*time.Second)
			for k, want := range map[string]any{
				"vhost": "__defaultVhost__", "app": "live", "stream": "src", "params": "", "ssrc": ssrc,
				"originType": float64(1), "originTypeStr": "rtmp_push", "err": float64(6), "msg": "stopped by stopSendRtp",
			} {
				if body[k] != want {
					t.Errorf("on_send_rtp_stopped %s = %v, want %v (%v)", k, body[k], want, body)
				}
			}
			if u, _ := body["originUrl"].(string); !strings.HasSuffix(u, "/live/src") {
				t.Errorf("on_send_rtp_stopped originUrl = %q", u)
			}
			if r := callKV(t, a, "a", "stopSendRtp", "vhost", "__defaultVhost__", "app", "live", "stream", "src"); code(r) != -1 || r["msg"] != "stopSendRtp failed" {
				t.Errorf("second stopSendRtp: %v", r)
			}
			if r := callKV(t, a, "a", "listRtpSender", "vhost", "__defaultVhost__", "app", "live", "stream", "src"); r["data"] != nil {
				t.Errorf("listRtpSender after stop: %v", r)
			}
			if r := callKV(t, a, "a", "startSendRtp", append(send[:5:5], "nothing", "ssrc", ssrc, "dst_url", "127.0.0.1",
				"dst_port", fmt.Sprint(port), "is_udp", tc.isUDP)...); code(r) != -500 || r["msg"] != "can not find the source stream" {
				t.Errorf("startSendRtp of a missing stream: %v", r)
			}
			if n := h.count("on_send_rtp_stopped"); n != 0 {
				t.Errorf("%d more on_send_rtp_stopped", n)
			}
		})
	}
}

// camera is a GB28181 camera on a TCP connection: it sends PS over RTP
// (RFC 4571) and reads what comes back on the same connection.
type camera struct {
	conn net.Conn
	mux  *ps.Muxer
	pz   rtp.Packetizer
}

// send loops frames in real time, timestamps continuing, until ctx ends.
func (c *camera) send(ctx context.Context, frames []gbsender.Frame) error {
	start := time.Now()
	clipLen := frames[len(frames)-1].PTS + 90000/25
	var buf, out []byte
	for loop := int64(0); ; loop++ {
		for _, f := range frames {
			pts := f.PTS + loop*clipLen
			if d := time.Until(start.Add(time.Duration(pts) * time.Second / 90000)); d > 0 {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(d):
				}
			}
			id, typ := byte(0xE0), ps.StreamH264
			if !f.Video {
				id, typ = 0xC0, ps.StreamG711A
			}
			buf = c.mux.AppendFrame(buf[:0], ps.Frame{StreamID: id, Type: typ, PTS: pts, DTS: pts, Key: f.Key, Data: f.Data}, f.Key)
			pkts, err := c.pz.Packetize(nil, buf, uint32(pts))
			if err != nil {
				return err
			}
			out = out[:0]
			for _, p := range pkts {
				b, err := p.Marshal()
				if err != nil {
					return err
				}
				out = rtp.AppendFrame(out, b)
			}
			if _, err := c.conn.Write(out); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
}

// TestSendRTPTalk is voice talk-back: a camera streams PS over TCP to
// B's openRtpServer; startSendRtpTalk on B sends a stream (here the
// camera's own, echoed) back over that same connection, where the camera
// reads RFC 4571 frames of PS that demuxes.
func TestSendRTPTalk(t *testing.T) {
	t.Parallel()
	h := newHookServer(t, nil)
	b := startServer(t, func(c *config.Config) { c.API.Secret = "b" })
	b.enableHooks(t, h, url.Values{"secret": {"b"}, "hook.on_send_rtp_stopped": {h.url("on_send_rtp_stopped")}})
	r := callKV(t, b, "b", "openRtpServer", "stream_id", "cam", "port", "0", "tcp_mode", "1")
	if code(r) != 0 {
		t.Fatalf("openRtpServer: %v", r)
	}
	port := int(r["port"].(float64))
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cam := &camera{
		conn: conn,
		mux:  ps.NewMuxer([]ps.Stream{{ID: 0xE0, Type: ps.StreamH264}, {ID: 0xC0, Type: ps.StreamG711A}}),
		pz:   rtp.Packetizer{SSRC: 200000001, PayloadType: 96},
	}
	ctx, cancel := context.WithCancel(context.Background())
	sent := make(chan error, 1)
	go func() { sent <- cam.send(ctx, gbsender.CameraClip(t)) }()
	defer func() {
		cancel()
		// The test ends by closing the camera's RTP server: a write the
		// camera made after that fails, as a camera's would.
		if err := <-sent; err != nil && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("camera: %v", err)
		}
	}()
	waitStream(t, b, "rtp/cam")

	talk := []string{"vhost", "__defaultVhost__", "app", "rtp", "stream", "cam", "ssrc", "123456", "recv_stream_id", "cam"}
	if r := callKV(t, b, "b", "startSendRtpTalk", append(talk[:8:8], "recv_stream_id", "nobody")...); code(r) != -1 {
		t.Errorf("talk over a missing stream: %v", r)
	}
	r = callKV(t, b, "b", "startSendRtpTalk", talk...)
	if code(r) != 0 || r["local_port"] != float64(port) {
		t.Fatalf("startSendRtpTalk: %v (port %d)", r, port)
	}

	// The camera reads the talk-back on its own connection.
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	fr := rtp.NewFrameReader(conn)
	d := ps.NewDemuxer()
	var video, audio int
	var keys int
	for video < 50 || audio < 50 {
		b, err := fr.ReadPacket()
		if err != nil {
			t.Fatalf("read talk-back after %d video and %d audio frames: %v", video, audio, err)
		}
		var p pionrtp.Packet
		if err := p.Unmarshal(b); err != nil {
			t.Fatal(err)
		}
		if p.SSRC != 123456 || p.PayloadType != 96 {
			t.Fatalf("talk-back packet: ssrc %d pt %d", p.SSRC, p.PayloadType)
		}
		if err := d.Write(p.Payload, func(f ps.Frame) {
			switch {
			case f.Type == ps.StreamH264:
				video++
				if f.Key {
					keys++
				}
				if video == 1 && !f.Key {
					t.Errorf("first video frame is not a keyframe")
				}
			case f.Type == ps.StreamG711A:
				audio++
			default:
				t.Errorf("frame of stream type %v", f.Type)
			}
		}); err != nil {
			t.Fatalf("demux talk-back: %v", err)
		}
	}
	if keys == 0 {
		t.Error("no keyframe in the talk-back")
	}
	list := callKV(t, b, "b", "listRtpSender", "vhost", "__defaultVhost__", "app", "rtp", "stream", "cam")
	if data, _ := list["data"].([]any); len(data) != 1 || data[0] != "123456" {
		t.Errorf("listRtpSender: %v", list)
	}
	// The received stream's server closes: the talk-back ends with it.
	if r := callKV(t, b, "b", "closeRtpServer", "stream_id", "cam"); r["hit"] != float64(1) {
		t.Fatalf("closeRtpServer: %v", r)
	}
	body := h.wait(t, "on_send_rtp_stopped", 10*time.Second)
	t.Logf("on_send_rtp_stopped: %v", body)
	if body["ssrc"] != "123456" || body["app"] != "rtp" || body["stream"] != "cam" || body["originType"] != float64(3) {
		t.Errorf("on_send_rtp_stopped: %v", body)
	}
}
