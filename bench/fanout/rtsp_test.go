package main

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/mediakit/mediakit/bench/internal/benchio"
)

// testRTSPServer is a gortsplib server with one H.264 and one G.711
// media, standing in for the servers the players are measured against.
type testRTSPServer struct {
	srv     *gortsplib.Server
	stream  *gortsplib.ServerStream
	video   *description.Media
	audio   *description.Media
	played  chan struct{}
	url     string
	missing atomic.Bool // DESCRIBE answers 404
}

func (h *testRTSPServer) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if h.missing.Load() {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, h.stream, nil
}

func (h *testRTSPServer) OnSetup(*gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, h.stream, nil
}

func (h *testRTSPServer) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	// The session starts writing once this reply is out; the test waits a
	// little more for that below by polling what arrives.
	select {
	case h.played <- struct{}{}:
	default:
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func startTestRTSPServer(t *testing.T) *testRTSPServer {
	t.Helper()
	port := benchio.FreePort()
	h := &testRTSPServer{
		video:  &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{&format.H264{PayloadTyp: 96, PacketizationMode: 1}}},
		audio:  &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{&format.G711{PayloadTyp: 0, MULaw: true, SampleRate: 8000, ChannelCount: 1}}},
		played: make(chan struct{}, 1),
		url:    fmt.Sprintf("rtsp://127.0.0.1:%d/live/bench", port),
	}
	h.srv = &gortsplib.Server{Handler: h, RTSPAddress: fmt.Sprintf("127.0.0.1:%d", port)}
	if err := h.srv.Start(); err != nil {
		t.Fatal(err)
	}
	h.stream = &gortsplib.ServerStream{Server: h.srv, Desc: &description.Session{Medias: []*description.Media{h.video, h.audio}}}
	if err := h.stream.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.stream.Close()
		h.srv.Close()
	})
	return h
}

func (h *testRTSPServer) waitPlay(t *testing.T) {
	t.Helper()
	select {
	case <-h.played:
	case <-time.After(10 * time.Second):
		t.Fatal("no PLAY within 10 s")
	}
}

// writeAU packetizes one H.264 access unit onto the video media and
// returns the bytes it takes on the wire (interleaved header + packet).
func (h *testRTSPServer) writeAU(t *testing.T, enc interface {
	Encode([][]byte) ([]*rtp.Packet, error)
}, au [][]byte) int {
	t.Helper()
	pkts, err := enc.Encode(au)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, pkt := range pkts {
		n += 4 + pkt.MarshalSize()
		if err := h.stream.WritePacketRTP(h.video, pkt); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func TestPlayRTSPCountsInterleavedBytes(t *testing.T) {
	h := startTestRTSPServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &player{}
	done := make(chan struct{})
	go func() { defer close(done); p.playRTSP(ctx, h.url) }()
	h.waitPlay(t)

	enc, err := h.video.Formats[0].(*format.H264).CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	// The session's writer may start a moment after the PLAY reply:
	// write one access unit at a time until the first one arrives, then
	// count exactly what follows.
	deadline := time.Now().Add(10 * time.Second)
	for p.bytes.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("nothing received (player error: %v)", p.err.Load())
		}
		h.writeAU(t, enc, [][]byte{{0x41, 0x9a, 0x01}})
		time.Sleep(10 * time.Millisecond)
	}
	before := p.bytes.Load()
	want := 0
	big := make([]byte, 5000) // fragmented into FU-A packets
	big[0] = 0x65
	for range 20 {
		want += h.writeAU(t, enc, [][]byte{{0x67, 0x42, 0xc0, 0x1f}, {0x68, 0xce, 0x3c, 0x80}, big})
	}
	audio := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, Timestamp: 0, SSRC: 1}, Payload: make([]byte, 160)}
	for range 10 {
		want += 4 + audio.MarshalSize()
		if err := h.stream.WritePacketRTP(h.audio, audio); err != nil {
			t.Fatal(err)
		}
		audio.SequenceNumber++
	}
	for p.bytes.Load()-before < int64(want) {
		if time.Now().After(deadline) {
			t.Fatalf("received %d bytes of %d (player error: %v)", p.bytes.Load()-before, want, p.err.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// RTCP sender reports may come on top; nothing else should.
	if extra := p.bytes.Load() - before - int64(want); extra > 512 {
		t.Fatalf("received %d bytes more than the %d written", extra, want)
	}
	if e := p.err.Load(); e != nil {
		t.Fatalf("player failed: %v", *e)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("player did not return after its context ended")
	}
	if e := p.err.Load(); e != nil {
		t.Fatalf("player reported its own close as an error: %v", *e)
	}
}

func TestPlayRTSPFailsOnMissingStream(t *testing.T) {
	h := startTestRTSPServer(t)
	h.missing.Store(true)
	p := &player{}
	done := make(chan struct{})
	go func() { defer close(done); p.playRTSP(context.Background(), h.url) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("player hung on a 404")
	}
	e := p.err.Load()
	if e == nil || !strings.Contains((*e).Error(), "404") {
		t.Fatalf("error %v, want the DESCRIBE 404", e)
	}
}

func TestFirstKeyframeRTSPWaitsForIDR(t *testing.T) {
	h := startTestRTSPServer(t)
	type result struct {
		d   time.Duration
		err error
	}
	res := make(chan result, 1)
	go func() {
		d, err := firstKeyframeRTSP(h.url)
		res <- result{d, err}
	}()
	h.waitPlay(t)
	enc, err := h.video.Formats[0].(*format.H264).CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	// Non-IDR slices must not end the probe.
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		h.writeAU(t, enc, [][]byte{{0x41, 0x9a, 0x01}})
		select {
		case r := <-res:
			t.Fatalf("probe ended on a non-IDR slice: %v %v", r.d, r.err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	h.writeAU(t, enc, [][]byte{{0x67, 0x42, 0xc0, 0x1f}, {0x68, 0xce, 0x3c, 0x80}, {0x65, 0x88, 0x84}})
	select {
	case r := <-res:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.d < 300*time.Millisecond {
			t.Fatalf("first keyframe after %v, before the IDR was written", r.d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no result after the IDR")
	}
}
