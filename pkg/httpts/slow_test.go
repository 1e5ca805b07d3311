package httpts

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// A player that stops reading is ended by the write timeout, while a
// player that keeps reading the same stream is not held back by it.
func TestStuckPlayerIsCutOff(t *testing.T) {
	ts := newTestServer(t, testConfig())
	ts.h.WriteTimeout = 300 * time.Millisecond
	key := engine.NewKey("", "live", "slow")

	video, audio := clipTracksForTest(t)
	pub, err := ts.e.Publish(context.Background(), key, engine.SessionInfo{ID: "pub", Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.SetTracks([]*media.Track{video, audio}); err != nil {
		t.Fatal(err)
	}
	frame := func(i int) *media.Frame {
		const size = 256 << 10
		p := make([]byte, size)
		binary.BigEndian.PutUint32(p, size-4)
		p[4] = 0x41
		key := i%10 == 0
		if key {
			p[4] = 0x65
		}
		d := time.Duration(i) * 40 * time.Millisecond
		return &media.Frame{Track: video, DTS: d, PTS: d, Key: key, Payload: p}
	}
	if err := pub.WriteFrame(frame(0)); err != nil {
		t.Fatal(err)
	}

	// The stuck player: a tiny receive buffer, and it never reads.
	stuck, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	_ = stuck.(*net.TCPConn).SetReadBuffer(4 << 10)
	fmt.Fprintf(stuck, "GET /live/slow.live.ts HTTP/1.1\r\nHost: %s\r\n\r\n", ts.addr)

	// The good player reads everything.
	good, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	fmt.Fprintf(good, "GET /live/slow.live.ts HTTP/1.1\r\nHost: %s\r\n\r\n", ts.addr)
	resp, err := http.ReadResponse(bufio.NewReader(good), nil)
	if err != nil {
		t.Fatal(err)
	}
	goodDone := make(chan int64)
	go func() {
		n, _ := io.Copy(io.Discard, resp.Body)
		goodDone <- n
	}()
	waitFor(t, 5*time.Second, "two sessions", func() bool { return ts.h.Sessions() == 2 })

	for i := 1; ts.h.Sessions() == 2; i++ {
		if i > 500 {
			t.Fatal("the stuck player was not cut off after 500 frames of 256 KiB")
		}
		if err := pub.WriteFrame(frame(i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if ts.h.Sessions() != 1 {
		t.Fatalf("%d sessions, want the good one left", ts.h.Sessions())
	}
	pub.Close()
	if n := <-goodDone; n < 1<<20 {
		t.Errorf("the good player got %d bytes", n)
	}
}

// clipTracksForTest builds H.264 and AAC tracks from the test clip.
func clipTracksForTest(t testing.TB) (video, audio *media.Track) {
	t.Helper()
	pub := publishClipTracks(t)
	return pub[0], pub[1]
}
