package rtpserver

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	pionrtp "github.com/pion/rtp"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// TestPacedReads: with MergeRead set, a UDP server that receives packets
// reads what arrived at each tick of the shared clock; every packet is
// delivered once and in order, a datagram too large for
// the buffer is dropped and counted in a drained batch too, and a server
// that went quiet is woken again by the next packet and holds no place
// in the clock meanwhile.
func TestPacedReads(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("reads are not paced there")
	}
	f := newFixture(t, 5*time.Second)
	cfg := *f.cfg.Load()
	cfg.MergeRead = 30 * time.Millisecond
	f.cfg.Store(&cfg)
	port, err := f.reg.Open(context.Background(), Options{StreamID: "paced"})
	if err != nil {
		t.Fatal(err)
	}
	key := engine.NewKey("", "rtp", "paced")
	s := newSender(t, "udp", port, 0x0a0b0c0d)
	packets := func() int64 {
		st, _ := f.reg.Stream(key)
		return int64(st.Stats.Packets)
	}
	want := int64(0)
	for burst := range 20 {
		s.send(t, 10)
		want += 10
		if burst == 10 {
			if _, err := s.conn.Write(s.packet(make([]byte, udpBufSize+100))); err != nil {
				t.Fatal(err)
			}
			s.send(t, 5)
			want += 5
		}
		time.Sleep(5 * time.Millisecond) // a camera's pace: bursts inside each window
	}
	waitFor(t, 5*time.Second, "every packet of the bursts", func() bool { return packets() == want })
	srv := f.reg.find(key)
	if srv == nil || srv.drops.truncated.Load() != 1 {
		t.Fatalf("oversized datagrams counted: %v", srv)
	}
	// The oversized datagram took a sequence number: one lost, no more.
	if st, _ := f.reg.Stream(key); st.Stats.Lost != 1 {
		t.Fatalf("%d packets counted lost, want the oversized one: the reads reordered or dropped some", st.Stats.Lost)
	}

	// Quiet for several windows: back in a blocking read, woken by the
	// next packet.
	time.Sleep(100 * time.Millisecond)
	s.send(t, 3)
	want += 3
	waitFor(t, 5*time.Second, "the packets after a quiet spell", func() bool { return packets() == want })
	// Quiet again: the server holds no phase of the read clock.
	waitFor(t, 5*time.Second, "the quiet server giving back its read phase", func() bool { return f.reg.readClock.Joined() == 0 })
}

// framePipeline writes each packet's payload as a G.711 frame, inside
// Packet, and says so (PipelineOptions.Batched).
type framePipeline struct {
	o     PipelineOptions
	track *media.Track
}

func (p *framePipeline) Packet(pkt *pionrtp.Packet, lost int) {
	if p.track == nil {
		p.track, _ = media.NewG711Track(media.CodecG711A, 8000, 1)
		_ = p.o.Sink.SetTracks([]*media.Track{p.track})
		p.o.Batched()
	}
	at := time.Duration(pkt.Timestamp) * time.Second / 8000
	_ = p.o.Sink.WriteFrame(&media.Frame{Track: p.track, DTS: at, PTS: at, Payload: []byte{byte(pkt.SequenceNumber)}})
}
func (p *framePipeline) Close()                       {}
func (p *framePipeline) Describe() (string, []string) { return "frames", nil }

// TestPacedReadsWakePlayers: a UDP stream with paced reads wakes its
// players once per read (engine.Publisher's DeferWakes), not per frame,
// even with the engine's merge-write window at 0 (wake per frame); and
// the last frames of a burst reach a player without another packet to
// push them. Once the pacing is turned off, frames wake the players one
// by one again.
func TestPacedReadsWakePlayers(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("reads are not paced there")
	}
	f := newFixture(t, 5*time.Second)
	setWindow := func(d time.Duration) {
		cfg := *f.cfg.Load()
		cfg.MergeRead = d
		f.cfg.Store(&cfg)
	}
	setWindow(30 * time.Millisecond)
	f.reg.NewPipeline = func(o PipelineOptions) Pipeline { return &framePipeline{o: o} }
	port, err := f.reg.Open(context.Background(), Options{StreamID: "woken"})
	if err != nil {
		t.Fatal(err)
	}
	key := engine.NewKey("", "rtp", "woken")
	s := newSender(t, "udp", port, 0x01020304)
	// The receiver holds a sequence's first packet until the second
	// comes; Play waits for the stream's track, declared at the first.
	s.send(t, 2)
	r, err := f.eng.Play(t.Context(), key, engine.SessionInfo{ID: "player", Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var wakes atomic.Int64
	if err := r.SetWake(t.Context(), func() { wakes.Add(1) }); err != nil {
		t.Fatal(err)
	}
	buf := make([]*media.Frame, 0, 64)
	last := -1
	reached := func(want byte) func() bool {
		return func() bool {
			frames, err := r.Poll(buf[:0])
			if err != nil {
				t.Fatal(err)
			}
			for _, fr := range frames {
				last = int(fr.Payload[0])
			}
			return last == int(want)
		}
	}
	burst := func(round int) int64 {
		before := wakes.Load()
		s.send(t, 10)
		waitFor(t, 5*time.Second, fmt.Sprintf("burst %d's last frame at the player", round), reached(byte(s.seq-1)))
		return wakes.Load() - before
	}
	for round := range 3 {
		// Ten packets sent at once come in one or two reads (the
		// blocking read of a quiet server takes the first), three if a
		// tick falls inside the burst; a wake-up per frame would be ten.
		if n := burst(round); n > 3 {
			t.Fatalf("burst %d woke the player %d times, want a wake-up per read (at most 3)", round, n)
		}
		time.Sleep(100 * time.Millisecond) // quiet: the next burst starts with a blocking read
	}

	setWindow(0)
	burst(3) // flushed by the first read, which sees the pacing off
	if n := burst(4); n < 10 {
		t.Fatalf("with the pacing off a burst of 10 woke the player %d times, want one per frame", n)
	}
}
