package source

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil/rtspcam"
	"github.com/mediakit/mediakit/pkg/rtsp"
)

// TestRTSP pulls h264_aac.flv from a test camera over TCP and UDP: every
// frame of the clip, its codecs, in order; the bytes are counted.
func TestRTSP(t *testing.T) {
	t.Parallel()
	for _, tr := range []string{"", "tcp", "udp"} {
		t.Run("transport="+tr, func(t *testing.T) {
			t.Parallel()
			cam := rtspcam.Start(t, rtspcam.Options{Speed: 4, UDP: tr == "udp"})
			src := mustOpen(t, cam.URL, Options{RTSPTransport: tr})
			if src.String() != cam.URL || src.Size() != -1 {
				t.Errorf("String %q Size %d", src.String(), src.Size())
			}
			sink := &recSink{}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := src.Run(ctx, sink); err != nil {
				t.Fatalf("Run: %v", err)
			}
			sink.checkClip(t)
			first := src.BytesRead()
			if first < 250_000 { // the clip's media is about 290 kB
				t.Errorf("BytesRead %d after the whole clip", first)
			}
			// Run again (a relay's retry): a new session, bytes add up.
			sink = &recSink{}
			if err := src.Run(ctx, sink); err != nil {
				t.Fatalf("second Run: %v", err)
			}
			sink.checkClip(t)
			if n := src.BytesRead(); n < 2*first-first/10 {
				t.Errorf("BytesRead %d after two runs of %d", n, first)
			}
		})
	}
}

// TestRTSPStall: a camera that stops sending but keeps its session ends
// the Run with ErrNoMedia after the read timeout (RTCP and keep-alives
// do not count as media).
func TestRTSPStall(t *testing.T) {
	t.Parallel()
	for _, tr := range []string{"tcp", "udp"} {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			cam := rtspcam.Start(t, rtspcam.Options{After: rtspcam.Loop, UDP: tr == "udp"})
			const timeout = 1500 * time.Millisecond
			src := mustOpen(t, cam.URL, Options{RTSPTransport: tr, ReadTimeout: timeout})
			sink := &recSink{}
			done := runAsync(context.Background(), src, sink)
			deadline := time.Now().Add(20 * time.Second)
			for v, _ := sink.count(); v < 10; v, _ = sink.count() {
				if time.Now().After(deadline) {
					t.Fatal("no frames within 20 s")
				}
				time.Sleep(10 * time.Millisecond)
			}
			cam.Stall()
			err := waitRun(t, done, timeout+20*time.Second)
			requireStall(t, err, cam.URL, timeout)
			if cam.Sessions() != 1 {
				t.Logf("camera sessions after the stall: %d", cam.Sessions())
			}
		})
	}
}

func TestRTSPCancel(t *testing.T) {
	t.Parallel()
	cam := rtspcam.Start(t, rtspcam.Options{After: rtspcam.Loop})
	src := mustOpen(t, cam.URL, Options{})
	sink := &recSink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, src, sink)
	deadline := time.Now().Add(20 * time.Second)
	for v, _ := sink.count(); v < 5; v, _ = sink.count() {
		if time.Now().After(deadline) {
			t.Fatal("no frames within 20 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	requireStopsAfterCancel(t, cancel, done)
}

// TestRTSPCredentials: credentials in the URL work (Digest, as the
// camera offers), a camera that refuses gives a clear error, and the
// password never shows.
func TestRTSPCredentials(t *testing.T) {
	t.Parallel()
	cam := rtspcam.Start(t, rtspcam.Options{Speed: 4, User: "viewer", Pass: "p@ss:w/rd"})
	u, err := url.Parse(cam.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	u.User = url.UserPassword("viewer", "p@ss:w/rd")
	src := mustOpen(t, u.String(), Options{})
	if strings.Contains(src.String(), "p@ss") || !strings.Contains(src.String(), "viewer") {
		t.Errorf("String() = %q: the password shows or the user does not", src.String())
	}
	sink := &recSink{}
	if err := src.Run(ctx, sink); err != nil {
		t.Fatalf("Run with credentials: %v", err)
	}
	sink.checkClip(t)

	for _, c := range []struct {
		user *url.Userinfo
		want string
	}{
		{nil, "the URL has no credentials"},
		{url.UserPassword("viewer", "not-it"), "refused the URL's credentials"},
	} {
		u.User = c.user
		src := mustOpen(t, u.String(), Options{})
		err := src.Run(ctx, &recSink{})
		if !errors.Is(err, rtsp.ErrUnauthorized) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want ErrUnauthorized saying %q", err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "not-it") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestRTSPOpenErrors(t *testing.T) {
	for _, c := range []struct {
		url  string
		opts Options
		want string
	}{
		{"rtsp://127.0.0.1/x", Options{RTSPTransport: "sctp"}, "unknown transport"},
		{"rtsp:///x", Options{}, "no host"},
		{"rtsps://u:secret@[::1/x", Options{}, "invalid URL"},
	} {
		_, err := Open(c.url, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q): %v, want %q", c.url, err, c.want)
		}
	}
}
