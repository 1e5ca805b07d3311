package server

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/hls"
	"github.com/mediakit/mediakit/pkg/session"
)

func (ts *testServer) rtspURL(path string) string { return "rtsp://" + ts.RTSPAddr() + "/" + path }

// probeRTSPAsync starts ffprobe counting frames of an RTSP URL over
// transport (tcp or udp) until the stream ends.
func probeRTSPAsync(t *testing.T, url, transport string, extra ...string) <-chan probeResult {
	ch := make(chan probeResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		p, err := testutil.FFprobe(ctx, t, url, append([]string{"-rtsp_transport", transport}, extra...)...)
		ch <- probeResult{p, err}
	}()
	return ch
}

// waitWaiting waits until n players wait for a stream not published yet.
func (ts *testServer) waitWaiting(t *testing.T, n int64) {
	t.Helper()
	waitFor(t, 10*time.Second, "players waiting for the stream", func() bool {
		return ts.Engine.Stats().WaitingReaders.Load() >= n
	})
}

// TestRTSPPlayRTMPPublish: an RTMP publish played over RTSP, TCP and UDP,
// every frame of the clip arriving at players that waited for it.
func TestRTSPPlayRTMPPublish(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, nil)
	tcp := probeRTSPAsync(t, ts.rtspURL("live/a"), "tcp")
	udp := probeRTSPAsync(t, ts.rtspURL("live/a"), "udp")
	ts.waitWaiting(t, 2)
	pub := testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/a", false)
	if err := pub.Wait(30 * time.Second); err != nil {
		t.Fatalf("publisher: %v", err)
	}
	for name, ch := range map[string]<-chan probeResult{"tcp": tcp, "udp": udp} {
		res := <-ch
		if res.err != nil {
			t.Fatalf("%s: ffprobe: %v", name, res.err)
		}
		v, a := res.probe.Video(), res.probe.Audio()
		if v == nil || a == nil {
			t.Fatalf("%s: streams %+v, want video and audio", name, res.probe.Streams)
		}
		t.Logf("%s: %s %dx%d %d frames, %s %d Hz %d frames", name, v.CodecName, v.Width, v.Height, v.NbReadFrames,
			a.CodecName, a.SampleRate, a.NbReadFrames)
		if v.CodecName != "h264" || v.Width != 320 || v.Height != 240 || v.NbReadFrames != 150 {
			t.Errorf("%s: video %s %dx%d %d frames, want h264 320x240 150 frames", name, v.CodecName, v.Width, v.Height, v.NbReadFrames)
		}
		if a.CodecName != "aac" || a.SampleRate != 44100 || a.NbReadFrames != 260 {
			t.Errorf("%s: audio %s %d Hz %d frames, want aac 44100 Hz 260 frames", name, a.CodecName, a.SampleRate, a.NbReadFrames)
		}
	}
	// The TCP player wrote its packets itself (shared payloads, writev);
	// the UDP one through gortsplib's session.
	for _, want := range []string{"transport=tcp direct=true", "transport=udp direct=false"} {
		if !strings.Contains(ts.logs.String(), want) {
			t.Errorf("no player started with %s", want)
		}
	}
}

// TestRTSPConnLimit: RTSP connections count against
// general.maxConnsPerIP like RTMP and HTTP ones.
func TestRTSPConnLimit(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(c *config.Config) { c.General.MaxConnsPerIP = 1 })
	first, err := net.Dial("tcp", ts.RTSPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if _, err := first.Write([]byte("OPTIONS rtsp://" + ts.RTSPAddr() + "/ RTSP/1.0\r\nCSeq: 1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	var res base.Response
	if err := res.Unmarshal(bufio.NewReader(first)); err != nil || res.StatusCode != base.StatusOK {
		t.Fatalf("first connection: %v %v", res.StatusCode, err)
	}
	second, err := net.Dial("tcp", ts.RTSPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	_ = second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := second.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second connection from the same address: read %d, %v; want it closed", n, err)
	}
	// (/metrics cannot be asked: HTTP counts against the same limit.)
	if got := ts.limiter.ActiveOn("rtsp"); got != 1 {
		t.Errorf("open rtsp connections counted: %d, want 1", got)
	}
}

// publishRTSP streams a clip in real time to an RTSP URL with ffmpeg:
//
//	ffmpeg -re -i CLIP [CODEC ARGS] -f rtsp -rtsp_transport TRANSPORT URL
func publishRTSP(t *testing.T, clip, url, transport string, codecArgs ...string) *testutil.Process {
	t.Helper()
	if len(codecArgs) == 0 {
		codecArgs = []string{"-c", "copy"}
	}
	args := append([]string{"-re", "-i", testutil.Clip(t, clip)}, codecArgs...)
	args = append(args, "-f", "rtsp", "-rtsp_transport", transport, url)
	return testutil.StartFFmpeg(t, args...)
}

// TestRTSPPublishPlayback: ffmpeg publishes over RTSP (TCP, then UDP);
// HTTP-FLV and RTSP players that waited for the stream get every frame
// the publisher sent, and HLS segments hold whole GOPs.
//
// ffmpeg's RTP AAC packetizer packs several frames per packet and does
// not send its last, partial packet when it stops, so a publisher sends
// a few AAC frames less than the clip has (257 of 260 with ffmpeg 5.1);
// the players must all get the same number.
func TestRTSPPublishPlayback(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel() // each on its own server and ports; the clip plays in real time
			ts := startServer(t, func(c *config.Config) {
				c.HLS.SegDur = time.Second
				c.HLS.SegNum = 20
			})
			flv := probeAsync(t, ts.httpURL+"/live/c.live.flv")
			rtspTCP := probeRTSPAsync(t, ts.rtspURL("live/c"), "tcp")
			ts.waitWaiting(t, 2)
			pub := publishRTSP(t, "h264_aac.flv", ts.rtspURL("live/c"), transport)
			waitStream(t, ts, "live/c")

			// HLS: segments 1 and 2 each hold one 1 s GOP of the clip.
			var pl *hls.MediaPlaylist
			waitFor(t, 20*time.Second, "three HLS segments", func() bool {
				resp, body := httpGet(t, ts.httpURL+"/live/c/hls.m3u8", nil)
				if resp.StatusCode != http.StatusOK {
					return false
				}
				p, err := hls.ParsePlaylist(body)
				if err == nil && len(p.Segments) >= 3 {
					pl = p
				}
				return pl != nil
			})
			for _, seg := range pl.Segments[1:3] {
				p, err := testutil.FFprobe(context.Background(), t, ts.httpURL+"/live/c/"+seg.URI)
				if err != nil {
					t.Fatalf("hls segment %s: %v", seg.URI, err)
				}
				v, a := p.Video(), p.Audio()
				if v == nil || a == nil || v.CodecName != "h264" || v.NbReadFrames != 25 || a.CodecName != "aac" ||
					a.NbReadFrames < 40 || a.NbReadFrames > 46 {
					t.Errorf("hls segment %s: %+v, want 25 h264 frames and 40-46 aac frames (1 s)", seg.URI, p.Streams)
				}
			}

			if err := pub.Wait(30 * time.Second); err != nil {
				t.Fatalf("publisher: %v", err)
			}
			audio := map[string]int{}
			for name, ch := range map[string]<-chan probeResult{"http-flv": flv, "rtsp": rtspTCP} {
				res := <-ch
				if res.err != nil {
					t.Errorf("%s: ffprobe: %v", name, res.err)
					continue
				}
				v, a := res.probe.Video(), res.probe.Audio()
				if v == nil || a == nil {
					t.Errorf("%s: streams %+v, want video and audio", name, res.probe.Streams)
					continue
				}
				t.Logf("%s: %s %d frames, %s %d frames", name, v.CodecName, v.NbReadFrames, a.CodecName, a.NbReadFrames)
				if v.CodecName != "h264" || v.NbReadFrames != 150 {
					t.Errorf("%s: video %s %d frames, want h264 150", name, v.CodecName, v.NbReadFrames)
				}
				if a.CodecName != "aac" || a.NbReadFrames < 255 || a.NbReadFrames > 260 {
					t.Errorf("%s: audio %s %d frames, want aac 255-260", name, a.CodecName, a.NbReadFrames)
				}
				audio[name] = a.NbReadFrames
			}
			if audio["http-flv"] != audio["rtsp"] {
				t.Errorf("audio frames: HTTP-FLV %d, RTSP %d; want the same", audio["http-flv"], audio["rtsp"])
			}
		})
	}
}

// TestRTSPCodecs publishes H.265, Opus and G.711 over RTSP and plays
// them back over RTSP, TCP and UDP: codecs, video frame counts of the
// clip, and the same audio frames for both players.
func TestRTSPCodecs(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	cases := []struct {
		name, clip   string
		args         []string
		video, audio string
		videoFrames  int
		audioMin     int
		audioMax     int
	}{
		{"h265+aac", "h265_aac.mp4", []string{"-c", "copy"}, "hevc", "aac", 100, 165, 174},
		{"h264+opus", "h264_aac.flv", []string{"-c:v", "copy", "-c:a", "libopus", "-ar", "48000", "-b:a", "32k"}, "h264", "opus", 150, 280, 305},
		{"h264+pcma", "h264_aac.flv", []string{"-c:v", "copy", "-c:a", "pcm_alaw", "-ar", "8000", "-ac", "1"}, "h264", "pcm_alaw", 150, 240, 280},
		{"h264+pcmu", "h264_aac.flv", []string{"-c:v", "copy", "-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1"}, "h264", "pcm_mulaw", 150, 240, 280},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // each on its own server and ports; the clips play in real time
			ts := startServer(t, nil)
			url := ts.rtspURL("live/codec")
			tcp := probeRTSPAsync(t, url, "tcp")
			udp := probeRTSPAsync(t, url, "udp")
			ts.waitWaiting(t, 2)
			pub := publishRTSP(t, c.clip, url, "tcp", c.args...)
			if err := pub.Wait(30 * time.Second); err != nil {
				t.Fatalf("publisher: %v", err)
			}
			audio := map[string]int{}
			for name, ch := range map[string]<-chan probeResult{"tcp": tcp, "udp": udp} {
				res := <-ch
				if res.err != nil {
					t.Errorf("%s: ffprobe: %v", name, res.err)
					continue
				}
				v, a := res.probe.Video(), res.probe.Audio()
				if v == nil || a == nil {
					t.Errorf("%s: streams %+v, want video and audio", name, res.probe.Streams)
					continue
				}
				t.Logf("%s: %s %d frames, %s %d Hz %d frames", name, v.CodecName, v.NbReadFrames, a.CodecName, a.SampleRate, a.NbReadFrames)
				if v.CodecName != c.video || v.NbReadFrames != c.videoFrames {
					t.Errorf("%s: video %s %d frames, want %s %d", name, v.CodecName, v.NbReadFrames, c.video, c.videoFrames)
				}
				if a.CodecName != c.audio || a.NbReadFrames < c.audioMin || a.NbReadFrames > c.audioMax {
					t.Errorf("%s: audio %s %d frames, want %s %d-%d", name, a.CodecName, a.NbReadFrames, c.audio, c.audioMin, c.audioMax)
				}
				audio[name] = a.NbReadFrames
			}
			if audio["tcp"] != audio["udp"] {
				t.Errorf("audio frames: TCP %d, UDP %d; want the same", audio["tcp"], audio["udp"])
			}
		})
	}
}

// TestRTSPHooks: on_publish and on_play get RTSP sessions with schema and
// protocol rtsp; a refusal answers the client 401 and publishes nothing.
func TestRTSPHooks(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	h := newHookServer(t, func(name string, body map[string]any) map[string]any {
		if strings.Contains(fmt.Sprint(body["params"]), "deny") {
			return map[string]any{"code": -1, "msg": "denied by test"}
		}
		return nil
	})
	ts := startServer(t, func(c *config.Config) {
		c.Hook.Enable = true
		c.Hook.OnPublish = h.url("on_publish")
		c.Hook.OnPlay = h.url("on_play")
		c.Hook.Retry = 0
	})

	// A refused publisher.
	pub := publishRTSP(t, "h264_aac.flv", ts.rtspURL("live/h?token=deny"), "tcp")
	err := pub.Wait(20 * time.Second)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("refused RTSP publisher: %v, want a 401 failure", err)
	}
	body := h.wait(t, "on_publish", 5*time.Second)
	if infos, _ := ts.Engine.Streams(context.Background()); len(infos) != 0 {
		t.Fatalf("streams %v after a refused publish", infos)
	}

	// An accepted one.
	pub = testutil.StartFFmpeg(t, "-re", "-stream_loop", "-1", "-i", testutil.Clip(t, "h264_aac.flv"), "-c", "copy",
		"-f", "rtsp", "-rtsp_transport", "tcp", ts.rtspURL("live/h?token=ok"))
	body = h.wait(t, "on_publish", 10*time.Second)
	for k, want := range map[string]any{"schema": "rtsp", "protocol": "rtsp", "app": "live", "stream": "h",
		"params": "token=ok", "vhost": "__defaultVhost__", "ip": "127.0.0.1"} {
		if body[k] != want {
			t.Errorf("on_publish %s = %v, want %v", k, body[k], want)
		}
	}
	if id := fmt.Sprint(body["id"]); !strings.HasPrefix(id, "rtsp-") {
		t.Errorf("on_publish id %q, want rtsp-N", id)
	}
	waitStream(t, ts, "live/h")

	// A refused player gets 401, an accepted one plays.
	_, err = testutil.FFprobe(context.Background(), t, ts.rtspURL("live/h?token=deny"), "-rtsp_transport", "tcp")
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("refused RTSP player: %v, want a 401 failure", err)
	}
	body = h.wait(t, "on_play", 5*time.Second)
	if body["schema"] != "rtsp" || body["protocol"] != "rtsp" || body["params"] != "token=deny" {
		t.Errorf("on_play body %v", body)
	}
	p, err := testutil.FFprobe(context.Background(), t, ts.rtspURL("live/h?token=ok"), "-rtsp_transport", "tcp", "-read_intervals", "%+2")
	if err != nil {
		t.Fatalf("accepted RTSP player: %v", err)
	}
	if v := p.Video(); v == nil || v.CodecName != "h264" || v.NbReadFrames < 25 {
		t.Errorf("accepted RTSP player: %+v, want 2 s of h264", p.Streams)
	}
	body = h.wait(t, "on_play", 5*time.Second)
	if body["schema"] != "rtsp" || body["params"] != "token=ok" {
		t.Errorf("on_play body %v", body)
	}
	pub.Stop()
}

// TestRTSPDigest: with on_rtsp_realm naming a realm, players answer a
// Digest challenge with the password on_rtsp_auth gives (plain or
// MD5(user:realm:password)); on_play is not asked; a wrong password is
// refused.
func TestRTSPDigest(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	const realm, user, password = "mediakit_test", "admin", "s3cret"
	ha1 := fmt.Sprintf("%x", md5.Sum([]byte(user+":"+realm+":"+password)))
	h := newHookServer(t, func(name string, body map[string]any) map[string]any {
		switch name {
		case "on_rtsp_realm":
			if body["stream"] == "open" {
				return map[string]any{"code": 0, "realm": ""}
			}
			return map[string]any{"code": 0, "realm": realm}
		case "on_rtsp_auth":
			if body["user_name"] != user {
				return map[string]any{"code": -1, "msg": "no such user"}
			}
			if body["stream"] == "md5" {
				return map[string]any{"code": 0, "encrypted": true, "passwd": ha1}
			}
			return map[string]any{"code": 0, "encrypted": false, "passwd": password}
		}
		return nil
	})
	ts := startServer(t, func(c *config.Config) {
		c.Hook.Enable = true
		c.Hook.OnRTSPRealm = h.url("on_rtsp_realm")
		c.Hook.OnRTSPAuth = h.url("on_rtsp_auth")
		c.Hook.OnPlay = h.url("on_play")
		c.Hook.Retry = 0
	})
	for _, name := range []string{"plain", "md5", "open"} {
		testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/"+name, true)
		waitStream(t, ts, "live/"+name)
	}
	play := func(userinfo, stream string) error {
		url := "rtsp://" + userinfo + ts.RTSPAddr() + "/live/" + stream
		p, err := testutil.FFprobe(context.Background(), t, url, "-rtsp_transport", "tcp", "-read_intervals", "%+1")
		if err == nil && (p.Video() == nil || p.Video().NbReadFrames == 0) {
			return fmt.Errorf("no video frames: %+v", p.Streams)
		}
		return err
	}
	for _, stream := range []string{"plain", "md5"} {
		if err := play(user+":"+password+"@", stream); err != nil {
			t.Errorf("%s: right password: %v", stream, err)
		}
		if err := play(user+":wrong@", stream); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("%s: wrong password: %v, want 401", stream, err)
		}
		if err := play("", stream); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("%s: no credentials: %v, want 401", stream, err)
		}
	}
	auth := h.wait(t, "on_rtsp_auth", 5*time.Second)
	for k, want := range map[string]any{"schema": "rtsp", "user_name": user, "realm": realm, "must_no_encrypt": false, "stream": "plain"} {
		if auth[k] != want {
			t.Errorf("on_rtsp_auth %s = %v, want %v", k, auth[k], want)
		}
	}
	h.mu.Lock()
	plays := len(h.bodies["on_play"])
	h.mu.Unlock()
	if plays != 0 {
		t.Errorf("%d on_play calls for players of a realm; ZLMediaKit asks none", plays)
	}
	// Without a realm: no authentication, and on_play is asked.
	if err := play("", "open"); err != nil {
		t.Errorf("stream without realm: %v", err)
	}
	h.wait(t, "on_play", 5*time.Second)
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key to dir.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mediakit test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "rtsp.crt"), filepath.Join(dir, "rtsp.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestRTSPS: with a certificate, RTSPS serves play and publish over TLS;
// getServerConfig reports its port as rtsp.sslport.
func TestRTSPS(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	certFile, keyFile := selfSignedCert(t, t.TempDir())
	ts := startServer(t, func(c *config.Config) {
		c.RTSP.Cert, c.RTSP.Key = certFile, keyFile
	})
	if ts.RTSPSAddr() == "" {
		t.Fatal("RTSPS not listening")
	}
	url := "rtsps://" + ts.RTSPSAddr() + "/live/tls"
	probe := make(chan probeResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		p, err := testutil.FFprobe(ctx, t, url, "-tls_verify", "0")
		probe <- probeResult{p, err}
	}()
	ts.waitWaiting(t, 1)
	pub := testutil.StartFFmpeg(t, "-re", "-i", testutil.Clip(t, "h264_aac.flv"), "-c", "copy", "-f", "rtsp", "-tls_verify", "0", url)
	if err := pub.Wait(30 * time.Second); err != nil {
		t.Fatalf("RTSPS publisher: %v", err)
	}
	res := <-probe
	if res.err != nil {
		t.Fatalf("RTSPS player: %v", res.err)
	}
	if v := res.probe.Video(); v == nil || v.CodecName != "h264" || v.NbReadFrames != 150 {
		t.Errorf("RTSPS player: %+v, want 150 h264 frames", res.probe.Streams)
	}
	cfg := ts.ServerConfig()
	_, port, _ := net.SplitHostPort(ts.RTSPSAddr())
	if cfg["rtsp.sslport"] != port {
		t.Errorf("rtsp.sslport %q, want %s", cfg["rtsp.sslport"], port)
	}
	_, port, _ = net.SplitHostPort(ts.RTSPAddr())
	if cfg["rtsp.port"] != port {
		t.Errorf("rtsp.port %q, want %s", cfg["rtsp.port"], port)
	}
}

// rtspReader is an in-process RTSP player (gortsplib's client) counting
// the RTP packets it gets per media type.
type rtspReader struct {
	c      *gortsplib.Client
	video  atomic.Int64
	audio  atomic.Int64
	closed chan struct{}
	err    error
}

func startRTSPReader(t *testing.T, addr, path string, proto gortsplib.Protocol) *rtspReader {
	t.Helper()
	u, err := base.ParseURL("rtsp://" + addr + "/" + path)
	if err != nil {
		t.Fatal(err)
	}
	r := &rtspReader{c: &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto}, closed: make(chan struct{})}
	if err := r.c.Start(); err != nil {
		t.Fatal(err)
	}
	desc, _, err := r.c.Describe(u)
	if err != nil {
		r.c.Close()
		t.Fatalf("describe %s: %v", u, err)
	}
	if err := r.c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		r.c.Close()
		t.Fatalf("setup %s: %v", u, err)
	}
	r.c.OnPacketRTPAny(func(m *description.Media, _ format.Format, _ *rtp.Packet) {
		if m.Type == description.MediaTypeVideo {
			r.video.Add(1)
		} else {
			r.audio.Add(1)
		}
	})
	if _, err := r.c.Play(nil); err != nil {
		r.c.Close()
		t.Fatalf("play %s: %v", u, err)
	}
	go func() {
		r.err = r.c.Wait()
		close(r.closed)
	}()
	return r
}

func (r *rtspReader) close() {
	r.c.Close()
	<-r.closed
}

func (ts *testServer) rtspReaders(t *testing.T, name string) int {
	t.Helper()
	app, stream, _ := strings.Cut(name, "/")
	info, found, err := ts.Engine.Stream(context.Background(), engine.NewKey("", app, stream))
	if err != nil || !found {
		return -1
	}
	n := 0
	for _, r := range info.Readers {
		if r.Protocol == "rtsp" {
			n++
		}
	}
	return n
}

// TestRTSPSessions: RTSP players are engine readers of protocol rtsp,
// connections are listed by getAllSession, and kick_session ends one.
func TestRTSPSessions(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, nil)
	testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/s", true)
	waitStream(t, ts, "live/s")
	tcp := startRTSPReader(t, ts.RTSPAddr(), "live/s", gortsplib.ProtocolTCP)
	defer tcp.close()
	udp := startRTSPReader(t, ts.RTSPAddr(), "live/s", gortsplib.ProtocolUDP)
	defer udp.close()
	waitFor(t, 10*time.Second, "both readers receiving", func() bool {
		return tcp.video.Load() > 10 && tcp.audio.Load() > 10 && udp.video.Load() > 10 && udp.audio.Load() > 10
	})
	if n := ts.rtspReaders(t, "live/s"); n != 2 {
		t.Fatalf("%d rtsp readers, want 2", n)
	}
	if ts.rtspServing() {
		reply := ts.apiCall(t, "getMediaPlayerList", url.Values{"schema": {"rtsp"}, "vhost": {"__defaultVhost__"}, "app": {"live"}, "stream": {"s"}})
		if data, _ := reply["data"].([]any); len(data) != 2 {
			t.Errorf("getMediaPlayerList schema rtsp: %v, want 2 players", reply)
		}
	}
	var ids []string
	all, _ := ts.apiCall(t, "getAllSession", nil)["data"].([]any)
	for _, s := range all {
		m := s.(map[string]any)
		if id, _ := m["id"].(string); strings.HasPrefix(id, "rtsp-") {
			ids = append(ids, id)
			if m["typeid"] != "mediakit::RtspSession" {
				t.Errorf("session %s typeid %v", id, m["typeid"])
			}
		}
	}
	if len(ids) != 2 {
		t.Fatalf("getAllSession lists rtsp sessions %v, want 2", ids)
	}
	// Kick both: each connection and its session end, UDP included.
	for _, id := range ids {
		if r := ts.apiCall(t, "kick_session", url.Values{"id": {id}}); code(r) != 0 {
			t.Fatalf("kick_session %s: %v", id, r)
		}
	}
	for name, r := range map[string]*rtspReader{"tcp": tcp, "udp": udp} {
		select {
		case <-r.closed:
		case <-time.After(15 * time.Second):
			t.Fatalf("%s reader still playing after kick_session", name)
		}
	}
	waitFor(t, 10*time.Second, "kicked readers to leave the engine", func() bool { return ts.rtspReaders(t, "live/s") == 0 })
	waitFor(t, 10*time.Second, "kicked sessions to leave the registry", func() bool {
		return !slices.ContainsFunc(ts.Sessions.List(), func(in session.Info) bool { return in.Protocol == "rtsp" })
	})
}

// TestRTSPSlowReader: a TCP player that stops reading is cut after the
// write timeout; a player that reads goes on.
func TestRTSPSlowReader(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, func(c *config.Config) { c.General.WriteTimeout = time.Second })
	// The clip 40 times as fast as ffmpeg can send it: socket buffers of
	// a player that does not read fill in a moment.
	pub := testutil.StartFFmpeg(t, "-stream_loop", "40", "-i", testutil.Clip(t, "h264_aac.flv"), "-c", "copy", "-f", "flv", ts.rtmpURL+"/live/slow")
	waitStream(t, ts, "live/slow")
	good := startRTSPReader(t, ts.RTSPAddr(), "live/slow", gortsplib.ProtocolTCP)
	defer good.close()

	conn, err := net.Dial("tcp", ts.RTSPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	br := bufio.NewReader(conn)
	streamURL := "rtsp://" + ts.RTSPAddr() + "/live/slow"
	session := ""
	for i, req := range []string{
		"DESCRIBE " + streamURL + " RTSP/1.0\r\nCSeq: 1\r\n",
		"SETUP " + streamURL + "/trackID=0 RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n",
		"SETUP " + streamURL + "/trackID=1 RTSP/1.0\r\nCSeq: 3\r\nTransport: RTP/AVP/TCP;unicast;interleaved=2-3\r\nSession: %s\r\n",
		"PLAY " + streamURL + " RTSP/1.0\r\nCSeq: 4\r\nSession: %s\r\n",
	} {
		if strings.Contains(req, "%s") {
			req = fmt.Sprintf(req, session)
		}
		if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
			t.Fatal(err)
		}
		var res base.Response
		if err := res.Unmarshal(br); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if res.StatusCode != base.StatusOK {
			t.Fatalf("request %d: %d %s", i, res.StatusCode, res.StatusMessage)
		}
		if v := res.Header["Session"]; len(v) == 1 {
			session, _, _ = strings.Cut(v[0], ";")
		}
	}
	// Now the player reads nothing more: the write timeout cuts it.
	waitFor(t, 20*time.Second, "the stuck player to be cut", func() bool {
		return strings.Contains(ts.logs.String(), "i/o timeout") && ts.rtspReaders(t, "live/slow") <= 1
	})
	// The player that reads gets the stream to its end.
	select {
	case <-good.closed:
	case <-time.After(30 * time.Second):
		t.Fatal("the reading player did not get to the end of the stream")
	}
	if err := pub.Wait(10 * time.Second); err != nil {
		t.Fatalf("publisher: %v", err)
	}
	if n := good.video.Load(); n < 10*150 {
		t.Errorf("the reading player got %d video packets of 41 clips of 150 frames", n)
	}
	// Its server side logs the end once the session closes, after the
	// RTCP BYE and the player's teardown.
	waitFor(t, 20*time.Second, "the reading player's end logged", func() bool {
		return strings.Count(ts.logs.String(), `reason="stream ended"`) >= 1
	})
	if n := strings.Count(ts.logs.String(), `reason="stream ended"`); n != 1 {
		t.Errorf("%d players saw the end of the stream, want 1 (the one that read)", n)
	}
}

// TestRTSPChurn: 20 players (TCP and UDP) connect, play and leave;
// goroutines come back to where they were, and to the baseline after
// Shutdown.
//
// Not parallel: the baseline is the whole process's.
func TestRTSPChurn(t *testing.T) {
	testutil.RequireFFmpeg(t)
	baseGoroutines, baseFDs := runtime.NumGoroutine(), openFDs()
	func() {
		ts := startServer(t, nil)
		pub := testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/churn", true)
		waitStream(t, ts, "live/churn")
		// Warm up one player, so that the server's lazily made goroutines
		// (the UDP listeners' readers, the hook client) exist.
		r := startRTSPReader(t, ts.RTSPAddr(), "live/churn", gortsplib.ProtocolUDP)
		waitFor(t, 10*time.Second, "warm-up player", func() bool { return r.video.Load() > 0 })
		r.close()
		waitFor(t, 10*time.Second, "warm-up player to leave", func() bool { return ts.rtspReaders(t, "live/churn") == 0 })
		mid, midFDs := runtime.NumGoroutine(), openFDs()

		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				proto := gortsplib.ProtocolTCP
				if i%2 == 1 {
					proto = gortsplib.ProtocolUDP
				}
				r := startRTSPReader(t, ts.RTSPAddr(), "live/churn", proto)
				defer r.close()
				deadline := time.Now().Add(10 * time.Second)
				for r.video.Load() < 25 && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				if r.video.Load() < 25 {
					t.Errorf("player %d (%v): %d video packets", i, proto, r.video.Load())
				}
			}()
		}
		wg.Wait()
		waitFor(t, 10*time.Second, "players to leave the engine", func() bool { return ts.rtspReaders(t, "live/churn") == 0 })
		waitBaseline(t, mid, midFDs)
		// A connection's count drops as its last goroutine ends, which
		// the goroutine baseline's slack can precede.
		if !testutil.Poll(10*time.Second, func() bool { return ts.rtsp.Sessions() == 0 }) {
			t.Errorf("%d RTSP connections open after the players left", ts.rtsp.Sessions())
		}

		// Shutdown with RTSP players and an RTSP publisher connected:
		// every session ends.
		rtspPub := publishRTSP(t, "h264_aac.flv", ts.rtspURL("live/churn2"), "udp")
		waitStream(t, ts, "live/churn2")
		players := []*rtspReader{
			startRTSPReader(t, ts.RTSPAddr(), "live/churn", gortsplib.ProtocolTCP),
			startRTSPReader(t, ts.RTSPAddr(), "live/churn2", gortsplib.ProtocolUDP),
		}
		waitFor(t, 10*time.Second, "players at shutdown", func() bool {
			return players[0].video.Load() > 0 && players[1].video.Load() > 0
		})
		ts.stop(t)
		for i, r := range players {
			select {
			case <-r.closed:
			case <-time.After(10 * time.Second):
				t.Fatalf("player %d still playing after Shutdown", i)
			}
			r.close()
		}
		// The publisher's connection is closed: ffmpeg gives up.
		waitFor(t, 15*time.Second, "the RTSP publisher to end", rtspPub.Exited)
		pub.Stop()
	}()
	waitBaseline(t, baseGoroutines, baseFDs)
}
