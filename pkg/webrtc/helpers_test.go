package webrtc

import (
	"context"
	"testing"
	"time"

	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// publishLoop publishes a clip's frames as key in a loop of span (the
// clip's length), in real time or one frame every 5 ms, until the test
// ends.
func publishLoop(t *testing.T, e *engine.Engine, key engine.Key, tracks []*media.Track, frames []*media.Frame,
	span time.Duration, realtime bool,
) {
	t.Helper()
	pub, err := e.Publish(context.Background(), key, engine.SessionInfo{ID: "pub", Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.SetTracks(tracks); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		for i := 0; ; i++ {
			src := frames[i%len(frames)]
			loop := time.Duration(i/len(frames)) * span
			wait := 5 * time.Millisecond
			if realtime {
				wait = time.Until(start.Add(src.DTS + loop))
			}
			select {
			case <-stop:
				return
			case <-time.After(wait):
			}
			f := &media.Frame{Track: src.Track, DTS: src.DTS + loop, PTS: src.PTS + loop, Key: src.Key, Payload: src.Payload}
			if pub.WriteFrame(f) != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done; pub.Close() })
}

// playOn makes pc a viewer of key on srv: its offer (candidates
// gathered) through Play, the answer applied. It returns the session id.
func playOn(t *testing.T, srv *Server, key engine.Key, pc *pwebrtc.PeerConnection) string {
	t.Helper()
	gathered := pwebrtc.GatheringCompletePromise(pc)
	offer, _ := pc.CreateOffer(nil)
	_ = pc.SetLocalDescription(offer)
	<-gathered
	answer, id, err := srv.Play(context.Background(), key, engine.SessionInfo{ID: "v", Protocol: "webrtc"}, pc.LocalDescription().SDP)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	return id
}
