package rtpserver

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
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
