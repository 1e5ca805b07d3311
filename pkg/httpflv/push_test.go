package httpflv

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
)

// writersWaiting counts goroutines of players whose socket was full
// (pushwrite's catchUp).
func writersWaiting() int {
	var b strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
	return strings.Count(b.String(), "pushwrite.(*Writer).catchUp")
}

// A player whose socket fills up is written by a goroutine of its own
// until it has caught up, then by the shared writers again; it loses
// nothing and its bytes are those of a player that kept up.
func TestPlayerCatchesUpAfterFullSocket(t *testing.T) {
	ts := newTestServer(t, testConfig()) // no lag skipping: nothing may be lost
	ts.h.WriteTimeout = 20 * time.Second
	path := "/live/full.live.flv"
	key := engine.NewKey("", "live", "full")
	video, _ := clipTracks(t)

	fastConn := sendRequest(t, ts.addr, http.MethodGet, path, "HTTP/1.1")
	// Not much smaller: a receive buffer under loopback's 64 KB segment
	// opens its window so rarely that a reading player stalls too.
	stalledConn := sendRequestSmallWindow(t, ts.addr, path, 128<<10)
	ts.waitWaiting(t, 2)
	pub := publishTrack(t, ts.e, key, video)
	fast, stalled := readHead(t, fastConn), readHead(t, stalledConn)
	_ = fast.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	_ = stalled.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	type body struct {
		data []byte
		err  error
	}
	read := func(r *rawResponse, out chan<- body) {
		cr := &chunkedReader{br: r.br}
		data, err := io.ReadAll(cr)
		if err == nil && !cr.terminated {
			err = io.ErrUnexpectedEOF
		}
		out <- body{data, err}
	}
	fastDone, stalledDone := make(chan body, 1), make(chan body, 1)
	go read(fast, fastDone)

	const frameSize = 32 << 10
	i := 0
	publishFrames := func(n int) {
		for range n {
			if err := pub.WriteFrame(bigFrame(video, i, frameSize, i%25 == 0)); err != nil {
				t.Fatal(err)
			}
			i++
		}
	}
	// 9.6 MB: more than the stalled player's socket takes (its
	// receive buffer, and the sending side's, which grows to 4 MB).
	publishFrames(300)
	waitFor(t, 10*time.Second, "the stalled player's writer to wait for its socket", func() bool { return writersWaiting() == 1 })

	go read(stalled, stalledDone)
	waitFor(t, 20*time.Second, "the stalled player to catch up", func() bool { return writersWaiting() == 0 })
	publishFrames(50)
	pub.Close() // the stream ends after the grace period

	var got [2]body
	for k, ch := range []chan body{fastDone, stalledDone} {
		select {
		case got[k] = <-ch:
		case <-time.After(15 * time.Second):
			var b strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Log(b.String())
			t.Fatal("a player did not get the end of the stream")
		}
		if got[k].err != nil {
			t.Fatalf("player %d: %v", k, got[k].err)
		}
	}
	indices := playBigFramesFrom(t, got[0].data)
	if len(indices) != 350 || indices[349] != 349 {
		t.Fatalf("the fast player got %d frames, want 350", len(indices))
	}
	if !bytes.Equal(got[0].data, got[1].data) {
		t.Fatalf("the stalled player got %d bytes, unlike the fast player's %d", len(got[1].data), len(got[0].data))
	}
}

// playBigFramesFrom returns the indices of bigFrame's frames in an FLV
// body.
func playBigFramesFrom(t *testing.T, data []byte) []int {
	t.Helper()
	var indices []int
	fr := flv.NewReader(bytes.NewReader(data), 0)
	for {
		tag, err := fr.Next()
		if errors.Is(err, io.EOF) {
			return indices
		}
		if err != nil {
			t.Fatal(err)
		}
		if p, err := flv.ParseVideo(tag.Body); err == nil && tag.Type == flv.TagVideo && p.Type == flv.VideoFrame {
			indices = append(indices, frameIndex(tag.Body))
		}
	}
}

// Players are written by a few shared goroutines: each holds one
// goroutine of its own (the reader of its socket), not two.
func TestPlayersShareWriters(t *testing.T) {
	ts := newTestServer(t, testConfig())
	key := engine.NewKey("", "live", "shared")
	pub := publishClip(t, ts.e, key)
	defer pub.Close()

	const players = 100
	// Start the shared writers before counting.
	sendRequest(t, ts.addr, http.MethodGet, "/live/shared.live.flv", "HTTP/1.1")
	waitFor(t, 5*time.Second, "the first player", func() bool { return ts.h.Sessions() == 1 })
	before := runtime.NumGoroutine()
	for range players {
		sendRequest(t, ts.addr, http.MethodGet, "/live/shared.live.flv", "HTTP/1.1")
	}
	waitFor(t, 10*time.Second, "players attached", func() bool { return ts.h.Sessions() == players+1 })
	// Players' GOP bursts may still be being written; a writer waiting for
	// a socket is a goroutine while it waits.
	waitFor(t, 10*time.Second, "no writer waiting for a socket", func() bool { return writersWaiting() == 0 })
	per := float64(runtime.NumGoroutine()-before) / players
	t.Logf("%.2f goroutines per player", per)
	if per > 1.1 {
		t.Errorf("%.2f goroutines per player, want 1", per)
	}
}

// Players of a stream that ends get the last chunk before the
// connection closes, every time: the writer's end interrupts the
// session's read, and the session must not close the connection (by
// closing the reader) under the last chunk.
func TestPlayersGetEndOfStream(t *testing.T) {
	cfg := testConfig()
	cfg.ContinuePush = 0 // the stream ends when its publisher leaves
	ts := newTestServer(t, cfg)
	const rounds, players = 5, 10
	key := engine.NewKey("", "live", "end")
	for round := range rounds {
		pub := publishClip(t, ts.e, key)
		resps := make([]*rawResponse, players)
		for i := range resps {
			resps[i] = rawRequest(t, ts.addr, http.MethodGet, "/live/end.live.flv", "HTTP/1.1")
		}
		waitFor(t, 10*time.Second, "players attached", func() bool { return ts.h.Sessions() == players })
		pub.Close()
		for i, r := range resps {
			cr := &chunkedReader{br: r.br}
			_ = r.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
			if _, err := io.ReadAll(cr); err != nil || !cr.terminated {
				t.Fatalf("round %d, player %d: %v, last chunk %v", round, i, err, cr.terminated)
			}
		}
		ts.waitIdle(t, 10*time.Second)
	}
}
