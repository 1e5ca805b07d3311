package httpflv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

// bigFrame returns video frame i of size bytes: one NAL unit (IDR when
// key) whose first bytes after the NAL header hold i.
func bigFrame(track *media.Track, i, size int, key bool) *media.Frame {
	p := make([]byte, size)
	binary.BigEndian.PutUint32(p, uint32(size-4))
	p[4] = 0x41
	if key {
		p[4] = 0x65
	}
	binary.BigEndian.PutUint32(p[5:], uint32(i))
	ts := time.Duration(i) * 40 * time.Millisecond
	return &media.Frame{Track: track, DTS: ts, PTS: ts, Key: key, Payload: p}
}

// frameIndex returns the index bigFrame wrote into a video tag body.
func frameIndex(body []byte) int {
	// 5-byte AVC body header, 4-byte NAL length, NAL header byte
	return int(binary.BigEndian.Uint32(body[10:]))
}

// playedFrames is what a test player saw of a bigFrame stream.
type playedFrames struct {
	indices    []int
	keys       []bool
	terminated bool // the chunked body ended cleanly
	err        error
}

// checkSkips reports an error unless the frames are in order and every
// gap ends at a keyframe: a player that skips must resume decodable.
func (p *playedFrames) checkSkips() error {
	if len(p.indices) > 0 && !p.keys[0] {
		return fmt.Errorf("first frame %d is not a keyframe", p.indices[0])
	}
	for i := 1; i < len(p.indices); i++ {
		prev, cur := p.indices[i-1], p.indices[i]
		if cur <= prev {
			return fmt.Errorf("frame %d after frame %d", cur, prev)
		}
		if cur != prev+1 && !p.keys[i] {
			return fmt.Errorf("skipped from frame %d to %d, which is not a keyframe", prev, cur)
		}
	}
	return nil
}

// playBigFrames reads a chunked FLV body of bigFrame frames. pause, when
// set, runs after every read of at most readSize bytes.
func playBigFrames(br *bufio.Reader, readSize int, pause time.Duration) *playedFrames {
	res := &playedFrames{}
	cr := &chunkedReader{br: br}
	var src io.Reader = cr
	if pause > 0 {
		src = &throttled{r: cr, n: readSize, pause: pause}
	}
	fr := flv.NewReader(src, 0)
	for {
		tag, err := fr.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				res.terminated = cr.terminated
			} else {
				res.err = err
			}
			return res
		}
		if tag.Type != flv.TagVideo {
			continue
		}
		p, err := flv.ParseVideo(tag.Body)
		if err != nil {
			res.err = err
			return res
		}
		if p.Type != flv.VideoFrame {
			continue
		}
		res.indices = append(res.indices, frameIndex(tag.Body))
		res.keys = append(res.keys, p.Key)
	}
}

// throttled reads at most n bytes at a time and sleeps after each read.
type throttled struct {
	r     io.Reader
	n     int
	pause time.Duration
}

func (t *throttled) Read(p []byte) (int, error) {
	n, err := t.r.Read(p[:min(len(p), t.n)])
	time.Sleep(t.pause)
	return n, err
}

// TestSlowPlayer: a player that never reads and one that reads too slowly
// must block neither the publisher nor a fast player; the slow ones are
// skipped ahead to a keyframe or ended.
func TestSlowPlayer(t *testing.T) {
	cfg := testConfig()
	cfg.MaxReaderLag = 100 * time.Millisecond
	cfg.MaxReaderLagBytes = 256 << 10
	ts := newTestServer(t, cfg)
	// A player whose socket takes nothing is cut off after this long;
	// the default (15s) would only make the test slow. A publisher held
	// back by it would wait this long for a WriteFrame.
	ts.h.WriteTimeout = 2 * time.Second

	const (
		frames    = 100
		frameSize = 64 << 10 // 6.4 MB in all
		gop       = 5
		pace      = 4 * time.Millisecond
	)
	key := engine.NewKey("", "live", "slow")
	path := "/live/slow.live.flv"
	video, _ := clipTracks(t)

	fastConn := sendRequest(t, ts.addr, http.MethodGet, path, "HTTP/1.1")
	trickleConn := sendRequest(t, ts.addr, http.MethodGet, path, "HTTP/1.1")
	sendRequestSmallWindow(t, ts.addr, path, 4<<10) // stuck: never read
	ts.waitWaiting(t, 3)
	pub := publishTrack(t, ts.e, key, video)
	fast := readHead(t, fastConn)
	trickle := readHead(t, trickleConn)
	if fast.status != http.StatusOK || trickle.status != http.StatusOK {
		t.Fatalf("status %d and %d", fast.status, trickle.status)
	}
	_ = fastConn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_ = trickleConn.SetReadDeadline(time.Now().Add(20 * time.Second))
	fastDone := make(chan *playedFrames, 1)
	trickleDone := make(chan *playedFrames, 1)
	go func() { fastDone <- playBigFrames(fast.br, 0, 0) }()
	// About a third of the publisher's rate.
	go func() { trickleDone <- playBigFrames(trickle.br, 16<<10, 4*time.Millisecond) }()

	start := time.Now()
	var slowest time.Duration
	for i := range frames {
		f := bigFrame(video, i, frameSize, i%gop == 0)
		t0 := time.Now()
		if err := pub.WriteFrame(f); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		slowest = max(slowest, time.Since(t0))
		time.Sleep(pace)
	}
	publishTime := time.Since(start)
	pub.Close()
	t.Logf("published %d MB in %v, slowest WriteFrame %v", frames*frameSize>>20, publishTime, slowest)
	// A WriteFrame takes microseconds; one held back by the stuck
	// player would take its write timeout. Half of that tells the two
	// apart without failing on a loaded machine's pauses.
	if slowest > ts.h.WriteTimeout/2 {
		t.Errorf("a WriteFrame took %v: the publisher was blocked", slowest)
	}

	// The fast player gets every frame and the clean end of the stream.
	var got *playedFrames
	select {
	case got = <-fastDone:
	case <-time.After(30 * time.Second):
		t.Fatal("fast player did not finish")
	}
	if got.err != nil || !got.terminated {
		t.Errorf("fast player: err %v, terminated %v", got.err, got.terminated)
	}
	// It keeps up, so it skips nothing; a loaded test machine that stalls
	// it past MaxReaderLag may make it skip a GOP, never more than a few.
	t.Logf("fast player: %d of %d frames", len(got.indices), frames)
	if n := len(got.indices); n < frames-2*gop || got.indices[n-1] != frames-1 {
		t.Errorf("fast player got %d of %d frames, ending with %v", n, frames, got.indices[max(n-3, 0):])
	}
	if err := got.checkSkips(); err != nil {
		t.Errorf("fast player: %v", err)
	}

	// The slow players end (cut off, or at the end of the stream) well
	// before the stream would have played out in real time.
	ts.waitIdle(t, 15*time.Second)
	tr := <-trickleDone
	if err := tr.checkSkips(); err != nil {
		t.Errorf("trickle player: %v", err)
	}
	skipped, dropped := ts.e.Stats().FramesSkipped.Load(), ts.e.Stats().ReadersDropped.Load()
	t.Logf("trickle player: %d frames, terminated %v, err %v", len(tr.indices), tr.terminated, tr.err)
	t.Logf("engine: %d frames skipped, %d readers dropped", skipped, dropped)
	ended := ts.logs.ended()
	if len(ended) != 3 {
		t.Fatalf("%d sessions ended, want 3: %v", len(ended), ended)
	}
	slowSessions := 0
	for _, rec := range ended {
		t.Logf("session %s: %s bytes, skipped %s, reason %q", rec["session"], rec["bytes"], rec["skipped"], rec["reason"])
		if rec["skipped"] != "0" || !strings.HasPrefix(rec["reason"], "stream ended") {
			slowSessions++
		}
	}
	// The stuck player and the trickle player were both too slow.
	if slowSessions < 2 {
		t.Errorf("%d sessions skipped frames or were cut off, want 2 (the stuck and the trickle player)", slowSessions)
	}
	if skipped == 0 && dropped == 0 && len(tr.indices) == frames {
		t.Errorf("the trickle player got every frame at a third of the publisher's rate: no skipping happened")
	}
}
