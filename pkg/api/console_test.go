package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/mediakit/mediakit/pkg/access"
	"github.com/mediakit/mediakit/pkg/logring"
)

// TestRecentLogs: getRecentLogs gives the ring's warnings and errors,
// oldest first, and only newer ones with since; behind the secret.
func TestRecentLogs(t *testing.T) {
	ring := logring.New(10)
	log := slog.New(logring.Wrap(slog.DiscardHandler, ring, func(l slog.Level) bool { return l >= slog.LevelWarn }))
	s := NewServer(func() string { return testSecret }, nil, nil)
	s.RegisterLogs(ring)
	log.Info("not kept")
	log.Warn("rtp server closed", "port", 30000)
	log.Error("proxy failed", "key", "live/cam")

	m := rtpCall(t, s, "getRecentLogs", url.Values{"secret": {testSecret}})
	wantCode(t, m, CodeSuccess, "")
	data := jObjects(t, m, "data")
	if len(data) != 2 || data[0]["msg"] != "rtp server closed" || data[0]["attrs"] != "port=30000" || data[1]["level"] != "ERROR" {
		t.Fatalf("getRecentLogs: %v", data)
	}
	if data := jObjects(t, rtpCall(t, s, "getRecentLogs", url.Values{"secret": {testSecret}, "since": {"1"}}), "data"); len(data) != 1 || data[0]["msg"] != "proxy failed" {
		t.Errorf("since=1: %v", data)
	}
	wantCode(t, rtpCall(t, s, "getRecentLogs", url.Values{"secret": {"wrong"}}), CodeAuthFailed, "")
}

// TestRecordStreams: getMP4RecordStreams lists the streams with day
// directories under the MP4 root (stream names with '/' included),
// sorted, and follows no link.
func TestRecordStreams(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"live/cam/2026-12-01", "live/cam/2026-12-02", "live/cam/sub/2026-12-01", "proxy/p1/2026-11-30", "live/empty", "live/notaday/2026-13"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(outside, "2026-12-01"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "live", "linked")); err != nil {
		t.Fatal(err)
	}
	s := NewServer(nil, nil, nil)
	s.RegisterRecord(RecordDeps{MP4Root: func() string { return root }})
	m := rtpCall(t, s, "getMP4RecordStreams", nil)
	wantCode(t, m, CodeSuccess, "")
	var got []string
	for _, o := range jObjects(t, m, "data") {
		got = append(got, fmt.Sprintf("%s/%s:%d", o["app"], o["stream"], jInt(t, o, "days")))
	}
	want := []string{"live/cam:2", "live/cam/sub:1", "proxy/p1:1"}
	if len(got) != len(want) {
		t.Fatalf("streams %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("streams %v, want %v", got, want)
		}
	}
	// No root yet: an empty list, not an error.
	s2 := NewServer(nil, nil, nil)
	s2.RegisterRecord(RecordDeps{MP4Root: func() string { return filepath.Join(root, "none") }})
	if m := rtpCall(t, s2, "getMP4RecordStreams", nil); len(jArr(t, m, "data")) != 0 {
		t.Errorf("no root: %v", m)
	}
}

// TestConsoleHook: Console is asked only after the address check, and
// its yes authorises an API call without the secret; existing callers
// (the secret, no cookie) are served as before.
func TestConsoleHook(t *testing.T) {
	s, calls := accessServer(t, testSecret, access.Settings{AllowIPRange: "127.0.0.1"})
	asked := 0
	s.Console = func(r *http.Request, client netip.Addr, files bool) bool {
		asked++
		return r.Header.Get(ConsoleHeader) == "1" && client.IsLoopback() && !files
	}
	call := func(remote string, header bool, query string) {
		r := httptest.NewRequest(http.MethodGet, Prefix+"close_streams"+query, nil)
		r.RemoteAddr = remote
		r.Host = "127.0.0.1:8080"
		if header {
			r.Header.Set(ConsoleHeader, "1")
		}
		newRecorder(s, r)
	}
	call("127.0.0.1:1", true, "")
	if *calls != 1 {
		t.Fatal("a console request was refused")
	}
	call("127.0.0.1:1", false, "")
	if *calls != 1 {
		t.Fatal("a request the console hook refused ran without the secret")
	}
	call("127.0.0.1:1", false, "?secret="+testSecret)
	if *calls != 2 {
		t.Fatal("the secret no longer works")
	}
	before := asked
	call("203.0.113.9:1", true, "")
	if *calls != 2 || asked != before {
		t.Fatalf("an address outside allow_ip_range reached the console hook (asked %d→%d) or ran", before, asked)
	}
}
