package webrtc

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/engine"
)

// lossyConn drops every 9th incoming datagram bigger than 1000 bytes (a
// video packet) once dropping is on.
type lossyConn struct {
	net.PacketConn
	on   atomic.Bool
	big  atomic.Int64
	lost atomic.Int64
}

func (c *lossyConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err == nil && n > 1000 && c.on.Load() && c.big.Add(1)%9 == 0 {
			c.lost.Add(1)
			continue
		}
		return n, addr, err
	}
}

// TestNACKAnsweredFromSharedPackets: video packets a viewer lost and asks
// for again (NACK) come again, as first sent, from the stream's shared
// packets (no copy kept per viewer).
func TestNACKAnsweredFromSharedPackets(t *testing.T) {
	for _, clip := range []string{"h264_aac.flv", "vp9_opus.mp4"} {
		t.Run(clip, func(t *testing.T) {
			e := engine.New(engine.DefaultConfig(), nil)
			defer e.Close()
			key := engine.NewKey("", "live", "nack")
			read := clipframes.Read
			if strings.HasSuffix(clip, ".mp4") {
				read = clipframes.ReadMP4
			}
			tracks, frames := read(t, clip)
			publishLoop(t, e, key, tracks, frames, 4*time.Second, true)
			srv, err := Listen(e, Options{Addr: "127.0.0.1:0"})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()

			udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			lossy := &lossyConn{PacketConn: udp}
			mux := pwebrtc.NewICEUDPMux(nil, lossy)
			defer mux.Close()
			var se pwebrtc.SettingEngine
			se.SetIncludeLoopbackCandidate(true)
			se.SetICEUDPMux(mux)
			se.SetNetworkTypes([]pwebrtc.NetworkType{pwebrtc.NetworkTypeUDP4})
			pc, err := pwebrtc.NewAPI(pwebrtc.WithSettingEngine(se)).NewPeerConnection(pwebrtc.Configuration{})
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			if _, err := pc.AddTransceiverFromKind(pwebrtc.RTPCodecTypeVideo, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			payloads := map[uint16]int{} // sequence number: payload size
			missing := map[uint16]bool{}
			recovered := 0
			done := make(chan struct{})
			pc.OnTrack(func(tr *pwebrtc.TrackRemote, _ *pwebrtc.RTPReceiver) {
				defer close(done)
				var last uint16
				for n := 0; ; n++ {
					pkt, _, err := tr.ReadRTP()
					if err != nil {
						return
					}
					seq := pkt.SequenceNumber
					mu.Lock()
					if missing[seq] {
						delete(missing, seq)
						recovered++
					} else if _, dup := payloads[seq]; dup {
						mu.Unlock()
						t.Errorf("packet %d came twice without being asked", seq)
						return
					}
					payloads[seq] = len(pkt.Payload)
					var ask []uint16
					if n > 0 && seq-last < 100 && seq != last+1 && int16(seq-last) > 0 {
						for s := last + 1; s != seq; s++ {
							missing[s] = true
							ask = append(ask, s)
						}
					}
					if int16(seq-last) > 0 || n == 0 {
						last = seq
					}
					enough := recovered >= 5
					mu.Unlock()
					if len(ask) > 0 {
						_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: uint32(tr.SSRC()),
							Nacks: rtcp.NackPairsFromSequenceNumbers(ask)}})
					}
					if n == 50 {
						lossy.on.Store(true)
					}
					if enough {
						return
					}
				}
			})
			playOn(t, srv, key, pc)
			select {
			case <-done:
			case <-time.After(40 * time.Second):
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("after 40 s: %d recovered, %d still missing, %d dropped", recovered, len(missing), lossy.lost.Load())
			}
			mu.Lock()
			defer mu.Unlock()
			if recovered < 5 {
				t.Errorf("%d packets recovered by NACK (%d dropped, %d still missing)", recovered, lossy.lost.Load(), len(missing))
			}
		})
	}
}
