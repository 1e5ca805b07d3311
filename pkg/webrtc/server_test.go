package webrtc

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp/codecs"
	pwebrtc "github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
	"go.uber.org/goleak"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/engine"
)

// TestSessionsLeaveNothing: 20 viewers that play and end (by End, by
// their side closing, by the server closing) leave no goroutine behind,
// and the ports close.
func TestSessionsLeaveNothing(t *testing.T) {
	// After the publisher's cleanup, which runs after the defers.
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	e := engine.New(engine.DefaultConfig(), nil)
	defer e.Close()
	key := engine.NewKey("", "live", "leak")
	tracks, frames := clipframes.Read(t, "h264_aac.flv")
	publishLoop(t, e, key, tracks, frames, 7*time.Second, false)

	srv, err := Listen(e, Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	// 20 viewers one after the other: the first ended by End, the
	// others by closing their side, the last by the server's Close.
	const viewers = 20
	for round := range viewers {
		pc, got := viewer(t)
		defer pc.Close() // before goleak looks; closing twice is harmless
		id := playOn(t, srv, key, pc)
		select {
		case <-got:
		case <-time.After(15 * time.Second):
			t.Fatal("no video frame")
		}
		if round == 0 && !srv.End(id) {
			t.Fatal("End found no session")
		}
		if round == viewers-1 {
			break
		}
		pc.Close()
	}
	srv.Close()
	if n := srv.Sessions(); n != 0 {
		t.Errorf("%d sessions after Close", n)
	}
}

// viewer is a recvonly video peer connection whose channel gets a value
// at its first decoded frame.
func viewer(t *testing.T) (*pwebrtc.PeerConnection, chan struct{}) {
	t.Helper()
	var se pwebrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	pc, err := pwebrtc.NewAPI(pwebrtc.WithSettingEngine(se)).NewPeerConnection(pwebrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromKind(pwebrtc.RTPCodecTypeVideo, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 1)
	pc.OnTrack(func(tr *pwebrtc.TrackRemote, _ *pwebrtc.RTPReceiver) {
		sb := samplebuilder.New(128, &codecs.H264Packet{}, 90000)
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			sb.Push(p)
			if sb.Pop() != nil {
				select {
				case got <- struct{}{}:
				default:
				}
			}
		}
	})
	return pc, got
}

// TestPublishSessionsLeaveNothing: WHIP publishers that publish and end
// (by End, by their peer closing, by the server closing) leave no
// goroutine and no publisher behind.
func TestPublishSessionsLeaveNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	e := engine.New(engine.DefaultConfig(), nil)
	defer e.Close()
	srv, err := Listen(e, Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	aus := testutil.ClipAccessUnits(t, "h264.h264", false)
	key := engine.NewKey("", "live", "whip")
	for round := range 3 {
		pc, id, stop := whipPeer(t, srv, key, aus)
		waitLive(t, e, key)
		switch round {
		case 0:
			if !srv.End(id) {
				t.Fatal("End found no session")
			}
		case 1:
			pc.Close()
		}
		if round < 2 {
			deadline := time.Now().Add(20 * time.Second)
			for srv.Sessions() != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("round %d: the publish session stays", round)
				}
				time.Sleep(20 * time.Millisecond)
			}
		} else {
			srv.Close()
		}
		stop()
		pc.Close()
		deadline := time.Now().Add(10 * time.Second)
		for {
			info, ok, _ := e.Stream(context.Background(), key)
			if !ok || info.State != engine.StateLive {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the stream still has its publisher", round)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if n := srv.Sessions(); n != 0 {
		t.Errorf("%d sessions after Close", n)
	}
}

// blackhole is a UDP socket that can go silent, as a viewer whose
// machine vanished: no DTLS close, no ICE consent, nothing.
type blackhole struct {
	net.PacketConn
	silent atomic.Bool
}

func (b *blackhole) WriteTo(p []byte, addr net.Addr) (int, error) {
	if b.silent.Load() {
		return len(p), nil
	}
	return b.PacketConn.WriteTo(p, addr)
}

// TestVanishedViewerReaped: a viewer that stops answering without a
// DTLS close is ended by ICE (consent fails), and its reader released.
func TestVanishedViewerReaped(t *testing.T) {
	e := engine.New(engine.DefaultConfig(), nil)
	defer e.Close()
	key := engine.NewKey("", "live", "vanish")
	tracks, frames := clipframes.Read(t, "h264_aac.flv")
	pub, err := e.Publish(context.Background(), key, engine.SessionInfo{ID: "pub", Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.SetTracks(tracks); err != nil {
		t.Fatal(err)
	}
	for _, f := range frames[:50] { // a GOP cache with a keyframe
		if err := pub.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := Listen(e, Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hole := &blackhole{PacketConn: conn}
	var se pwebrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]pwebrtc.NetworkType{pwebrtc.NetworkTypeUDP4})
	mux := pwebrtc.NewICEUDPMux(nil, hole)
	defer mux.Close()
	se.SetICEUDPMux(mux)
	pc, err := pwebrtc.NewAPI(pwebrtc.WithSettingEngine(se)).NewPeerConnection(pwebrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(pwebrtc.RTPCodecTypeVideo, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s pwebrtc.PeerConnectionState) {
		if s == pwebrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	playOn(t, srv, key, pc)
	select {
	case <-connected:
	case <-time.After(15 * time.Second):
		t.Fatal("the viewer did not connect")
	}
	hole.silent.Store(true)
	// ICE: disconnected after 5 s without consent, failed 15 s later.
	deadline := time.Now().Add(40 * time.Second)
	for {
		info, _, _ := e.Stream(context.Background(), key)
		if srv.Sessions() == 0 && len(info.Readers) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the vanished viewer is still there: %d sessions, %d readers", srv.Sessions(), len(info.Readers))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// whipPeer publishes key to srv from a pion peer sending the H.264
// access units aus at 25 fps until stop.
func whipPeer(t *testing.T, srv *Server, key engine.Key, aus [][][]byte) (pc *pwebrtc.PeerConnection, id string, stop func()) {
	t.Helper()
	return whipPeerOf(t, srv, key, aus, h264Capability("42e01f"))
}

// whipPeerOf is whipPeer sending codec c, the only video codec it
// offers (as a browser told to prefer it first).
func whipPeerOf(t *testing.T, srv *Server, key engine.Key, aus [][][]byte, c pwebrtc.RTPCodecCapability) (pc *pwebrtc.PeerConnection, id string, stop func()) {
	t.Helper()
	var se pwebrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	me := &pwebrtc.MediaEngine{}
	if err := me.RegisterCodec(pwebrtc.RTPCodecParameters{RTPCodecCapability: c, PayloadType: 96}, pwebrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	pc, err := pwebrtc.NewAPI(pwebrtc.WithSettingEngine(se), pwebrtc.WithMediaEngine(me)).NewPeerConnection(pwebrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	track, err := pwebrtc.NewTrackLocalStaticSample(c, "video", "whip")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromTrack(track, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	gathered := pwebrtc.GatheringCompletePromise(pc)
	offer, _ := pc.CreateOffer(nil)
	_ = pc.SetLocalDescription(offer)
	<-gathered
	answer, id, err := srv.Publish(context.Background(), key, engine.SessionInfo{ID: "p", Protocol: "webrtc"}, pc.LocalDescription().SDP)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			var au []byte
			for _, nalu := range aus[i%len(aus)] {
				au = append(append(au, 0, 0, 0, 1), nalu...)
			}
			_ = track.WriteSample(pmedia.Sample{Data: au, Duration: 40 * time.Millisecond})
		}
	}()
	return pc, id, func() { close(done); <-sent }
}

// TestViewerPLIReachesWHIPPublisher: a WHEP viewer's PLI makes the server
// ask the WHIP publisher for a keyframe at once.
func TestViewerPLIReachesWHIPPublisher(t *testing.T) {
	e := engine.New(engine.DefaultConfig(), nil)
	defer e.Close()
	srv, err := Listen(e, Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	key := engine.NewKey("", "live", "pli")
	pub, id, stop := whipPeer(t, srv, key, testutil.ClipAccessUnits(t, "h264.h264", false))
	defer pub.Close()
	defer stop()
	srv.mu.Lock()
	ps := srv.publishes[id]
	srv.mu.Unlock()

	pc, got := viewer(t)
	defer pc.Close()
	waitLive(t, e, key)
	playOn(t, srv, key, pc)
	select {
	case <-got:
	case <-time.After(15 * time.Second):
		t.Fatal("no video frame")
	}
	ssrc := uint32(pc.GetReceivers()[0].Track().SSRC())
	deadline := time.Now().Add(10 * time.Second)
	for ps.plisForwarded.Load() == 0 {
		if err := pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the viewer's PLI did not reach the WHIP publisher")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitLive waits until key is published and its tracks known.
func waitLive(t *testing.T, e *engine.Engine, key engine.Key) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		info, ok, _ := e.Stream(context.Background(), key)
		if ok && info.Ready && info.State == engine.StateLive {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not live", key)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
