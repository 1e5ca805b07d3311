package rtpserver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
)

func TestOpenReceiveClose(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	ctx := context.Background()
	port, err := f.reg.Open(ctx, Options{StreamID: "cam1"})
	if err != nil {
		t.Fatal(err)
	}
	if port < 61000 || port > 61999 || port%2 != 0 {
		t.Fatalf("port %d: want an even port of the range", port)
	}
	if _, err := f.reg.Open(ctx, Options{StreamID: "cam1"}); !errors.Is(err, ErrExists) {
		t.Fatalf("second open: %v, want ErrExists", err)
	}
	in, ok := f.reg.Info(engine.NewKey("", "rtp", "cam1"))
	if !ok || in.State != StateWaiting || in.Port != port {
		t.Fatalf("info %+v %v", in, ok)
	}
	s := newSender(t, "udp", port, 0x0A0B0C0D)
	s.send(t, 10)
	waitFor(t, 5*time.Second, "stream published", func() bool { return published(f, "rtp", "cam1") })
	waitFor(t, 5*time.Second, "10 packets", func() bool {
		st, ok := f.reg.Stream(engine.NewKey("", "rtp", "cam1"))
		return ok && st.Stats.Packets == 10
	})
	if in, _ := f.reg.Info(engine.NewKey("", "rtp", "cam1")); in.State != StateReceiving {
		t.Errorf("state %s, want receiving", in.State)
	}
	if !f.reg.Close(engine.NewKey("", "rtp", "cam1")) {
		t.Fatal("close: no hit")
	}
	if f.reg.Close(engine.NewKey("", "rtp", "cam1")) {
		t.Error("second close hit")
	}
	// Once Close returns, the id and the very port are free.
	again, err := f.reg.Open(ctx, Options{StreamID: "cam1", Port: port})
	if err != nil || again != port {
		t.Fatalf("reopen on port %d: %d, %v", port, again, err)
	}
	if published(f, "rtp", "cam1") {
		t.Error("the closed server's stream is still published")
	}
}

func TestTimeoutThenReopen(t *testing.T) {
	f := newFixture(t, 200*time.Millisecond)
	ctx := context.Background()
	port, err := f.reg.Open(ctx, Options{StreamID: "cam2", SSRC: 42, TCPMode: TCPPassive})
	if err != nil {
		t.Fatal(err)
	}
	s := newSender(t, "udp", port, 42)
	s.send(t, 3)
	var to TimeoutInfo
	select {
	case to = <-f.timeouts:
	case <-time.After(10 * time.Second):
		t.Fatal("no timeout")
	}
	want := TimeoutInfo{LocalPort: port, Vhost: engine.DefaultVhost, App: "rtp", StreamID: "cam2", TCPMode: TCPPassive, SSRC: 42}
	if to != want {
		t.Errorf("timeout %+v, want %+v", to, want)
	}
	// When the hook is told, the id and port are free.
	if _, err := f.reg.Open(ctx, Options{StreamID: "cam2", Port: port, TCPMode: TCPPassive}); err != nil {
		t.Fatalf("reopen after timeout: %v", err)
	}
}

// A lossy sender keeps its server: the timeout counts packets that
// arrive, not frames decoded. The test reads the timeout decision itself
// at chosen instants rather than waiting on the clock.
func TestLossKeepsServerOpen(t *testing.T) {
	f := newFixture(t, time.Hour)
	key := engine.NewKey("", "rtp", "lossy")
	port, err := f.reg.Open(context.Background(), Options{StreamID: "lossy"})
	if err != nil {
		t.Fatal(err)
	}
	s := newSender(t, "udp", port, 7)
	var beforeLast time.Time
	for i := 0; i < 40; i++ {
		s.seq++ // every other packet lost
		beforeLast = time.Now()
		s.send(t, 1)
	}
	// (The gaps are counted as lost once the reorder buffer gives up on
	// them, at later packets; pkg/rtp tests that.)
	waitFor(t, 5*time.Second, "40 packets", func() bool {
		st, ok := f.reg.Stream(key)
		return ok && st.Stats.Packets == 40
	})
	srv := f.reg.find(key)
	last := time.Unix(0, srv.lastPacket.Load())
	if last.Before(beforeLast) {
		t.Fatalf("the last lossy packet did not move the timeout on (last %v, sent after %v)", last, beforeLast)
	}
	if _, expired := srv.checkTimeouts(last.Add(time.Hour - time.Second)); expired {
		t.Error("timed out within the timeout of the last packet")
	}
	if _, expired := srv.checkTimeouts(last.Add(time.Hour + time.Second)); !expired {
		t.Error("not timed out a timeout after the last packet")
	}
}

func TestPauseCheck(t *testing.T) {
	f := newFixture(t, time.Hour)
	key := engine.NewKey("", "rtp", "paused")
	if _, err := f.reg.Open(context.Background(), Options{StreamID: "paused"}); err != nil {
		t.Fatal(err)
	}
	srv := f.reg.find(key)
	now := time.Now()
	if err := f.reg.PauseCheck(key, 0); err != nil {
		t.Fatal(err)
	}
	if _, expired := srv.checkTimeouts(now.Add(10 * time.Hour)); expired {
		t.Error("a server paused until resumed timed out")
	}
	if in, ok := f.reg.Info(key); !ok || !in.CheckPaused {
		t.Fatalf("paused server: %+v %v", in, ok)
	}
	// A pause for a while counts the timeout from the pause's end.
	if err := f.reg.PauseCheck(key, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, expired := srv.checkTimeouts(now.Add(time.Hour + 30*time.Minute)); expired {
		t.Error("timed out half a timeout after the pause ended")
	}
	if _, expired := srv.checkTimeouts(now.Add(2*time.Hour + time.Minute)); !expired {
		t.Error("not timed out a timeout after the pause ended")
	}
	if err := f.reg.ResumeCheck(key); err != nil {
		t.Fatal(err)
	}
	// Resumed, and the timeout shortened: the owner's timer closes it.
	f.cfg.Store(&Config{Ports: PortRange{Min: 61000, Max: 61999}, Timeout: 100 * time.Millisecond})
	srv.poke()
	select {
	case <-f.timeouts:
	case <-time.After(10 * time.Second):
		t.Fatal("resumed server never timed out")
	}
	if err := f.reg.PauseCheck(engine.NewKey("", "rtp", "none"), time.Second); !errors.Is(err, ErrNotFound) {
		t.Errorf("pause of a missing id: %v", err)
	}
}

func TestSSRCFilterAndSecondSender(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	key := engine.NewKey("", "rtp", "filtered")
	port, err := f.reg.Open(context.Background(), Options{StreamID: "filtered", SSRC: 100})
	if err != nil {
		t.Fatal(err)
	}
	newSender(t, "udp", port, 99).send(t, 5) // wrong SSRC
	good := newSender(t, "udp", port, 100)
	good.send(t, 5)
	waitFor(t, 5*time.Second, "5 packets", func() bool {
		st, ok := f.reg.Stream(key)
		return ok && st.Stats.Packets == 5
	})
	waitFor(t, 5*time.Second, "mismatches counted", func() bool {
		in, _ := f.reg.Info(key)
		return in.Dropped["ssrc_mismatch"] == 5
	})
	if err := f.reg.UpdateSSRC(key, 99); err != nil {
		t.Fatal(err)
	}
	if in, _ := f.reg.Info(key); in.SSRC != 99 {
		t.Errorf("ssrc %d after update", in.SSRC)
	}

	// Without a filter: a second camera (another SSRC, another address)
	// is dropped; the first camera moving to a new port (NAT rebinding,
	// same SSRC) is followed.
	key2 := engine.NewKey("", "rtp", "first")
	port2, err := f.reg.Open(context.Background(), Options{StreamID: "first"})
	if err != nil {
		t.Fatal(err)
	}
	cam := newSender(t, "udp", port2, 1)
	cam.send(t, 4)
	waitFor(t, 5*time.Second, "the first camera", func() bool {
		st, ok := f.reg.Stream(key2)
		return ok && st.Stats.Packets == 4
	})
	newSender(t, "udp", port2, 2).send(t, 3)
	moved := newSender(t, "udp", port2, 1)
	moved.seq = cam.seq
	moved.send(t, 4)
	waitFor(t, 5*time.Second, "the moved camera followed, the second dropped", func() bool {
		in, _ := f.reg.Info(key2)
		st, _ := f.reg.Stream(key2)
		return in.Dropped["other_sender"] == 3 && st.Stats.Packets == 8 &&
			st.Peer.String() == moved.conn.LocalAddr().String()
	})
}

func TestMultiplexBySSRC(t *testing.T) {
	f := newFixture(t, time.Hour)
	port, err := f.reg.Open(context.Background(), Options{StreamID: "mux", Multiplex: true, ReusePort: true})
	if err != nil {
		t.Fatal(err)
	}
	a := newSender(t, "udp", port, 0x11)
	b := newSender(t, "udp", port, 0xABCDEF01)
	a.send(t, 3)
	b.send(t, 3)
	waitFor(t, 5*time.Second, "two streams", func() bool {
		return published(f, "rtp", "00000011") && published(f, "rtp", "ABCDEF01")
	})
	// a has been silent for more than the timeout, b has not: at its next
	// look the owner ends a's stream only. (a's last packet is set back
	// rather than waited for.)
	srv := f.reg.find(engine.NewKey("", "rtp", "mux"))
	srv.mu.Lock()
	srv.sessions[0x11].lastPacket.Store(time.Now().Add(-2 * time.Hour).UnixNano())
	srv.mu.Unlock()
	srv.poke()
	waitFor(t, 5*time.Second, "the silent SSRC's stream ended", func() bool { return !published(f, "rtp", "00000011") })
	if !published(f, "rtp", "ABCDEF01") {
		t.Fatal("the sending SSRC's stream ended too")
	}
	if _, ok := f.reg.Info(engine.NewKey("", "rtp", "mux")); !ok {
		t.Fatal("a multiplexed server closed with its streams")
	}
}

func TestTCPPassiveAndActive(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	ctx := context.Background()
	port, err := f.reg.Open(ctx, Options{StreamID: "tcp1", TCPMode: TCPPassive})
	if err != nil {
		t.Fatal(err)
	}
	newSender(t, "tcp", port, 5).send(t, 8)
	waitFor(t, 5*time.Second, "8 packets over TCP", func() bool {
		st, ok := f.reg.Stream(engine.NewKey("", "rtp", "tcp1"))
		return ok && st.Stats.Packets == 8 && st.Transport == "tcp"
	})

	// Active: the server dials the camera, which sends once connected.
	camera, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer camera.Close()
	go func() {
		c, err := camera.Accept()
		if err != nil {
			return
		}
		s := &sender{conn: c, ssrc: 6}
		for i := 0; i < 4; i++ {
			b := s.packet(make([]byte, 100))
			c.Write(append([]byte{byte(len(b) >> 8), byte(len(b))}, b...))
		}
		// The camera keeps the connection until the server closes it.
		c.Read(make([]byte, 1))
		c.Close()
	}()
	if _, err := f.reg.Open(ctx, Options{StreamID: "tcp2", TCPMode: TCPActive}); err != nil {
		t.Fatal(err)
	}
	camAddr := netip.MustParseAddrPort(camera.Addr().String())
	if err := f.reg.Connect(ctx, engine.NewKey("", "rtp", "tcp1"), camAddr); err == nil {
		t.Error("connect on a passive server succeeded")
	}
	if err := f.reg.Connect(ctx, engine.NewKey("", "rtp", "tcp2"), camAddr); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "4 packets over an active connection", func() bool {
		st, ok := f.reg.Stream(engine.NewKey("", "rtp", "tcp2"))
		return ok && st.Stats.Packets == 4
	})
	if !f.reg.Close(engine.NewKey("", "rtp", "tcp2")) {
		t.Fatal("close tcp2")
	}
}

// The stream closed from the engine's side (close_streams) ends its RTP
// server; an open right after never hears "already exists".
func TestStreamClosedFreesServer(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		port, err := f.reg.Open(ctx, Options{StreamID: "closeme"})
		if err != nil {
			t.Fatalf("cycle %d: open: %v", i, err)
		}
		newSender(t, "udp", port, 9).send(t, 2)
		// Published, and the RTP server has taken its publisher (a close
		// in between, microseconds wide, is seen only once it has).
		waitFor(t, 5*time.Second, "published", func() bool {
			_, taken := f.reg.Stream(engine.NewKey("", "rtp", "closeme"))
			return published(f, "rtp", "closeme") && taken
		})
		if found, err := f.eng.CloseStream(ctx, engine.NewKey("", "rtp", "closeme"), "test"); err != nil || !found {
			t.Fatalf("close stream: %v %v", found, err)
		}
	}
}

type renamer struct{ to string }

func (r renamer) AuthorizePublish(ctx context.Context, key engine.Key, s engine.SessionInfo) (engine.PublishOptions, error) {
	return engine.PublishOptions{StreamReplace: r.to}, nil
}
func (renamer) AuthorizePlay(context.Context, engine.Key, engine.SessionInfo) error { return nil }

// The WVP flow: on_publish renames rtp/HEX to a device id; the renamed id
// reaches the same server, and the origin URL keeps the SSRC id.
func TestRenamedStreamIsAnAlias(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	f.eng.SetAuthorizer(renamer{to: "34020000001320000001_34020000001320000001"})
	ctx := context.Background()
	port, err := f.reg.Open(ctx, Options{StreamID: "0200000001"})
	if err != nil {
		t.Fatal(err)
	}
	newSender(t, "udp", port, 200000001).send(t, 3)
	renamed := engine.NewKey("", "rtp", "34020000001320000001_34020000001320000001")
	waitFor(t, 5*time.Second, "renamed stream", func() bool { return published(f, "rtp", renamed.Stream) })
	info, _, _ := f.eng.Stream(ctx, renamed)
	if info.Publisher == nil || info.Publisher.OriginURL != "rtp://__defaultVhost__/rtp/0200000001" {
		t.Errorf("origin %+v", info.Publisher)
	}
	if st, ok := f.reg.Stream(renamed); !ok || !st.Published {
		t.Error("getRtpInfo by the new name finds nothing")
	}
	if err := f.reg.UpdateSSRC(renamed, 5); err != nil {
		t.Errorf("updateRtpServerSSRC by the new name: %v", err)
	}
	if !f.reg.Close(renamed) {
		t.Fatal("closeRtpServer by the new name: no hit")
	}
	if _, err := f.reg.Open(ctx, Options{StreamID: "0200000001", Port: port}); err != nil {
		t.Fatalf("reopen: %v", err)
	}
}

// Failure mode 3: open, close and timeouts from many goroutines never
// give a false "already exists" and never leak a port or a socket.
func TestOpenCloseTimeoutStorm(t *testing.T) {
	f := newFixture(t, 100*time.Millisecond)
	baseline := openFDs(t)
	ctx := context.Background()
	var idLocks [10]sync.Mutex
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(g), 7))
			for c := 0; c < 25; c++ {
				i := rnd.IntN(10)
				id := fmt.Sprintf("storm%d", i)
				key := engine.NewKey("", "rtp", id)
				idLocks[i].Lock() // this goroutine owns the id for the cycle
				port, err := f.reg.Open(ctx, Options{StreamID: id, TCPMode: TCPMode(rnd.IntN(2))})
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("g%d cycle %d: open %s: %v", g, c, id, err))
					mu.Unlock()
					idLocks[i].Unlock()
					continue
				}
				if rnd.IntN(2) == 0 {
					conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
					if err == nil {
						s := &sender{conn: conn, ssrc: uint32(i)}
						for k := 0; k < 3; k++ {
							conn.Write(s.packet(make([]byte, 50)))
						}
						conn.Close()
					}
				}
				switch rnd.IntN(3) {
				case 0, 1:
					f.reg.Close(key)
				case 2:
					// Let it time out; the id is free once the server
					// has left the registry.
					deadline := time.Now().Add(10 * time.Second)
					for {
						if _, ok := f.reg.Info(key); !ok {
							break
						}
						if time.Now().After(deadline) {
							mu.Lock()
							failures = append(failures, "timeout never came for "+id)
							mu.Unlock()
							break
						}
						time.Sleep(10 * time.Millisecond)
					}
				}
				idLocks[i].Unlock()
			}
		}(g)
	}
	wg.Wait()
	for _, fail := range failures {
		t.Error(fail)
	}
	if l := f.reg.List(); len(l) != 0 {
		t.Errorf("servers left: %+v", l)
	}
	f.reg.mu.Lock()
	leaked := len(f.reg.ports.used)
	f.reg.mu.Unlock()
	if leaked != 0 {
		t.Errorf("%d ports still marked used", leaked)
	}
	waitFor(t, 5*time.Second, "file descriptors back to baseline", func() bool { return openFDs(t) <= baseline })
}

// A flood of made-up SSRCs on a multiplexed port is bounded.
func TestSSRCFloodBounded(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	f.reg.MaxStreamsPerPort = 3
	port, err := f.reg.Open(context.Background(), Options{StreamID: "flood", Multiplex: true})
	if err != nil {
		t.Fatal(err)
	}
	// One spoofed packet per SSRC starts nothing (probation); two in
	// sequence do, up to the bound.
	for ssrc := uint32(1000); ssrc <= 1100; ssrc++ {
		newSender(t, "udp", port, ssrc).send(t, 1)
	}
	if in, _ := f.reg.Info(engine.NewKey("", "rtp", "flood")); len(in.Streams) != 0 {
		t.Fatalf("single packets started %d streams", len(in.Streams))
	}
	for ssrc := uint32(1); ssrc <= 50; ssrc++ {
		newSender(t, "udp", port, ssrc).send(t, 2)
	}
	key := engine.NewKey("", "rtp", "flood")
	waitFor(t, 5*time.Second, "47 packets refused", func() bool {
		in, _ := f.reg.Info(key)
		return in.Dropped["too_many_streams"] == 47
	})
	if in, _ := f.reg.Info(key); len(in.Streams) != 3 {
		t.Errorf("%d streams followed, want 3", len(in.Streams))
	}
}

// TCP connections that send nothing end after the RTP timeout, on a
// shared port too (which itself never times out), and there are at most
// as many as the port may follow streams.
func TestIdleTCPConnectionsEnd(t *testing.T) {
	f := newFixture(t, 300*time.Millisecond)
	f.reg.MaxStreamsPerPort = 5
	srv, err := f.reg.OpenShared("127.0.0.1", 0, true)
	if err != nil {
		t.Fatal(err)
	}
	conns := func() int {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.conns)
	}
	for i := 0; i < 8; i++ {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", srv.Port()))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	waitFor(t, 5*time.Second, "5 connections held, 3 refused", func() bool {
		in := f.reg.Shared()[0]
		return conns() == 5 && in.Dropped["tcp_refused"] == 3
	})
	waitFor(t, 10*time.Second, "idle connections closed", func() bool { return conns() == 0 })
}
