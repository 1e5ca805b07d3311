package rtpsend

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	pionrtp "github.com/pion/rtp"
	"go.uber.org/goleak"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/rtp"
	"github.com/mediakit/mediakit/pkg/zlm"
)

const (
	testSSRC      = "0200000001" // GB28181's ten digits
	testSSRCValue = 200000001
)

func psOptions(mode Mode, port int) Options {
	return Options{Key: testKey, SSRC: testSSRC, Mode: mode, Format: FormatPS, PayloadType: 96, DstURL: "127.0.0.1", DstPort: port}
}

// setup publishes the clip and returns a manager for it, with its
// notifications.
func setup(t *testing.T) (*clip, *liveStream, *notes, *Manager) {
	t.Helper()
	c := loadClip(t)
	ls := publishClip(t, c)
	n := newNotes()
	return c, ls, n, newTestManager(ls.e, n)
}

// udpPeer is a loopback UDP receiver collecting what arrives.
type udpPeer struct {
	conn *net.UDPConn
	rec  *received
	done chan struct{} // closed when close has stopped the reading
}

func newUDPPeer(t *testing.T) *udpPeer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadBuffer(4 << 20)
	p := &udpPeer{conn: conn, rec: &received{}, done: make(chan struct{})}
	go func() { defer close(p.done); p.rec.readUDP(conn) }()
	return p
}

func (p *udpPeer) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

func (p *udpPeer) close() {
	p.conn.Close()
	<-p.done
}

// waitAttached waits for the test sender's sink on the stream.
func waitAttached(t *testing.T, ls *liveStream) {
	t.Helper()
	waitFor(t, 5*time.Second, "the sender attached", func() bool {
		has, _ := ls.e.HasSink(context.Background(), testKey, "rtp-send-200000001")
		return has
	})
}

// markers counts the frames whose last packet has arrived.
func markers(pkts []*pionrtp.Packet) int {
	n := 0
	for _, p := range pkts {
		if p.Marker {
			n++
		}
	}
	return n
}

// receiveClip writes video frames [0, n) of the clip and their audio
// and checks that the peer got exactly them, as PS.
func receiveClip(t *testing.T, ls *liveStream, c *clip, rec *received, n int) {
	t.Helper()
	ls.write(t, c.frames(0, n))
	waitFor(t, 10*time.Second, "every frame at the peer", func() bool { return markers(rec.packets()) >= 2*n })
	pkts := rec.packets()
	checkSequence(t, pkts, testSSRCValue, 96)
	video, audio := demuxPS(t, pkts)
	if len(video) != n || len(audio) != n {
		t.Fatalf("peer demuxed %d video and %d audio frames, want %d each", len(video), len(audio), n)
	}
	checkPS(t, c, 0, video, audio)
}

// stopByAPI stops the sender as stopSendRtp does and checks the one
// on_send_rtp_stopped.
func stopByAPI(t *testing.T, m *Manager, n *notes) {
	t.Helper()
	// The SSRC's value names the sender, whatever its spelling.
	if k, err := m.Stop(context.Background(), testKey, "200000001"); k != 1 || err != nil {
		t.Fatalf("Stop = %d, %v; want 1", k, err)
	}
	got := n.all()
	if len(got) != 1 {
		t.Fatalf("%d notifications after Stop, want 1: %v", len(got), got)
	}
	checkStopped(t, got[0], causeAPI)
	if list, err := m.List(context.Background(), testKey); len(list) != 0 || err != nil {
		t.Fatalf("List after Stop = %v, %v", list, err)
	}
	if k, _ := m.Stop(context.Background(), testKey, testSSRC); k != 0 {
		t.Fatalf("second Stop = %d, want 0", k)
	}
}

func checkStopped(t *testing.T, got StoppedInfo, want cause) {
	t.Helper()
	if got.Key != testKey || got.SSRC != testSSRC || got.Params != "token=abc" || got.Origin != zlm.OriginRTMPPush ||
		!strings.HasSuffix(got.OriginURL, "/live/cam?token=abc") {
		t.Errorf("on_send_rtp_stopped = %+v", got)
	}
	if got.Err != want.code || !strings.Contains(got.Msg, want.msg) {
		t.Errorf("on_send_rtp_stopped err %d %q, want %d %q", got.Err, got.Msg, want.code, want.msg)
	}
}

func checkListed(t *testing.T, m *Manager, port int, peer string) {
	t.Helper()
	list, err := m.List(context.Background(), testKey)
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v", list, err)
	}
	in := list[0]
	if in.SSRC != testSSRC || in.LocalPort != port || in.Peer != peer || in.BytesSent <= 0 || in.Format != FormatPS {
		t.Errorf("List = %+v, want port %d, peer %s, bytes sent", in, port, peer)
	}
}

func TestUDPActive(t *testing.T) {
	c, ls, n, m := setup(t)
	base := goleak.IgnoreCurrent()
	peer := newUDPPeer(t)
	port, err := m.Start(context.Background(), psOptions(UDPActive, peer.port()))
	if err != nil {
		t.Fatal(err)
	}
	receiveClip(t, ls, c, peer.rec, 60)
	if from := peer.rec.source(0).(*net.UDPAddr); from.Port != port {
		t.Errorf("datagrams from port %d, local_port %d", from.Port, port)
	}
	checkListed(t, m, port, peer.conn.LocalAddr().String())
	stopByAPI(t, m, n)
	peer.close()
	goleak.VerifyNone(t, base)
}

// UDP from src_port.
func TestUDPActiveSrcPort(t *testing.T) {
	c, ls, _, m := setup(t)
	defer m.Close()
	peer := newUDPPeer(t)
	defer peer.close()
	src := testutil.FreePort(t)
	o := psOptions(UDPActive, peer.port())
	o.SrcPort = src
	port, err := m.Start(context.Background(), o)
	if err != nil || port != src {
		t.Fatalf("Start = %d, %v; want port %d", port, err, src)
	}
	ls.write(t, c.frames(0, 1))
	waitFor(t, 5*time.Second, "a datagram at the peer", func() bool { return len(peer.rec.packets()) > 0 })
	if from := peer.rec.source(0).(*net.UDPAddr); from.Port != src {
		t.Fatalf("first datagram from %v; want port %d", from, src)
	}
}

func TestTCPActive(t *testing.T) {
	c, ls, n, m := setup(t)
	base := goleak.IgnoreCurrent()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &received{}
	accepted := make(chan net.Conn, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		accepted <- conn
		rec.readTCP(conn)
	}()
	port, err := m.Start(context.Background(), psOptions(TCPActive, ln.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	conn := <-accepted
	if remote := conn.RemoteAddr().(*net.TCPAddr).Port; remote != port {
		t.Errorf("connection from port %d, local_port %d", remote, port)
	}
	receiveClip(t, ls, c, rec, 60)
	checkListed(t, m, port, ln.Addr().String())
	stopByAPI(t, m, n)
	<-done // the sender closed the connection
	if rec.err != nil {
		t.Errorf("peer read: %v", rec.err)
	}
	conn.Close()
	ln.Close()
	goleak.VerifyNone(t, base)
}

func TestTCPPassive(t *testing.T) {
	c, ls, n, m := setup(t)
	base := goleak.IgnoreCurrent()

	port, err := m.Start(context.Background(), Options{Key: testKey, SSRC: testSSRC, Mode: TCPPassive, Format: FormatPS, PayloadType: 96})
	if err != nil {
		t.Fatal(err)
	}
	if list, _ := m.List(context.Background(), testKey); len(list) != 1 || list[0].Peer != "" || list[0].LocalPort != port {
		t.Fatalf("List while waiting = %+v", list)
	}
	conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	rec := &received{}
	done := make(chan struct{})
	go func() { defer close(done); rec.readTCP(conn) }()
	// Frames written before the peer came are not sent: it starts at a
	// keyframe once attached.
	waitAttached(t, ls)
	receiveClip(t, ls, c, rec, 60)
	checkListed(t, m, port, conn.LocalAddr().String())
	stopByAPI(t, m, n)
	<-done
	conn.Close()
	goleak.VerifyNone(t, base)
}

// A passive UDP sender learns its peer from the first datagram.
func TestUDPPassive(t *testing.T) {
	c, ls, n, m := setup(t)
	base := goleak.IgnoreCurrent()

	port, err := m.Start(context.Background(), Options{Key: testKey, SSRC: testSSRC, Mode: UDPPassive, Format: FormatPS, PayloadType: 96})
	if err != nil {
		t.Fatal(err)
	}
	peer := newUDPPeer(t)
	if _, err := peer.conn.WriteToUDP([]byte("hole punch"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}); err != nil {
		t.Fatal(err)
	}
	waitAttached(t, ls)
	receiveClip(t, ls, c, peer.rec, 60)
	if list, _ := m.List(context.Background(), testKey); len(list) != 1 || !strings.HasSuffix(list[0].Peer, ":"+strconv.Itoa(peer.port())) {
		t.Errorf("List = %+v, want the peer's address", list)
	}
	stopByAPI(t, m, n)
	peer.close()
	goleak.VerifyNone(t, base)
}

// Nobody comes: the port closes after close_delay_ms and the hook says
// so, as ZLMediaKit's.
func TestPassiveTimeout(t *testing.T) {
	for _, tt := range []struct {
		mode Mode
		msg  string
	}{{TCPPassive, "wait tcp connection timeout"}, {UDPPassive, "wait udp connection timeout"}} {
		t.Run(tt.mode.String(), func(t *testing.T) {
			_, _, n, m := setup(t)
			base := goleak.IgnoreCurrent()
			o := Options{Key: testKey, SSRC: testSSRC, Mode: tt.mode, Format: FormatPS, PayloadType: 96, CloseDelay: 200 * time.Millisecond}
			port, err := m.Start(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			checkStopped(t, n.wait(t, 0, 5*time.Second), cause{ErrCodeTimeout, tt.msg})
			waitFor(t, 5*time.Second, "the sender gone", func() bool { return m.Counts().Senders == 0 })
			// The port is free again.
			o.SrcPort = port
			if _, err := m.Start(context.Background(), o); err != nil {
				t.Fatalf("restart on port %d: %v", port, err)
			}
			m.Close()
			if len(n.all()) != 2 {
				t.Fatalf("notifications: %v", n.all())
			}
			goleak.VerifyNone(t, base)
		})
	}
}

// A peer that stops reading is cut by the write timeout; the stream and
// its publisher carry on, and the hook fires once.
func TestStuckPeerCut(t *testing.T) {
	c, ls, n, m := setup(t)
	m.WriteTimeout = 300 * time.Millisecond
	base := goleak.IgnoreCurrent()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if conn, err := ln.Accept(); err == nil {
			_ = conn.(*net.TCPConn).SetReadBuffer(4096)
			accepted <- conn // and never read from it
		}
	}()
	if _, err := m.Start(context.Background(), psOptions(TCPActive, ln.Addr().(*net.TCPAddr).Port)); err != nil {
		t.Fatal(err)
	}
	conn := <-accepted
	defer conn.Close()
	// 256 KiB frames until the sender gives up.
	const size = 256 << 10
	big := make([]byte, size)
	written := 0
	for ; len(n.all()) == 0; written++ {
		if written > 400 {
			t.Fatal("the sender was not cut after 100 MiB")
		}
		big[0] = 1 // non-IDR slice
		if written%25 == 0 {
			big[0] = 5
		}
		d := time.Duration(written) * 40 * time.Millisecond
		if err := ls.pub.WriteFrame(&media.Frame{Track: c.video, DTS: d, PTS: d, Key: written%25 == 0, Payload: media.AppendAVCC(nil, big)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // the publisher's pace
	}
	got := n.wait(t, 0, 5*time.Second)
	checkStopped(t, got, cause{ErrCodeTimeout, "i/o timeout"})
	// The publisher was never held back by the stuck sender: it got
	// frames ahead of what the sender could write (a publisher waiting
	// for its sink would be at most the frame being written ahead).
	sent := m.Counts().BytesSent / size
	t.Logf("the publisher wrote %d frames of 256 KiB, the sender %d", written, sent)
	if int64(written) < sent+3 {
		t.Errorf("the publisher wrote %d frames, the sender sent %d: held back", written, sent)
	}
	if info, found, err := ls.e.Stream(context.Background(), testKey); !found || err != nil || info.State != engine.StateLive {
		t.Fatalf("stream after the sender was cut: %+v %v %v", info.State, found, err)
	}
	ls.write(t, c.frames(0, 5))
	m.Close()
	if len(n.all()) != 1 {
		t.Fatalf("notifications: %v", n.all())
	}
	conn.Close()
	ln.Close()
	goleak.VerifyNone(t, base)
}

// The stream ends (its publisher leaves and does not come back): the
// sender stops, frees everything and says why.
func TestStopByStreamEnd(t *testing.T) {
	c, ls, n, m := setup(t)
	base := goleak.IgnoreCurrent()

	peer := newUDPPeer(t)
	if _, err := m.Start(context.Background(), psOptions(UDPActive, peer.port())); err != nil {
		t.Fatal(err)
	}
	ls.write(t, c.frames(0, 10))
	waitFor(t, 5*time.Second, "frames at the peer", func() bool { return markers(peer.rec.packets()) >= 20 })
	ls.pub.Close()
	checkStopped(t, n.wait(t, 0, 5*time.Second), causeStreamEnd)
	waitFor(t, 5*time.Second, "the sender gone", func() bool { return m.Counts().Senders == 0 })
	if got := m.Counts().BytesSent; got <= 0 {
		t.Errorf("Counts().BytesSent = %d after the end", got)
	}
	peer.close()
	goleak.VerifyNone(t, base)
	m.Close()
	if len(n.all()) != 1 {
		t.Fatalf("notifications: %v", n.all())
	}
}

// A TCP peer that hangs up ends its sender at once.
func TestPeerClosesTCP(t *testing.T) {
	c, ls, n, m := setup(t)
	defer m.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if conn, err := ln.Accept(); err == nil {
			_, _ = rtp.NewFrameReader(conn).ReadPacket() // hang up after the first packet
			conn.Close()
		}
	}()
	if _, err := m.Start(context.Background(), psOptions(TCPActive, ln.Addr().(*net.TCPAddr).Port)); err != nil {
		t.Fatal(err)
	}
	ls.write(t, c.frames(0, 1))
	got := n.wait(t, 0, 5*time.Second)
	if got.Err != ErrCodeEOF && got.Err != ErrCodeReset {
		t.Errorf("on_send_rtp_stopped err %d %q", got.Err, got.Msg)
	}
}

// A second sender with the same SSRC replaces the first once connected.
func TestReplaceSameSSRC(t *testing.T) {
	c, ls, n, m := setup(t)
	defer m.Close()
	peers := [2]*udpPeer{newUDPPeer(t), newUDPPeer(t)}
	for _, p := range peers {
		defer p.close()
	}
	if _, err := m.Start(context.Background(), psOptions(UDPActive, peers[0].port())); err != nil {
		t.Fatal(err)
	}
	o := psOptions(UDPActive, peers[1].port())
	o.SSRC = "200000001" // the same SSRC, spelt otherwise
	if _, err := m.Start(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	first := n.wait(t, 0, 5*time.Second)
	if first.Err != causeReplaced.code || first.Msg != causeReplaced.msg {
		t.Errorf("replaced sender's notification: %+v", first)
	}
	list, _ := m.List(context.Background(), testKey)
	if len(list) != 1 || list[0].Peer != peers[1].conn.LocalAddr().String() {
		t.Fatalf("List = %+v", list)
	}
	ls.write(t, c.frames(0, 30))
	waitFor(t, 5*time.Second, "frames at the new peer", func() bool { return markers(peers[1].rec.packets()) >= 60 })
	if got := len(peers[0].rec.packets()); got != 0 {
		t.Errorf("the replaced sender's peer got %d packets", got)
	}
}

type stubTalker struct {
	key  engine.Key
	rec  *received
	done chan struct{}
}

func (s *stubTalker) Talk(key engine.Key) (func([]byte) error, <-chan struct{}, error) {
	if key != s.key {
		return nil, nil, errors.New("RtpServer not found by stream_id")
	}
	return func(pkt []byte) error { s.rec.add(pkt, nil); return nil }, s.done, nil
}

// Talk-back goes over the link of the received stream, and ends with it.
func TestTalk(t *testing.T) {
	c, ls, n, m := setup(t)
	base := goleak.IgnoreCurrent()
	talk := &stubTalker{key: engine.NewKey("", "live", "camera-1"), rec: &received{}, done: make(chan struct{})}
	m.Talker = talk
	m.TalkPort = func(key engine.Key) int { return 30000 }
	o := Options{Key: testKey, SSRC: testSSRC, Mode: VoiceTalk, Format: FormatPS, PayloadType: 96, RecvStreamID: "nobody"}
	if _, err := m.Start(context.Background(), o); !errors.Is(err, ErrTalkNotFound) {
		t.Fatalf("talk over a missing stream: %v", err)
	}
	o.RecvStreamID = "camera-1"
	port, err := m.Start(context.Background(), o)
	if err != nil || port != 30000 {
		t.Fatalf("Start = %d, %v", port, err)
	}
	receiveClip(t, ls, c, talk.rec, 30)
	close(talk.done)
	checkStopped(t, n.wait(t, 0, 5*time.Second), causeTalkEnded)
	m.Close()
	goleak.VerifyNone(t, base)
}

func TestStartErrors(t *testing.T) {
	_, _, n, m := setup(t)
	closedPort := func() int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port
	}()
	other := psOptions(UDPActive, 9)
	other.Key = engine.NewKey("", "live", "nobody")
	badSSRC := psOptions(UDPActive, 9)
	badSSRC.SSRC = "0x1234"
	noDst := psOptions(UDPActive, 0)
	badType := psOptions(UDPActive, 9)
	badType.Format = 3
	noRecv := psOptions(VoiceTalk, 0)
	for _, tt := range []struct {
		name string
		o    Options
		want error
		msg  string
	}{
		{"no stream", other, ErrStreamNotFound, ""},
		{"bad ssrc", badSSRC, ErrInvalidOptions, "ssrc"},
		{"no dst_port", noDst, ErrInvalidOptions, "dst_port"},
		{"bad type", badType, ErrInvalidOptions, "type"},
		{"talk without recv_stream_id", noRecv, ErrInvalidOptions, "recv_stream_id"},
		{"talk without RTP", func() Options { o := noRecv; o.RecvStreamID = "x"; return o }(), ErrTalkNotFound, ""},
		{"refused", psOptions(TCPActive, closedPort), nil, "connect tcp 127.0.0.1:" + strconv.Itoa(closedPort)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			port, err := m.Start(context.Background(), tt.o)
			if err == nil || port != 0 || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Start = %d, %v; want %v mentioning %q", port, err, tt.want, tt.msg)
			}
		})
	}
	if _, err := m.Stop(context.Background(), other.Key, ""); !errors.Is(err, ErrStreamNotFound) {
		t.Errorf("Stop on a missing stream: %v", err)
	}
	if _, err := m.List(context.Background(), other.Key); !errors.Is(err, ErrStreamNotFound) {
		t.Errorf("List on a missing stream: %v", err)
	}
	m.Close()
	if _, err := m.Start(context.Background(), psOptions(UDPActive, 9)); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
	if got := n.all(); len(got) != 0 {
		t.Errorf("failed starts notified: %v", got)
	}
}

// Close (shutdown) stops every sender and reports each.
func TestCloseStopsAll(t *testing.T) {
	_, _, n, m := setup(t)
	base := goleak.IgnoreCurrent()
	peer := newUDPPeer(t)
	for _, ssrc := range []string{"1", "2"} {
		o := psOptions(UDPActive, peer.port())
		o.SSRC = ssrc
		if _, err := m.Start(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Start(context.Background(), Options{Key: testKey, SSRC: "3", Mode: TCPPassive, Format: FormatPS, PayloadType: 96}); err != nil {
		t.Fatal(err)
	}
	if list, _ := m.List(context.Background(), testKey); len(list) != 3 {
		t.Fatalf("List = %v", list)
	}
	m.Close()
	got := n.all()
	if len(got) != 3 {
		t.Fatalf("notifications: %v", got)
	}
	for _, g := range got {
		if g.Msg != causeShutdown.msg {
			t.Errorf("notification %+v", g)
		}
	}
	peer.close()
	goleak.VerifyNone(t, base)
}
