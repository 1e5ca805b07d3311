package server

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediakit/mediakit/internal/testutil"
)

// TestProxyLocalFilesConfined: a proxy reads local files only inside the
// data dir (or record.allow_paths), as recording paths are confined; a
// file there plays, with the stream options of the call applied by the
// stream's owner.
func TestProxyLocalFilesConfined(t *testing.T) {
	ts := startServer(t, nil)
	outside := filepath.Join(t.TempDir(), "secret.flv")
	data, err := os.ReadFile(testutil.Clip(t, "h264_aac.flv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(outside, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{outside, "file://" + outside, "../" + filepath.Base(filepath.Dir(outside)) + "/secret.flv", "x" + strings.Repeat("/..", 20) + outside} {
		reply := ts.apiCall(t, "addStreamProxy", url.Values{"app": {"proxy"}, "stream": {"f"}, "url": {u}, "retry_count": {"0"}})
		if code(reply) != -1 {
			t.Fatalf("addStreamProxy of %s = %v, want -1", u, reply)
		}
	}
	inside := filepath.Join(ts.Config().General.DataDir, "clip.flv")
	if err := os.WriteFile(inside, data, 0o600); err != nil {
		t.Fatal(err)
	}
	reply := ts.apiCall(t, "addStreamProxy", url.Values{"app": {"proxy"}, "stream": {"f"}, "url": {"clip.flv"}, "enable_hls": {"0"}})
	if code(reply) != 0 {
		t.Fatalf("addStreamProxy of a file in the data dir = %v", reply)
	}
	list := ts.apiCall(t, "listStreamProxy", nil)["data"].([]any)
	if len(list) != 1 {
		t.Fatalf("listStreamProxy = %v", list)
	}
	if st, _ := list[0].(map[string]any)["options"].(map[string]any); st["enable_hls"] != "0" {
		t.Fatalf("options = %v", st)
	}
}
