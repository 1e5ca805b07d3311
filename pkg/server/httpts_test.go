package server

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/session"
)

// TestHTTPTS publishes a clip with ffmpeg while ffprobe plays
// /live/x.live.ts and two raw HTTP readers collect the MPEG-TS; the
// readers must get identical bytes from their first keyframe on, and the
// sessions registry must list them as http-ts while they play.
func TestHTTPTS(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startServer(t, nil)
	url := ts.httpURL + "/live/x.live.ts"
	probe := probeAsync(t, url)

	const readers = 2
	bodies := make([][]byte, readers)
	errs := make([]error, readers)
	var wg sync.WaitGroup
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(url)
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("reader %d: status %d", i, resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "video/mp2t" {
				t.Errorf("reader %d: Content-Type %q, want video/mp2t", i, ct)
			}
			bodies[i], errs[i] = io.ReadAll(resp.Body)
		}()
	}
	// Every frame reaches only players that wait for the stream: the
	// raw readers and ffprobe.
	ts.waitWaiting(t, readers+1)
	pub := testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/x", false)

	// While the clip plays, the sessions are listed as http-ts.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := 0
		for _, in := range ts.Sessions.List() {
			if in.Protocol == "http-ts" {
				n++
			}
		}
		if n >= readers+1 { // the raw readers and ffprobe
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d http-ts sessions listed, want %d", n, readers+1)
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := pub.Wait(30 * time.Second); err != nil {
		t.Fatalf("publisher: %v", err)
	}
	res := <-probe
	if res.err != nil {
		t.Fatalf("ffprobe: %v", res.err)
	}
	if res.probe.Format.FormatName != "mpegts" {
		t.Errorf("format %q, want mpegts", res.probe.Format.FormatName)
	}
	v, a := res.probe.Video(), res.probe.Audio()
	if v == nil || a == nil {
		t.Fatalf("streams %+v, want video and audio", res.probe.Streams)
	}
	t.Logf("ffprobe: %s %d frames, %s %d frames", v.CodecName, v.NbReadFrames, a.CodecName, a.NbReadFrames)
	if v.CodecName != "h264" || v.NbReadFrames == 0 {
		t.Errorf("video: %s, %d frames; want h264 and frames", v.CodecName, v.NbReadFrames)
	}
	if a.CodecName != "aac" || a.NbReadFrames == 0 {
		t.Errorf("audio: %s, %d frames; want aac and frames", a.CodecName, a.NbReadFrames)
	}

	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("reader %d: %v", i, err)
		}
	}
	var tails [readers][]byte
	for i, b := range bodies {
		off := firstKeyframePacket(b)
		if off < 0 {
			t.Fatalf("reader %d: no video keyframe in %d bytes", i, len(b))
		}
		tails[i] = b[off:]
	}
	// Both readers waited for the stream, so they start at the same
	// keyframe; in general the later one's bytes are a suffix.
	short, long := tails[0], tails[1]
	if len(short) > len(long) {
		short, long = long, short
	}
	if len(short) == 0 || !bytes.HasSuffix(long, short) {
		t.Errorf("readers' bytes after their first keyframe differ (%d and %d bytes)", len(tails[0]), len(tails[1]))
	}
	if len(tails[0]) != len(tails[1]) {
		t.Errorf("readers got %d and %d bytes from their first keyframe, want the same", len(tails[0]), len(tails[1]))
	}
	waitFor(t, 10*time.Second, "http-ts sessions to end", func() bool {
		return !slices.ContainsFunc(ts.Sessions.List(), func(in session.Info) bool { return in.Protocol == "http-ts" })
	})

}

// firstKeyframePacket returns the offset of the first TS packet that
// starts a video PES (PID 256) with the random access indicator, or -1.
func firstKeyframePacket(b []byte) int {
	for off := 0; off+188 <= len(b); off += 188 {
		p := b[off : off+188]
		pid := int(p[1]&0x1f)<<8 | int(p[2])
		if p[0] == 0x47 && pid == 256 && p[1]&0x40 != 0 && p[3]&0x20 != 0 && p[4] > 0 && p[5]&0x40 != 0 {
			return off
		}
	}
	return -1
}
