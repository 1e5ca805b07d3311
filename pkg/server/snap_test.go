package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/snap"
)

// startSnapServer is startServer with getSnap registered (a no-op once
// server.New registers it).
func startSnapServer(t *testing.T) *testServer {
	t.Helper()
	cfg := config.Default()
	cfg.RTMP.Addr = "127.0.0.1:0"
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.RTPProxy.Addr = "127.0.0.1:0"
	cfg.RTSP.Addr = "" // not needed here; its default ports may be taken
	cfg.General.DataDir = t.TempDir()
	cfg.Protocol.ContinuePush = time.Second
	cfg.General.MaxStreamWait = 15 * time.Second
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := New(cfg, Options{Log: log, Version: "test"})
	s.registerSnap()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, rtmpURL: "rtmp://" + s.RTMPAddr(), httpURL: "http://" + s.HTTPAddr(), logs: logs}
	t.Cleanup(func() {
		ts.stop(t)
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return ts
}

// getSnap calls getSnap and returns the reply's Content-Type and body.
func (ts *testServer) getSnap(t *testing.T, src string, timeoutSec, expireSec string) (string, []byte) {
	t.Helper()
	q := url.Values{"url": {src}, "timeout_sec": {timeoutSec}, "expire_sec": {expireSec}}
	resp, err := http.Get(ts.httpURL + "/index/api/getSnap?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Get("Content-Type"), body
}

func TestGetSnapOfALiveStream(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startSnapServer(t)
	pub := testutil.PublishClip(t, "h264_aac.flv", ts.rtmpURL+"/live/x", true)
	defer pub.Stop()
	waitStream(t, ts, "live/x")

	ctype, body := ts.getSnap(t, ts.rtmpURL+"/live/x", "10", "60")
	if ctype != "image/jpeg" || len(body) < 2 || body[0] != 0xff || body[1] != 0xd8 {
		t.Fatalf("getSnap: %q, %d bytes: %.200q", ctype, len(body), body)
	}
	if string(body) == string(snap.Default()) {
		t.Fatal("getSnap of a live stream gave the default image")
	}
	file := filepath.Join(t.TempDir(), "snap.jpeg")
	if err := os.WriteFile(file, body, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := testutil.FFprobe(ctx, t, file)
	if err != nil {
		t.Fatal(err)
	}
	want, err := testutil.FFprobe(ctx, t, testutil.Clip(t, "h264_aac.flv"))
	if err != nil {
		t.Fatal(err)
	}
	gv, wv := got.Video(), want.Video()
	if gv == nil || wv == nil || gv.Width != wv.Width || gv.Height != wv.Height || gv.Width == 0 {
		t.Fatalf("snapshot %+v, stream %+v: sizes differ", gv, wv)
	}
	// Cached under the data dir by the MD5 of the url.
	cached, err := os.ReadFile(filepath.Join(ts.Config().General.DataDir, "snap", snap.Key(ts.rtmpURL+"/live/x")+".jpeg"))
	if err != nil || string(cached) != string(body) {
		t.Fatalf("cache: %d bytes, %v", len(cached), err)
	}
	_, again := ts.getSnap(t, ts.rtmpURL+"/live/x", "10", "60")
	if string(again) != string(body) {
		t.Error("second getSnap within expire_sec is not the cached snapshot")
	}
	pub.Stop() // an ffmpeg child of this process too
	if pids := ffmpegChildren(t, ts.rtmpURL+"/"); len(pids) != 0 {
		t.Errorf("ffmpeg left running: %v", pids)
	}
}

func TestGetSnapOfADeadURL(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	ts := startSnapServer(t)
	// Accepts and never answers: ffmpeg waits for the RTMP handshake
	// until it is killed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()

	start := time.Now()
	ctype, body := ts.getSnap(t, "rtmp://"+ln.Addr().String()+"/live/x", "2", "0")
	took := time.Since(start)
	if ctype != "image/jpeg" || string(body) != string(snap.Default()) {
		t.Fatalf("dead url: %q, %d bytes, want the default image", ctype, len(body))
	}
	// At timeout_sec, not before; the upper bound only catches a
	// timeout not applied (ffmpeg would wait for ever), not a slow
	// machine.
	if took < 2*time.Second || took > 15*time.Second {
		t.Errorf("answered after %v, want about timeout_sec (2s)", took)
	}
	if pids := ffmpegChildren(t, "rtmp://"+ln.Addr().String()+"/"); len(pids) != 0 {
		t.Errorf("ffmpeg left running: %v", pids)
	}
	if !strings.Contains(ts.logs.String(), "snapshot failed") {
		t.Error("failure not logged")
	}

	// Refused before anything runs, in the JSON envelope.
	r := ts.apiCall(t, "getSnap", url.Values{"url": {"concat:/etc/passwd"}, "timeout_sec": {"1"}, "expire_sec": {"1"}})
	if code(r) != -300 {
		t.Fatalf("refused url: %v", r)
	}
}
