package rtmp

import (
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
)

// TestPublisherIdleLimitsPerState: a publisher that has published but not
// yet sent media (an ffmpeg opening many outputs one by one) gets
// FirstPacketTimeout, however short IdleTimeout is; once its media flows,
// IdleTimeout applies. Each close names the limit that ended it.
func TestPublisherIdleLimitsPerState(t *testing.T) {
	const first, idle = 1500 * time.Millisecond, 200 * time.Millisecond
	ts := startServer(t, engine.DefaultConfig(), func(s *Server) {
		s.FirstPacketTimeout = first
		s.IdleTimeout = idle
	})

	waiting := dialRaw(t, ts.addr, true)
	if code, _ := waiting.publish("live", "waits").GetString("code"); code != "NetStream.Publish.Start" {
		t.Fatalf("publish: %s", code)
	}
	published := time.Now()
	waiting.waitClosed(10 * time.Second)
	// The server's read deadline is FirstPacketTimeout after publish: it
	// cannot have closed sooner, however slow this machine is.
	if waited := time.Since(published); waited < first {
		t.Errorf("a publisher without media was closed after %v, before rtmp.firstPacketSecond (%v)", waited, first)
	}
	ts.requireClosedWithError(t, waiting.local(), "no audio or video in the 1.5s after publish", false)

	flowing := dialRaw(t, ts.addr, true)
	if code, _ := flowing.publish("live", "flows").GetString("code"); code != "NetStream.Publish.Start" {
		t.Fatalf("publish: %s", code)
	}
	// One AAC sequence header: media has begun; then silence.
	flowing.write(AppendMessage(nil, 4, MsgAudio, 1, 0, []byte{0xaf, 0x00, 0x12, 0x10}, 128))
	flowing.waitClosed(10 * time.Second)
	ts.requireClosedWithError(t, flowing.local(), "sent nothing for 200ms (rtmp.keepAliveSecond)", false)
}
