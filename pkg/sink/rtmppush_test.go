package sink_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/sink"
)

// TestRTMPPush pushes a clip to an RTMP server: a player there gets every
// frame, the push counts bytes while it runs and ends cleanly with the
// stream.
func TestRTMPPush(t *testing.T) {
	t.Parallel()
	tracks, frames := clipframes.Read(t, "h264_aac.flv")
	srv := startRTMP(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := srv.play(ctx, engine.NewKey("", "live", "x"))

	url := "rtmp://" + srv.addr + "/live/x"
	p, err := sink.NewRTMPPush(context.Background(), url, sink.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.URL() != url {
		t.Errorf("URL %q", p.URL())
	}
	ts := track(p)
	e := newEngine(t)
	attachAll(e, ts)
	pub := publish(t, e, tracks, frames[:len(frames)/2], false)
	// The counter moves while the push runs.
	deadline := time.Now().Add(10 * time.Second)
	for p.BytesWritten() == 0 || p.FramesWritten() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no bytes counted within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, f := range frames[len(frames)/2:] {
		if err := pub.WriteFrame(&media.Frame{Track: f.Track, DTS: f.DTS, PTS: f.PTS, Key: f.Key, Payload: f.Payload}); err != nil {
			t.Fatal(err)
		}
	}
	pub.Close()
	ts.wait(t, 10*time.Second, "the stream ended")
	r := p.Result()
	if r.Err != nil || r.Frames != int64(len(frames)) || r.Bytes < 250_000 || len(r.Files) != 0 {
		t.Errorf("result %+v, want %d frames and the clip's bytes", r, len(frames))
	}
	n := <-got
	if want := countCodecs(frames); n[media.CodecH264] != want[media.CodecH264] || n[media.CodecAAC] != want[media.CodecAAC] {
		t.Errorf("the player got %v, want %v", n, want)
	}
}

// TestRTMPPushRefused: a server that is not there is an error naming the
// URL and the cause.
func TestRTMPPushRefused(t *testing.T) {
	t.Parallel()
	tracks, frames := clipframes.Read(t, "h264_aac.flv")
	url := "rtmp://" + testutil.FreeAddr(t) + "/live/x"
	p, err := sink.NewRTMPPush(context.Background(), url, sink.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ts := track(p)
	e := newEngine(t)
	attachAll(e, ts)
	publish(t, e, tracks, frames[:20], false)
	ts.wait(t, 10*time.Second, "connection refused")
	if err := p.Result().Err; err == nil || !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), "refused") {
		t.Errorf("error %v, want connection refused naming %s", err, url)
	}
	if _, err := sink.NewRTMPPush(context.Background(), "rtmp://h/onlyapp", sink.PushOptions{}); err == nil ||
		!strings.Contains(err.Error(), "rtmp://h/onlyapp") {
		t.Errorf("bad URL: error %v", err)
	}
}

// TestRTMPPushStops: a push connecting to a server that never answers
// ends at once on Close or when its ctx ends, without an error; a push
// that publishes ends when it is detached.
func TestRTMPPushStops(t *testing.T) {
	t.Parallel()
	tracks, frames := clipframes.Read(t, "h264_aac.flv")
	for _, how := range []string{"Close", "ctx"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p, err := sink.NewRTMPPush(ctx, "rtmp://"+silentServer(t)+"/live/x", sink.PushOptions{ConnectTimeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			ts := track(p)
			e := newEngine(t)
			attachAll(e, ts)
			publish(t, e, tracks, frames[:20], false)
			select {
			case <-ts.done:
				t.Fatalf("push ended before it was stopped: %+v", p.Result())
			case <-time.After(200 * time.Millisecond):
			}
			if how == "Close" {
				p.Close()
				p.Close() // twice is fine
			} else {
				cancel()
			}
			ts.wait(t, 5*time.Second, how)
			if r := p.Result(); r.Err != nil || r.Frames != 0 {
				t.Errorf("result %+v, want no error and no frames", r)
			}
		})
	}
	t.Run("detach", func(t *testing.T) {
		t.Parallel()
		srv := startRTMP(t)
		p, err := sink.NewRTMPPush(context.Background(), "rtmp://"+srv.addr+"/live/d", sink.PushOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ts := track(p)
		e := newEngine(t)
		publish(t, e, tracks, frames[:10], false)
		if err := e.AttachSink(context.Background(), testKey, "push", func() engine.Sink { return ts }); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for p.FramesWritten() == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("nothing pushed within 10 s: %+v", p.Result())
			}
			time.Sleep(10 * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if ok, err := e.DetachSink(ctx, testKey, "push"); !ok || err != nil {
			t.Fatalf("DetachSink: %v %v", ok, err)
		}
		ts.wait(t, time.Second, "DetachSink returned")
		if r := p.Result(); r.Err != nil || r.Frames == 0 {
			t.Errorf("result %+v", r)
		}
	})
}
