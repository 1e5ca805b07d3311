//go:build linux

package webrtc

import (
	"bytes"
	"log/slog"
	"net"
	"testing"
	"time"

	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/engine"
)

// TestBatchConnGSO: packets written to a held destination arrive as the
// same datagrams, in order, from one send per run of equal sizes; others
// go out at once.
func TestBatchConnGSO(t *testing.T) {
	for _, network := range []string{"udp4", "udp"} { // AF_INET, and AF_INET6 dual stack
		t.Run(network, func(t *testing.T) {
			raw, err := net.ListenPacket(network, "127.0.0.1:0")
			if network == "udp" {
				raw, err = net.ListenPacket(network, ":0")
			}
			if err != nil {
				t.Fatal(err)
			}
			c := newBatchConn(raw, slog.New(slog.DiscardHandler)).(*batchConn)
			defer c.Close()
			rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer rx.Close()
			to := rx.LocalAddr().(*net.UDPAddr).AddrPort()

			var want [][]byte
			packet := func(size int) []byte {
				b := bytes.Repeat([]byte{byte(len(want))}, size)
				want = append(want, b)
				return b
			}
			if _, err := c.WriteToAddrPort(packet(50), to); err != nil { // not held: at once
				t.Fatal(err)
			}
			c.Hold(to)
			for range 70 { // more than one send's 64 segments
				_, _ = c.WriteToAddrPort(packet(1200), to)
			}
			_, _ = c.WriteToAddrPort(packet(300), to)  // a short one ends the run
			_, _ = c.WriteToAddrPort(packet(1200), to) // and the next starts another
			_, _ = c.WriteToAddrPort(packet(1400), to) // a bigger one too
			c.Release(to)

			buf := make([]byte, 2000)
			_ = rx.SetReadDeadline(time.Now().Add(10 * time.Second))
			for i, w := range want {
				n, err := rx.Read(buf)
				if err != nil {
					t.Fatalf("datagram %d of %d: %v", i, len(want), err)
				}
				if !bytes.Equal(buf[:n], w) {
					t.Fatalf("datagram %d: %d bytes of %d, want %d of %d", i, n, buf[0], len(w), w[0])
				}
			}
			if c.off.Load() {
				t.Skip("this kernel refuses UDP GSO: sent packet by packet, as checked above")
			}
			// 64, then 6+the short one, then 1200 alone, then 1400 alone.
			if b, p := c.batches.Load(), c.packets.Load(); b != 2 || p != 71 {
				t.Errorf("%d GSO sends of %d packets, want 2 of 71", b, p)
			}
		})
	}
}

// TestViewerFramesBatched: a viewer over UDP is sent each video frame's
// packets through GSO, and gets them all (its decoder sees the stream's
// sequence numbers without gaps).
func TestViewerFramesBatched(t *testing.T) {
	e := engine.New(engine.DefaultConfig(), nil)
	defer e.Close()
	key := engine.NewKey("", "live", "gso")
	tracks, frames := clipframes.ReadMP4(t, "vp9_opus.mp4")
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
	if _, err := pc.AddTransceiverFromKind(pwebrtc.RTPCodecTypeVideo, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	gaps := make(chan int, 1)
	pc.OnTrack(func(tr *pwebrtc.TrackRemote, _ *pwebrtc.RTPReceiver) {
		var last uint16
		missing := 0
		for n := 0; n < 300; n++ {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				break
			}
			if n > 0 {
				missing += int(pkt.SequenceNumber-last) - 1
			}
			last = pkt.SequenceNumber
		}
		gaps <- missing
	})
	playOn(t, srv, key, pc)
	select {
	case missing := <-gaps:
		if missing != 0 {
			t.Errorf("%d packets missing of 300 on loopback", missing)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("300 video packets did not arrive in 30 s")
	}
	c := srv.udp.(*batchConn)
	if c.off.Load() {
		t.Skip("this kernel refuses UDP GSO")
	}
	if c.batches.Load() == 0 {
		t.Errorf("no frame was sent with GSO (%d packets)", c.packets.Load())
	}
}
