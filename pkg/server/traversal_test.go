package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
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
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/record"
	"github.com/mediakit/mediakit/pkg/store"
)

// rawGet sends path as it is (no client-side cleaning or redirects) and
// returns the status and at most 64 MiB of the body.
func rawGet(t *testing.T, addr, path string) (int, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, body
}

// TestPathTraversalEveryRoute: every route that reads files (recordings
// at /record/, their lists and spans, downloadFile, loadMP4File,
// deleteRecordDirectory) and every route whose path could name one (the
// player's and the console's assets, live HLS and LL-HLS, the player
// page) is tried with "..", its percent-encodings, encoded slashes,
// backslashes, absolute paths, NUL, and symbolic links (a file and a
// stream directory) out of the recording root. No reply carries the
// content of a file outside the roots, nothing outside is deleted, and a
// recording linked in from outside is neither indexed nor played.
func TestPathTraversalEveryRoute(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	dataDir := filepath.Join(base, "data")
	root := filepath.Join(dataDir, "record")
	outside := filepath.Join(base, "outside")
	clip := testutil.Clip(t, "av1_opus.mp4")
	secret := filepath.Join(outside, "secret.mp4")
	day := "2026-12-01"
	for _, p := range []string{
		secret,
		filepath.Join(outside, day, "10-00-00.mp4"),
		filepath.Join(root, "live", "cam", day, "10-00-00.mp4"),
	} {
		copyFile(t, clip, p)
	}
	for _, ext := range []string{".ts", ".m3u8", ".jpg", ".flv"} {
		copyFile(t, clip, filepath.Join(outside, "secret"+ext))
	}
	data, err := os.ReadFile(secret)
	if err != nil {
		t.Fatal(err)
	}
	marker := data[len(data)/2 : len(data)/2+48] // from the media data
	links := map[string]string{
		filepath.Join(root, "live", "cam", day, "link.mp4"):      secret,  // a file linked out
		filepath.Join(root, "live", "linked"):                    outside, // a stream directory linked out
		filepath.Join(root, "live", "leak", day, "10-00-00.mp4"): secret,  // a recording linked out, before the start
	}
	for link, target := range links {
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	ts := startServer(t, func(c *config.Config) { c.General.DataDir = dataDir })
	addr := ts.HTTPAddr()
	dayStart := url.QueryEscape(time.Date(2026, 12, 1, 0, 0, 0, 0, time.Local).Format(time.RFC3339))

	// The index is reconciled with the disk in the background: the
	// legitimate recording gets listed.
	waitFor(t, 20*time.Second, "the planted recording to be indexed", func() bool {
		_, body := rawGet(t, addr, "/record/live/cam/list?start="+dayStart+"&end="+url.QueryEscape(time.Date(2026, 12, 2, 0, 0, 0, 0, time.Local).Format(time.RFC3339)))
		return bytes.Contains(body, []byte("10-00-00.mp4"))
	})

	relOut, err := filepath.Rel(root, secret)
	if err != nil {
		t.Fatal(err)
	}
	relOut = filepath.ToSlash(relOut) // ../../outside/secret.mp4 or so
	deep := strings.Repeat("../", 12) + strings.TrimPrefix(filepath.ToSlash(secret), "/")
	enc := func(s string) string { return strings.ReplaceAll(s, ".", "%2e") }
	encSlash := func(s string) string { return strings.ReplaceAll(s, "/", "%2f") }
	q := func(k, v string) string { return k + "=" + url.QueryEscape(v) }
	api := func(name string, kv ...string) string { return "/index/api/" + name + "?" + strings.Join(kv, "&") }
	day1 := "&duration=86400&start=" + dayStart

	paths := []string{
		// Recordings.
		"/record/" + relOut,
		"/record/live/cam/" + day + "/" + deep,
		"/record/" + enc(relOut),
		"/record/live/cam/" + day + "/" + enc(deep),
		"/record/" + encSlash(relOut),
		"/record/" + encSlash(enc(relOut)),
		"/record/" + strings.ReplaceAll(enc(relOut), "%", "%25"), // double encoding
		"/record/" + strings.ReplaceAll(relOut, "/", "\\"),
		"/record/" + strings.ReplaceAll(relOut, "/", "%5c"),
		"/record//" + strings.TrimPrefix(filepath.ToSlash(secret), "/"),
		"/record/" + filepath.ToSlash(secret),
		"/record/live/cam/" + day + "/link.mp4",
		"/record/live/linked/" + day + "/10-00-00.mp4",
		"/record/live/linked/../../" + relOut,
		"/record/live/cam/" + day + "/10-00-00.mp4%00" + enc(deep),
		"/record/live/leak/" + day + "/10-00-00.mp4",
		"/record/live/leak.mp4?start=" + dayStart + "&duration=86400",
		"/record/live/leak.flv?start=" + dayStart + "&duration=86400",
		"/record/live/linked.mp4?start=" + dayStart + "&duration=86400",
		"/record/live/" + enc("..") + "/" + enc("..") + "/outside.mp4?start=" + dayStart + "&duration=86400",
		"/record/" + enc("../..") + "/list?start=" + dayStart,
		// downloadFile.
		api("downloadFile", q("file_path", secret)),
		api("downloadFile", q("file_path", filepath.Join(root, "live", "cam", day)+"/"+deep)),
		api("downloadFile", q("file_path", root+"/"+relOut)),
		api("downloadFile", "file_path="+enc(root+"/"+relOut)),
		api("downloadFile", q("file_path", filepath.Join(root, "live", "cam", day, "link.mp4"))),
		api("downloadFile", q("file_path", filepath.Join(root, "live", "linked", day, "10-00-00.mp4"))),
		api("downloadFile", q("file_path", filepath.Join(root, "live", "leak", day, "10-00-00.mp4"))),
		api("downloadFile", q("file_path", "file://"+secret)),
		api("downloadFile", q("file_path", relOut)),
		api("downloadFile", q("file_path", filepath.Join(root, "live", "cam", day, "10-00-00.mp4")+"\x00.mp4")),
		// Assets, live media, the player page: nothing on disk behind them.
		"/_mediakit/player/" + deep,
		"/_mediakit/player/" + enc(deep),
		"/_mediakit/player/" + encSlash(enc(deep)),
		"/console/" + deep,
		"/console/" + enc(deep),
		"/console/" + encSlash(enc(deep)),
		"/live/cam/" + strings.TrimSuffix(enc(deep), ".mp4") + ".ts",
		"/live/cam/" + strings.TrimSuffix(deep, ".mp4") + ".m3u8",
		"/live/cam/" + strings.TrimSuffix(enc(deep), ".mp4") + ".live.flv",
		"/live/cam/" + enc("../..") + "/hls.fmp4.m3u8",
		"/live/" + strings.TrimSuffix(enc(deep), ".mp4") + "/",
		"/" + strings.TrimPrefix(strings.TrimSuffix(deep, ".mp4"), "/") + "/",
	}
	for _, p := range paths {
		status, body := rawGet(t, addr, p)
		if bytes.Contains(body, marker) {
			t.Errorf("GET %s: %d with the content of a file outside the roots", p, status)
			continue
		}
		// A span of a linked-in recording would be remuxed, not copied:
		// it must not be served at all.
		if (strings.Contains(p, "/leak.") || strings.Contains(p, "/linked.")) && status == http.StatusOK {
			t.Errorf("GET %s: %d (%d bytes): a recording linked in from outside is served", p, status, len(body))
		}
		if strings.Contains(p, "/list?") && bytes.Contains(body, []byte(outside)) {
			t.Errorf("GET %s: lists a file outside the roots: %.300s", p, body)
		}
	}
	// The link out is not indexed either.
	_, body := rawGet(t, addr, "/record/live/leak/list?start="+dayStart+day1)
	if bytes.Contains(body, []byte("10-00-00.mp4")) {
		t.Errorf("a recording linked in from outside is indexed: %.300s", body)
	}

	// An index entry naming a file outside the roots (an index written
	// by an older version, a database edited by hand): the span refuses
	// to open it.
	if err := ts.store.PutRecordings([]store.Recording{{Stream: record.StreamName(engine.NewKey("", "live", "old")),
		Path: secret, Start: time.Date(2026, 12, 1, 10, 0, 0, 0, time.Local), Duration: 2 * time.Second, Size: int64(len(data))}}); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{".mp4", ".flv", ".ts"} {
		status, body := rawGet(t, addr, "/record/live/old"+ext+"?start="+dayStart+"&duration=86400")
		if status == http.StatusOK || bytes.Contains(body, marker) {
			t.Errorf("span of an index entry outside the roots (%s): %d, %d bytes", ext, status, len(body))
		}
	}

	// loadMP4File: a directory inside the roots holding a link out, and
	// paths out.
	for _, fp := range []string{
		filepath.Join(root, "live", "leak", day),
		filepath.Join(root, "live", "leak", day, "10-00-00.mp4"),
		filepath.Join(root, "live", "linked", day),
		filepath.Join(root, "live", "cam", day, "link.mp4"),
		secret,
		root + "/" + relOut,
	} {
		r := ts.apiCall(t, "loadMP4File", url.Values{"vhost": {"__defaultVhost__"}, "app": {"vod"}, "stream": {"x"}, "file_path": {fp}})
		if code(r) != -300 {
			t.Errorf("loadMP4File %s: %v, want -300", fp, r)
			ts.apiCall(t, "close_streams", url.Values{"app": {"vod"}, "stream": {"x"}, "force": {"1"}})
		}
	}

	// deleteRecordDirectory: names that climb out delete nothing outside.
	for _, v := range []url.Values{
		{"app": {"live"}, "stream": {"linked"}, "period": {day}},
		{"app": {"live"}, "stream": {"../../outside"}},
		{"app": {".."}, "stream": {".."}, "period": {"../outside"}},
		{"app": {"live"}, "stream": {"cam"}, "period": {"../../../outside/" + day}},
		{"app": {"live"}, "stream": {"cam"}, "period": {day}, "name": {"../../../../outside/secret.mp4"}},
		{"app": {"live"}, "stream": {"leak"}, "period": {day}},
	} {
		v.Set("vhost", "__defaultVhost__")
		ts.apiCall(t, "deleteRecordDirectory", v)
	}
	for _, p := range []string{secret, filepath.Join(outside, day, "10-00-00.mp4")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s after deleteRecordDirectory: %v", p, err)
		}
	}
	// The legitimate recording is still served.
	if status, body := rawGet(t, addr, "/record/live/cam/"+day+"/10-00-00.mp4"); status != http.StatusOK || len(body) == 0 {
		t.Errorf("the recording inside the root: %d, %d bytes", status, len(body))
	}
}
