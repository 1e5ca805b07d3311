package rtsp

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/pion/rtcp"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/engine"
)

// publisherOf is the publisher of the server's RTSP session publishing,
// or nil.
func publisherOf(s *Server) *publisher {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.mu.Lock()
		for sess := range c.sessions {
			sess.mu.Lock()
			p := sess.pub
			sess.mu.Unlock()
			if p != nil {
				c.mu.Unlock()
				return p
			}
		}
		c.mu.Unlock()
	}
	return nil
}

// TestAskKeyframeWhileClosing: a viewer's keyframe request reaches an
// RTSP publisher as a PLI naming the SSRC of its video, and keyframe
// requests running while the session closes (from either end) are not a
// data race (run with -race): askKeyframe reads no gortsplib state that
// its close clears.
func TestAskKeyframeWhileClosing(t *testing.T) {
	for _, tc := range []struct {
		name     string
		proto    gortsplib.Protocol
		byServer bool // the server ends the session (close_stream), else the publisher
	}{
		{"tcp/publisher closes", gortsplib.ProtocolTCP, false},
		{"tcp/server closes", gortsplib.ProtocolTCP, true},
		{"udp/publisher closes", gortsplib.ProtocolUDP, false},
		{"udp/server closes", gortsplib.ProtocolUDP, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srvNoLeaks(t)
			env := newSrvEnv(t, nil)
			tracks, frames := clipframes.Read(t, "h264_only.flv")
			desc, medias, _, err := describeTracks(tracks)
			if err != nil {
				t.Fatal(err)
			}
			var plis sync.Map // MediaSSRC of every PLI the publisher got
			// StartRecording's steps, with the RTCP callback set before
			// RECORD starts the client's readers.
			u, err := base.ParseURL("rtsp://" + env.s.Addr() + "/live/kf")
			if err != nil {
				t.Fatal(err)
			}
			pubc := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tc.proto}
			if err := pubc.Start(); err != nil {
				t.Fatal(err)
			}
			defer pubc.Close()
			if _, err := pubc.Announce(u, desc); err != nil {
				t.Fatal(err)
			}
			if err := pubc.SetupAll(u, desc.Medias); err != nil {
				t.Fatal(err)
			}
			pubc.OnPacketRTCPAny(func(_ *description.Media, pkt rtcp.Packet) {
				if pli, ok := pkt.(*rtcp.PictureLossIndication); ok {
					plis.Store(pli.MediaSSRC, true)
				}
			})
			if _, err := pubc.Record(); err != nil {
				t.Fatal(err)
			}
			var p *publisher
			testutil.Eventually(t, 10*time.Second, "the RTSP publisher", func() bool { p = publisherOf(env.s); return p != nil })
			seq := uint16(0)
			var ssrc uint32 // gortsplib's client stamps its own SSRC
			for _, f := range frames[:10] {
				for _, pkt := range pktRTP(f, medias[0], &seq, uint32(ticks(f.PTS, 90000))) {
					if err := pubc.WritePacketRTP(desc.Medias[0], pkt); err != nil {
						t.Fatal(err)
					}
					ssrc = pkt.SSRC
				}
			}
			if ssrc == 0 {
				t.Fatal("the publisher's packets have SSRC 0: a PLI naming 0 would pass the check")
			}
			key := engine.NewKey("", "live", "kf")
			r, err := env.e.Play(context.Background(), key, engine.SessionInfo{ID: "viewer", Protocol: "test"})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			testutil.Eventually(t, 10*time.Second, "the video packets at the server", func() bool { return p.videoSSRC.Load() == ssrc })
			testutil.Eventually(t, 10*time.Second, "the viewer's keyframe request passed on", r.RequestKeyframe)
			testutil.Eventually(t, 10*time.Second, "a PLI at the publisher", func() bool {
				n := 0
				plis.Range(func(k, _ any) bool { n++; return true })
				return n > 0
			})
			plis.Range(func(k, _ any) bool {
				if k.(uint32) != ssrc {
					t.Errorf("PLI for SSRC %#x, want the video's %#x", k, ssrc)
				}
				return true
			})

			// Keyframe requests from several goroutines, as viewers'
			// PLIs make them, while the session closes.
			video, _ := videoMedia(p.sess.ss.Medias(), p.ingest)
			var asked atomic.Int64
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for range 4 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						p.askKeyframe(p.sess.ss, video)
						asked.Add(1)
					}
				})
			}
			testutil.Eventually(t, 10*time.Second, "keyframe requests under way", func() bool { return asked.Load() > 100 })
			if tc.byServer {
				if _, err := env.e.CloseStream(context.Background(), key, "test"); err != nil {
					t.Fatal(err)
				}
			} else {
				pubc.Close()
			}
			select {
			case <-p.sess.done:
			case <-time.After(10 * time.Second):
				t.Fatal("timed out after 10s waiting for the session to close")
			}
			n := asked.Load()
			testutil.Eventually(t, 10*time.Second, "keyframe requests after the close", func() bool { return asked.Load() > n+100 })
			close(stop)
			wg.Wait()
		})
	}
}
