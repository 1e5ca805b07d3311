package llhls

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mediakit/mediakit/pkg/engine"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		path, vhost string
		key         engine.Key
		file        string
		ok          bool
	}{
		{"/live/cam/hls.fmp4.m3u8", "", engine.NewKey("", "live", "cam"), "", true},
		{"/live/cam/hls.fmp4.m3u8", "v1", engine.NewKey("v1", "live", "cam"), "", true},
		{"/live/a/b/hls.fmp4.m3u8", "", engine.NewKey("", "live", "a/b"), "", true},
		{"/live/cam/hls.fmp4/video1_stream.m3u8", "", engine.NewKey("", "live", "cam"), "video1_stream.m3u8", true},
		{"/live/cam/hls.fmp4/0a1b2c3d4e5f_video1_part12.mp4", "", engine.NewKey("", "live", "cam"), "0a1b2c3d4e5f_video1_part12.mp4", true},
		{"/live/cam/hls.fmp4/0a1b_audio2_init.mp4", "", engine.NewKey("", "live", "cam"), "0a1b_audio2_init.mp4", true},
		{"/live/hls.fmp4.m3u8", "", engine.Key{}, "", false},         // no stream
		{"/live/cam/hls.m3u8", "", engine.Key{}, "", false},          // MPEG-TS HLS
		{"/live/cam/hls-3.ts", "", engine.Key{}, "", false},          // MPEG-TS HLS
		{"/live/cam.live.mp4", "", engine.Key{}, "", false},          // HTTP-fMP4
		{"/live/cam/hls.fmp4/", "", engine.Key{}, "", false},         // no file
		{"/live/cam/hls.fmp4/a/b.mp4", "", engine.Key{}, "", false},  // subdirectory
		{"/live/cam/hls.fmp4/../x.mp4", "", engine.Key{}, "", false}, // traversal
		{"/live/cam/hls.fmp4/x.ts", "", engine.Key{}, "", false},     // not gohlslib's
		{"/live/cam/hls.fmp4/.mp4", "", engine.Key{}, "", false},     // empty name
		{"/live/../hls.fmp4.m3u8", "", engine.Key{}, "", false},      // invalid stream
		{"/live/cam/hls.fmp4/" + strings.Repeat("a", 200) + ".mp4", "", engine.Key{}, "", false},
	}
	for _, tt := range tests {
		key, file, ok := ParsePath(tt.path, tt.vhost)
		if ok != tt.ok || key != tt.key || file != tt.file {
			t.Errorf("ParsePath(%q, %q) = %v, %q, %v; want %v, %q, %v", tt.path, tt.vhost, key, file, ok, tt.key, tt.file, tt.ok)
		}
		if tt.ok && !IsPath(tt.path) {
			t.Errorf("IsPath(%q) = false", tt.path)
		}
	}
	for _, p := range []string{"/live/cam/hls.m3u8", "/live/cam/hls-1.ts", "/live/cam.live.mp4", "/live/cam.live.flv"} {
		if IsPath(p) {
			t.Errorf("IsPath(%q) = true", p)
		}
	}
}

// FuzzParsePath: any request path either fails to parse or names a valid
// stream key and a plain file name inside Dir.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"/live/cam/hls.fmp4.m3u8",
		"/live/cam/hls.fmp4/video1_stream.m3u8",
		"/live/cam/hls.fmp4/abc_video1_part3.mp4",
		"/a/b/c/hls.fmp4/x.mp4",
		"/live/cam/hls.fmp4/../../etc/passwd",
		"//hls.fmp4.m3u8",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		key, file, ok := ParsePath(path, "")
		if !ok {
			return
		}
		if err := key.Validate(); err != nil {
			t.Fatalf("ParsePath(%q) gave invalid key %v: %v", path, key, err)
		}
		if strings.ContainsAny(file, "/\\") || strings.Contains(file, "..") {
			t.Fatalf("ParsePath(%q) gave file %q outside the directory", path, file)
		}
		if file != "" && !strings.HasSuffix(file, ".mp4") && !strings.HasSuffix(file, ".m3u8") {
			t.Fatalf("ParsePath(%q) gave file %q", path, file)
		}
	})
}

func TestRewriteMultivariant(t *testing.T) {
	in := "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n\n" +
		"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio2\",AUTOSELECT=YES,DEFAULT=YES,URI=\"audio2_stream.m3u8?token=x\"\n\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1.64001f,mp4a.40.2\",AUDIO=\"audio\"\nvideo1_stream.m3u8?token=x\n"
	want := "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n\n" +
		"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio2\",AUTOSELECT=YES,DEFAULT=YES,URI=\"hls.fmp4/audio2_stream.m3u8?token=x\"\n\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1.64001f,mp4a.40.2\",AUDIO=\"audio\"\nhls.fmp4/video1_stream.m3u8?token=x\n"
	if got := string(rewriteMultivariant([]byte(in))); got != want {
		t.Errorf("rewriteMultivariant:\n%s\nwant\n%s", got, want)
	}
}

func TestCookiePath(t *testing.T) {
	for path, want := range map[string]string{
		"/live/cam/hls.fmp4.m3u8":               "/live/cam/",
		"/live/cam/hls.fmp4/video1_stream.m3u8": "/live/cam/",
		"/live/a/b/hls.fmp4/x_video1_part3.mp4": "/live/a/b/",
		"/elsewhere":                            "/",
	} {
		if got := CookiePath(httptest.NewRequest("GET", path, nil)); got != want {
			t.Errorf("CookiePath(%s) = %q, want %q", path, got, want)
		}
	}
}
