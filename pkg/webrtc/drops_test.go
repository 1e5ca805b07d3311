package webrtc

import (
	"context"
	"errors"
	"testing"

	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// TestDropsTracksNotSent: a track viewers are not sent (AAC here) is
// reported through DropTrack as output "webrtc", once per stream however
// many viewers, also when it leaves a viewer nothing to play.
func TestDropsTracksNotSent(t *testing.T) {
	for _, tc := range []struct {
		clip    string
		playErr error
	}{
		{"h264_aac.flv", nil},
		{"aac_only.flv", ErrNoTrack},
	} {
		t.Run(tc.clip, func(t *testing.T) {
			e := engine.New(engine.DefaultConfig(), nil)
			defer e.Close()
			key := engine.NewKey("", "live", "drops")
			tracks, _ := clipframes.Read(t, tc.clip)
			pub, err := e.Publish(context.Background(), key, engine.SessionInfo{ID: "pub", Protocol: "test"})
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			if err := pub.SetTracks(tracks); err != nil {
				t.Fatal(err)
			}
			srv, err := Listen(e, Options{Addr: "127.0.0.1:0"})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			for range 2 {
				pc, _ := viewer(t)
				gathered := pwebrtc.GatheringCompletePromise(pc)
				offer, _ := pc.CreateOffer(nil)
				_ = pc.SetLocalDescription(offer)
				<-gathered
				_, id, err := srv.Play(context.Background(), key, engine.SessionInfo{ID: "v", Protocol: "webrtc"}, pc.LocalDescription().SDP)
				if !errors.Is(err, tc.playErr) {
					t.Fatalf("Play: %v, want %v", err, tc.playErr)
				}
				if err == nil {
					srv.End(id)
				}
				pc.Close()
			}
			var drops []string
			e.Stats().TrackDrops.Each(func(o string, c media.Codec, n int64) {
				drops = append(drops, o+" "+c.String())
				if o != OutputName || c != media.CodecAAC || n != 1 {
					t.Errorf("drop %s %s counted %d times", o, c, n)
				}
			})
			if len(drops) != 1 {
				t.Errorf("drops %v, want the AAC track's by webrtc once", drops)
			}
		})
	}
}
