package webrtc

import (
	"context"
	"strings"
	"testing"
	"time"

	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/engine"
)

// TestPlayVP9AndAV1: streams published as VP9 or AV1 with Opus play to a
// viewer that offers those codecs (as browsers do), passed through as
// published: the viewer gets a VP9 or AV1 track and an Opus track.
func TestPlayVP9AndAV1(t *testing.T) {
	for _, tc := range []struct{ clip, mime string }{
		{"vp9_opus.mp4", pwebrtc.MimeTypeVP9},
		{"av1_opus.mp4", pwebrtc.MimeTypeAV1},
	} {
		t.Run(tc.clip, func(t *testing.T) {
			e := engine.New(engine.DefaultConfig(), nil)
			defer e.Close()
			key := engine.NewKey("", "live", "vpx")
			tracks, frames := clipframes.ReadMP4(t, tc.clip)
			publishLoop(t, e, key, tracks, frames, 2*time.Second, true)
			srv, err := Listen(e, Options{Addr: "127.0.0.1:0"})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()

			var se pwebrtc.SettingEngine
			se.SetIncludeLoopbackCandidate(true)
			pc, err := pwebrtc.NewAPI(pwebrtc.WithSettingEngine(se)).NewPeerConnection(pwebrtc.Configuration{})
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			for _, kind := range []pwebrtc.RTPCodecType{pwebrtc.RTPCodecTypeVideo, pwebrtc.RTPCodecTypeAudio} {
				if _, err := pc.AddTransceiverFromKind(kind, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionRecvonly}); err != nil {
					t.Fatal(err)
				}
			}
			got := make(chan string, 100)
			pc.OnTrack(func(tr *pwebrtc.TrackRemote, _ *pwebrtc.RTPReceiver) {
				for n := 0; ; n++ {
					if _, _, err := tr.ReadRTP(); err != nil {
						return
					}
					if n == 20 { // a track that flows
						got <- tr.Codec().MimeType
					}
				}
			})
			gathered := pwebrtc.GatheringCompletePromise(pc)
			offer, _ := pc.CreateOffer(nil)
			_ = pc.SetLocalDescription(offer)
			<-gathered
			answer, _, err := srv.Play(context.Background(), key, engine.SessionInfo{ID: "v", Protocol: "webrtc"}, pc.LocalDescription().SDP)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(answer, strings.TrimPrefix(tc.mime, "video/")) {
				t.Fatalf("answer without %s:\n%s", tc.mime, answer)
			}
			if err := pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: answer}); err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			deadline := time.After(20 * time.Second)
			for len(seen) < 2 {
				select {
				case m := <-got:
					seen[m] = true
				case <-deadline:
					t.Fatalf("tracks flowing: %v, want %s and Opus", seen, tc.mime)
				}
			}
			if !seen[tc.mime] || !seen[pwebrtc.MimeTypeOpus] {
				t.Fatalf("tracks %v, want %s and Opus", seen, tc.mime)
			}
		})
	}
}
