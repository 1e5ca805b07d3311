package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"
	pwebrtc "github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/engine"
)

// TestWHEPPlay: a browser-like WHEP client (pion) plays an RTMP-published
// stream: the answer comes with a session Location, video frames arrive
// decodable from a keyframe (the AAC audio is not offered), DELETE ends
// the session and releases the reader.
func TestWHEPPlay(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, func(c *config.Config) { c.WebRTC.Addr = "127.0.0.1:0" })
	if ts.WebRTCAddr() == "" {
		t.Fatal("WebRTC not listening")
	}
	key := publishAndWait(t, ts, "rtc")

	pc, frames, kinds, offer := newViewer(t)
	// Not an SDP body; an offer that takes audio only, of a stream whose
	// audio (AAC) WebRTC cannot carry.
	if resp, err := http.Post(ts.httpURL+"/live/rtc/whep", "text/plain", strings.NewReader(offer)); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain offer: %v %v", resp, err)
	}
	if resp, err := http.Post(ts.httpURL+"/live/rtc/whep", "application/sdp", strings.NewReader(audioOnlyOffer(t))); err != nil || resp.StatusCode != http.StatusNotAcceptable {
		t.Errorf("audio-only offer: %v %v", resp, err)
	}
	resp, err := http.Post(ts.httpURL+"/live/rtc/whep", "application/sdp", strings.NewReader(offer))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	location := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Content-Type") != "application/sdp" || !strings.HasPrefix(location, "/webrtc/session/") {
		t.Fatalf("WHEP POST: %d %q %q\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), location, answer)
	}
	if !bytes.Contains(answer, []byte("packetization-mode=1")) || !bytes.Contains(answer, []byte("typ host")) {
		t.Errorf("answer without H.264 mode 1 or host candidates:\n%s", answer)
	}
	if err := pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		t.Fatal(err)
	}
	// 25 frames a second: a second and a half's worth, the first an IDR.
	waitFrames(t, frames, 40)
	select {
	case k := <-kinds:
		if k != pwebrtc.MimeTypeH264 {
			t.Errorf("track %s", k)
		}
	default:
	}
	if len(kinds) != 0 {
		t.Errorf("more than the video track was sent (AAC has no WebRTC codec)")
	}

	if n := ts.metric(t, "mediakit_webrtc_sessions"); n != 1 {
		t.Errorf("mediakit_webrtc_sessions %v while one viewer plays", n)
	}
	req, _ := http.NewRequest(http.MethodPatch, ts.httpURL+location, strings.NewReader("a=candidate:x"))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("PATCH: %v %v", resp, err)
	}
	req, _ = http.NewRequest(http.MethodDelete, ts.httpURL+location, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %v %v", resp, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, _, _ := ts.Engine.Stream(context.Background(), key)
		if ts.rtc.Sessions() == 0 && len(info.Readers) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after DELETE: %d sessions, %d readers", ts.rtc.Sessions(), len(info.Readers))
		}
		time.Sleep(20 * time.Millisecond)
	}
	req, _ = http.NewRequest(http.MethodDelete, ts.httpURL+location, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("second DELETE: %v %v", resp, err)
	}
}

// publishAndWait publishes the test clip in a loop as live/NAME and waits
// until it is ready.
func publishAndWait(t *testing.T, ts *testServer, name string) engine.Key {
	t.Helper()
	testutil.PublishClip(t, clipName, ts.rtmpURL+"/live/"+name, true)
	key := engine.NewKey("", "live", name)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if info, ok, err := ts.Engine.Stream(context.Background(), key); err == nil && ok && info.Ready {
			return key
		}
		if time.Now().After(deadline) {
			t.Fatal("stream not published")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newViewer is a browser-like peer connection receiving video and audio,
// with its offer (candidates gathered): frames gets each video access
// unit (Annex-B), kinds the MIME type of each track that arrives.
func newViewer(t *testing.T) (pc *pwebrtc.PeerConnection, frames chan []byte, kinds chan string, offer string) {
	t.Helper()
	pc = newTestPeer(t)
	for _, kind := range []pwebrtc.RTPCodecType{pwebrtc.RTPCodecTypeVideo, pwebrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	frames = make(chan []byte, 256)
	kinds = make(chan string, 4)
	pc.OnTrack(func(tr *pwebrtc.TrackRemote, _ *pwebrtc.RTPReceiver) {
		kinds <- tr.Codec().MimeType
		if tr.Kind() != pwebrtc.RTPCodecTypeVideo {
			return
		}
		sb := samplebuilder.New(128, &codecs.H264Packet{}, 90000)
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			sb.Push(p)
			for s := sb.Pop(); s != nil; s = sb.Pop() {
				select {
				case frames <- s.Data:
				default:
				}
			}
		}
	})
	return pc, frames, kinds, offerOf(t, pc)
}

// newTestPeer is a browser-like peer connection on loopback, closed with
// the test.
func newTestPeer(t *testing.T) *pwebrtc.PeerConnection {
	t.Helper()
	var se pwebrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	pc, err := pwebrtc.NewAPI(pwebrtc.WithSettingEngine(se)).NewPeerConnection(pwebrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// offerOf is pc's offer with its candidates gathered.
func offerOf(t *testing.T, pc *pwebrtc.PeerConnection) string {
	t.Helper()
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := pwebrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return pc.LocalDescription().SDP
}

// audioOnlyOffer is an offer that receives audio only.
func audioOnlyOffer(t *testing.T) string {
	t.Helper()
	pc, err := pwebrtc.NewPeerConnection(pwebrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(pwebrtc.RTPCodecTypeAudio, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return o.SDP
}

// waitFrames waits for n video frames, the first an IDR.
func waitFrames(t *testing.T, frames chan []byte, n int) {
	t.Helper()
	var got [][]byte
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < n {
		select {
		case f := <-frames:
			got = append(got, f)
		case <-time.After(time.Until(deadline)):
			t.Fatalf("%d video frames over WebRTC within 20 s, want %d", len(got), n)
		}
	}
	if !hasNALType(got[0], 5) {
		t.Error("the first frame over WebRTC is not an IDR")
	}
}

// TestZLMWebRTCAPI: ZLMediaKit's /index/api/webrtc signalling, as
// WVP-GB28181-pro's player uses it: the offer in the body, the answer in
// JSON; the viewer plays; type=push of a published stream is refused.
func TestZLMWebRTCAPI(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, func(c *config.Config) {
		c.WebRTC.Addr = "127.0.0.1:0"
		c.API.Secret = "not-asked-by-this-endpoint"
	})
	publishAndWait(t, ts, "zlm")
	pc, frames, _, offer := newViewer(t)
	post := func(query, offer string) map[string]any {
		t.Helper()
		resp, err := http.Post(ts.httpURL+"/index/api/webrtc?"+query, "text/plain;charset=utf-8", strings.NewReader(offer))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	// A publisher's offer for a stream someone publishes; a viewer's
	// offer sent as a push sends nothing and is refused as an offer.
	_, pushOffer, _ := whipPublisher(t, context.Background())
	if r := post("app=live&stream=zlm&type=push", pushOffer); r["code"] != -1.0 {
		t.Errorf("type=push of a published stream: %v", r)
	}
	if r := post("app=live&stream=zlm2&type=push", offer); r["code"] != -400.0 {
		t.Errorf("type=push with a receive-only offer: %v", r)
	}
	r := post("app=live&stream=zlm&type=play", offer)
	sdp, _ := r["sdp"].(string)
	if r["code"] != 0.0 || r["type"] != "answer" || r["id"] == "" || !strings.Contains(sdp, "H264") {
		t.Fatalf("webrtc play: %v", r)
	}
	if err := pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		t.Fatal(err)
	}
	waitFrames(t, frames, 25)

	// The viewer is a session of getAllSession, and kick_session ends it.
	var id string
	secret := url.Values{"secret": {"not-asked-by-this-endpoint"}}
	all, _ := ts.apiCall(t, "getAllSession", secret)["data"].([]any)
	for _, item := range all {
		if m := item.(map[string]any); m["typeid"] == "mediakit::WebRtcSession" {
			id, _ = m["id"].(string)
		}
	}
	if id == "" {
		t.Fatal("no WebRTC session in getAllSession")
	}
	secret.Set("id", id)
	if r := ts.apiCall(t, "kick_session", secret); code(r) != 0 {
		t.Fatalf("kick_session: %v", r)
	}
	deadline := time.Now().Add(10 * time.Second)
	for ts.rtc.Sessions() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the kicked WebRTC session stays")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hasNALType reports whether an Annex-B access unit holds a NAL unit of
// type typ.
func hasNALType(au []byte, typ byte) bool {
	for i := 0; i+3 < len(au); i++ {
		if au[i] == 0 && au[i+1] == 0 && au[i+2] == 1 && au[i+3]&0x1f == typ {
			return true
		}
	}
	return false
}

// TestWHEPBFramesReported: a stream with B-frames plays over WHEP, and
// the server says once that browsers may stutter on it; getMediaList
// counts them (b_frames).
func TestWHEPBFramesReported(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, func(c *config.Config) { c.WebRTC.Addr = "127.0.0.1:0" })
	testutil.PublishClip(t, "h264_bframes_aac.flv", ts.rtmpURL+"/live/bframes", true)
	waitFor(t, 20*time.Second, "the B-frame stream", func() bool {
		info, ok := streamInfo(t, ts, "live", "bframes")
		return ok && info.Ready
	})
	for range 2 { // two viewers, one warning
		pc, frames, _, offer := newViewer(t)
		resp, err := http.Post(ts.httpURL+"/live/bframes/whep", "application/sdp", strings.NewReader(offer))
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
			t.Fatal(err)
		}
		waitFrames(t, frames, 10)
	}
	if n := strings.Count(ts.logs.String(), "B-frames"); n != 1 {
		t.Errorf("%d B-frame warnings for two viewers of one stream, want 1", n)
	}
	data, _ := ts.apiCall(t, "getMediaList", url.Values{"stream": {"bframes"}, "schema": {"rtmp"}})["data"].([]any)
	if len(data) != 1 {
		t.Fatalf("getMediaList: %v", data)
	}
	video := data[0].(map[string]any)["tracks"].([]any)[0].(map[string]any)
	if b, _ := video["b_frames"].(float64); b <= 0 {
		t.Errorf("b_frames of a B-frame stream: %v", video["b_frames"])
	}
}
