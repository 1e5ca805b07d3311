package ffmpegsrc

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediakit/mediakit/pkg/access"
	"github.com/mediakit/mediakit/pkg/engine"
)

func TestKeyIsZLMediaKits(t *testing.T) {
	// echo -n rtmp://127.0.0.1/live/test | md5sum
	if got := Key("rtmp://127.0.0.1/live/test"); got != "106ddf51de3aa0a95a99a429ba6f01d6" {
		t.Fatalf("Key = %s", got)
	}
}

func TestCheckSource(t *testing.T) {
	data := t.TempDir()
	guard, err := access.NewPathGuard(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	clip := filepath.Join(data, "clips", "a b.flv")
	if err := os.MkdirAll(filepath.Dir(clip), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(clip, []byte("FLV"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A link inside the data dir to a file outside it.
	if err := os.Symlink("/etc/passwd", filepath.Join(data, "passwd.flv")); err != nil {
		t.Fatal(err)
	}
	resolved, _ := filepath.EvalSymlinks(clip)

	for _, tc := range []struct {
		src, arg, whitelist string
	}{
		{"rtmp://10.0.0.1/live/cam", "rtmp://10.0.0.1/live/cam", networkWhitelist},
		{"RTSP://user:p%40ss@cam:554/Streaming/Channels/101", "RTSP://user:p%40ss@cam:554/Streaming/Channels/101", networkWhitelist},
		{"https://cdn.example/live/index.m3u8", "https://cdn.example/live/index.m3u8", networkWhitelist},
		{"srt://10.0.0.2:9000?mode=caller", "srt://10.0.0.2:9000?mode=caller", networkWhitelist},
		{"udp://0.0.0.0:5000", "udp://0.0.0.0:5000", networkWhitelist},
		{"rtp://0.0.0.0:5004", "rtp://0.0.0.0:5004", networkWhitelist},
		{"tcp://10.0.0.3:9000", "tcp://10.0.0.3:9000", networkWhitelist},
		{"rtmps://a.example/live/x", "rtmps://a.example/live/x", networkWhitelist},
		{"rtsps://cam/x", "rtsps://cam/x", networkWhitelist},
		{"http://h/x y'z\"", "http://h/x y'z\"", networkWhitelist},
		{clip, "file:" + resolved, fileWhitelist},
		{"clips/a b.flv", "file:" + resolved, fileWhitelist},
		{"file:" + clip, "file:" + resolved, fileWhitelist},
		{"file://" + clip, "file:" + resolved, fileWhitelist},
	} {
		got, err := checkSource(tc.src, guard.Confine)
		if err != nil {
			t.Errorf("%q refused: %v", tc.src, err)
			continue
		}
		if got.arg != tc.arg || got.whitelist != tc.whitelist {
			t.Errorf("%q: %+v, want %q with whitelist %q", tc.src, got, tc.arg, tc.whitelist)
		}
	}

	for _, src := range []string{
		"concat:" + clip + "|/etc/passwd",
		"subfile:,start,0,end,100,:/etc/passwd",
		"pipe:0",
		"data:text/plain,hello",
		"lavfi://anullsrc",
		"async:http://h/x",
		"cache:http://h/x",
		"crypto:http://h/x",
		"hls+http://h/x.m3u8",
		"ftp://h/x",
		"gopher://h/x",
		"unix:/run/x.sock",
		"file:/etc/passwd",
		"/etc/passwd",
		"../../../etc/passwd",
		"passwd.flv", // a symlink out of the data dir
		"rtmp://",
		"",
		"rtmp://h/live/x\nINFO forged log line",
		"rtmp://h/x\x00y",
		"rtmp://h/" + strings.Repeat("a", 5000),
		"tcp://0.0.0.0:9000?listen=1",
		"tcp://0.0.0.0:9000?timeout=5&Listen",
		"srt://0.0.0.0:9000?mode=listener",
		"rtmp://0.0.0.0/live/x?listen=1",
	} {
		got, err := checkSource(src, guard.Confine)
		if err == nil {
			t.Errorf("%q accepted as %+v", src, got)
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "src_url") {
			t.Errorf("%q: error %v does not wrap ErrInvalid or name src_url", src, err)
		}
	}
	if _, err := checkSource(clip, nil); err == nil {
		t.Error("a local file was accepted without a path guard")
	}
}

func TestCheckDest(t *testing.T) {
	for _, tc := range []struct {
		dst string
		key engine.Key
	}{
		{"rtmp://127.0.0.1:1935/live/ff", engine.NewKey("", "live", "ff")},
		{"rtmp://localhost/live/ff?vhost=v1&token=x", engine.NewKey("v1", "live", "ff")},
		{"RTMPS://[::1]:443/app/a/b", engine.NewKey("", "app", "a/b")},
		{"rtmp://h/live/ff/", engine.NewKey("", "live", "ff")},
	} {
		key, err := checkDest(tc.dst)
		if err != nil || key != tc.key {
			t.Errorf("%q: %v %v, want %v", tc.dst, key, err, tc.key)
		}
	}
	for _, dst := range []string{
		"/tmp/out.flv",
		"file:/tmp/out.flv",
		"http://h/live/x",
		"srt://h:9000",
		"tee:rtmp://h/live/x|/tmp/out.flv",
		"rtmp:/live/x",
		"rtmp://h/live",
		"rtmp://h//x",
		"rtmp://h/",
		"rtmp:h/live/x",
		"rtmp://h/live/..",
		"rtmp://h/live/x\r\n",
		"",
	} {
		if key, err := checkDest(dst); err == nil {
			t.Errorf("%q accepted as %v", dst, key)
		} else if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "dst_url") {
			t.Errorf("%q: error %v does not wrap ErrInvalid or name dst_url", dst, err)
		}
	}
}
