package rtpserver

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
)

// TestOversizedDatagramDropped: a UDP datagram larger than the read
// buffer is dropped and counted, never delivered cut; packets after it
// still arrive. (On Windows the buffer is a whole IP datagram.)
func TestOversizedDatagramDropped(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the buffer holds any datagram there")
	}
	f := newFixture(t, 5*time.Second)
	port, err := f.reg.Open(context.Background(), Options{StreamID: "big"})
	if err != nil {
		t.Fatal(err)
	}
	s := newSender(t, "udp", port, 0x01020304)
	s.send(t, 3)
	if _, err := s.conn.Write(s.packet(make([]byte, udpBufSize+100))); err != nil {
		t.Fatal(err)
	}
	s.send(t, 3)
	key := engine.NewKey("", "rtp", "big")
	waitFor(t, 5*time.Second, "6 packets and one dropped", func() bool {
		st, ok := f.reg.Stream(key)
		srv := f.reg.find(key)
		return ok && st.Stats.Packets == 6 && srv != nil && srv.drops.truncated.Load() == 1
	})
	if in, _ := f.reg.Info(key); in.Dropped["larger_than_16k"] != 1 {
		t.Errorf("info dropped %v, want larger_than_16k 1", in.Dropped)
	}
	// A datagram of exactly the buffer's size is whole, and delivered.
	if _, err := s.conn.Write(s.packet(make([]byte, udpBufSize-12))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the buffer-sized packet", func() bool {
		st, _ := f.reg.Stream(key)
		return st.Stats.Packets == 7
	})
}
