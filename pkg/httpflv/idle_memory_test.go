package httpflv

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/engine"
)

// idlePlayerBytes joins n HTTP-FLV players to a stream, lets its
// publisher go (the stream waits in its grace period, every player still
// attached and nothing to send) and returns the Go heap and stacks the
// server side holds per player, after a collection. The players' own
// sockets are in this process too and counted: an upper bound.
func idlePlayerBytes(t testing.TB, n int) float64 {
	cfg := testConfig()
	cfg.ContinuePush = time.Minute
	ts := newTestServer(t, cfg)
	key := engine.NewKey("", "live", "idle")
	pub := publishClip(t, ts.e, key)
	t.Cleanup(func() { pub.Close() })

	before := testutil.HeapAndStacks()
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = sendRequest(t, ts.addr, http.MethodGet, "/live/idle.live.flv", "HTTP/1.1")
	}
	waitFor(t, 10*time.Second, "players attached", func() bool { return ts.h.Sessions() == int64(n) })
	// Each player takes its GOP burst, so its buffers have grown as far
	// as a real join grows them.
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64<<10)
		for total := 0; total < 8<<10; {
			m, err := c.Read(buf)
			if err != nil {
				t.Fatalf("player read: %v", err)
			}
			total += m
		}
	}
	pub.Close()
	waitFor(t, 5*time.Second, "grace period", func() bool {
		info, ok, err := ts.e.Stream(t.Context(), key)
		return err == nil && ok && info.State == engine.StateGrace
	})
	after := testutil.HeapAndStacks()
	for _, c := range conns {
		c.Close()
	}
	ts.waitIdle(t, 10*time.Second)
	return float64(after-before) / float64(n)
}

// TestIdlePlayerMemory holds an idle HTTP-FLV player to at most 14 KiB of
// heap and stack, this test's own client socket included (about 1 KiB):
// under issue 14's 16 KiB for the server's side. Runs on this machine
// measure 11.5-11.8 KiB with the client since players are written by the
// handler's shared writers (one goroutine per player, its socket's
// reader); 15.2-16.7 KiB before, with a writer goroutine each.
func TestIdlePlayerMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("joins hundreds of players")
	}
	per := idlePlayerBytes(t, 300)
	t.Logf("%.0f bytes per idle player", per)
	if testutil.RaceEnabled {
		return // the race detector enlarges stacks and allocations; measured without it
	}
	if per > 14<<10 {
		// Once more before failing: under a loaded machine a player's
		// stack can be caught grown (measured 1.9 KiB over the usual
		// figure once in CI); a real regression shows twice.
		again := idlePlayerBytes(t, 300)
		t.Logf("%.0f bytes per idle player, measured again", again)
		if again > 14<<10 {
			t.Errorf("an idle HTTP-FLV player holds %.1f and %.1f KiB with this test's client, want at most 14", per/1024, again/1024)
		}
	}
}
