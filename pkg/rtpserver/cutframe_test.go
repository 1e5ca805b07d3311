package rtpserver

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/ps"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/rtp"
)

// TestCloseInsideAFrame: an RTP server closed while a camera's frame is
// on its way (its last packet, with the marker bit, not yet in) passes
// every complete frame on and drops the cut one, which a recording would
// keep as a broken picture. Found by cmd/mediakit's TestSoak: an MP4 of
// an RTP stream whose server was closed through the API right after its
// camera stopped failed to decode ("corrupted macroblock"). A camera that
// never sets the marker bit still has its last frame flushed.
func TestCloseInsideAFrame(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cut       bool // the last packet of frame 50 is not sent
		noMarkers bool // the sender never sets the marker bit
		want      int  // video frames the player gets
	}{
		{"whole frames", false, false, 51},
		{"the last frame cut", true, false, 50},
		{"no marker bits", false, true, 51},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := mediaFixture(t)
			port, err := f.reg.Open(context.Background(), Options{StreamID: "cut"})
			if err != nil {
				t.Fatal(err)
			}
			got := play(t, f, "cut")
			waitFor(t, 5*time.Second, "player waiting", func() bool { return f.eng.Stats().WaitingReaders.Load() == 1 })
			conn, err := net.Dial("udp", "127.0.0.1:"+itoa(port))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			mux := ps.NewMuxer([]ps.Stream{{ID: 0xE0, Type: ps.StreamH264}})
			pz := rtp.Packetizer{SSRC: 7, PayloadType: 96, Sequence: 1}
			sent := 0
			for i, fr := range clipFrames(t, "h264.h264", false, 25)[:51] {
				pkts, err := pz.Packetize(nil, mux.AppendFrame(nil, ps.Frame{StreamID: 0xE0, Type: ps.StreamH264, PTS: fr.PTS, DTS: fr.PTS,
					Data: fr.Data, Key: fr.Key}, fr.Key), uint32(fr.PTS))
				if err != nil {
					t.Fatal(err)
				}
				if i == 50 && tc.cut {
					if len(pkts) < 2 {
						t.Fatalf("keyframe 50 fits in %d packet", len(pkts))
					}
					pkts = pkts[:len(pkts)-1]
				}
				for _, p := range pkts {
					p.Marker = p.Marker && !tc.noMarkers
					b, err := p.Marshal()
					if err != nil {
						t.Fatal(err)
					}
					if _, err := conn.Write(b); err != nil {
						t.Fatal(err)
					}
					sent++
				}
				if i%10 == 9 {
					time.Sleep(10 * time.Millisecond) // pacing: a burst of 51 frames would overflow the socket
				}
			}
			key := engine.NewKey("", "rtp", "cut")
			waitFor(t, 10*time.Second, "every packet received", func() bool {
				st, ok := f.reg.Stream(key)
				return ok && int(st.Stats.Packets) == sent
			})
			f.reg.Close(key)
			var all []*media.Frame
			select {
			case all = <-got:
			case <-time.After(30 * time.Second):
				t.Fatal("player did not end")
			}
			video, _, keys, _ := count(all)
			if video != tc.want || keys != (tc.want+24)/25 {
				t.Errorf("%d video frames (%d keyframes), want %d (%d)", video, keys, tc.want, (tc.want+24)/25)
			}
		})
	}
}
