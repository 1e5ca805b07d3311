package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
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
	testutil.RequireFFmpeg(t)
	ts := startServer(t, func(c *config.Config) { c.WebRTC.Addr = "127.0.0.1:0" })
	if ts.WebRTCAddr() == "" {
		t.Fatal("WebRTC not listening")
	}
	testutil.PublishClip(t, clipName, ts.rtmpURL+"/live/rtc", true)
	key := engine.NewKey("", "live", "rtc")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if info, ok, err := ts.Engine.Stream(context.Background(), key); err == nil && ok && info.Ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("stream not published")
		}
		time.Sleep(50 * time.Millisecond)
	}

	var cse pwebrtc.SettingEngine
	cse.SetIncludeLoopbackCandidate(true)
	pc, err := pwebrtc.NewAPI(pwebrtc.WithSettingEngine(cse)).NewPeerConnection(pwebrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, kind := range []pwebrtc.RTPCodecType{pwebrtc.RTPCodecTypeVideo, pwebrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	frames := make(chan []byte, 256)
	kinds := make(chan string, 4)
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
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := pwebrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	resp, err := http.Post(ts.httpURL+"/live/rtc/whep", "application/sdp", strings.NewReader(pc.LocalDescription().SDP))
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
	var got [][]byte
	deadline = time.Now().Add(20 * time.Second)
	for len(got) < 40 {
		select {
		case f := <-frames:
			got = append(got, f)
		case <-time.After(time.Until(deadline)):
			t.Fatalf("%d video frames over WebRTC within 20 s", len(got))
		}
	}
	if !hasNALType(got[0], 5) {
		t.Error("the first frame over WebRTC is not an IDR")
	}
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

	req, _ := http.NewRequest(http.MethodPatch, ts.httpURL+location, strings.NewReader("a=candidate:x"))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("PATCH: %v %v", resp, err)
	}
	req, _ = http.NewRequest(http.MethodDelete, ts.httpURL+location, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %v %v", resp, err)
	}
	deadline = time.Now().Add(10 * time.Second)
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
