package ffmpegsrc

import (
	"slices"
	"strings"
	"testing"
	"unicode"
)

// FuzzSpec: whatever src_url and dst_url an API caller sends, an accepted
// source is a network URL of an allowed scheme or a file under the root,
// an accepted destination is RTMP, and each is exactly one argument of
// ffmpeg's command line.
func FuzzSpec(f *testing.F) {
	for _, seed := range [][2]string{
		{"rtsp://admin:p@cam/a b", "rtmp://127.0.0.1/live/x?vhost=v"},
		{"clips/a.flv", "rtmps://h:443/app/a/b"},
		{"file:///data/a.flv", "rtmp://h/live/x"},
		{"concat:a|b", "file:/tmp/x"},
		{"../../etc/passwd", "rtmp://h//x"},
		{"subfile:,start,0,end,1,:/etc/passwd", "tee:rtmp://h/a/b|/tmp/x"},
		{"-i", "rtmp://h/-f/x"},
		{"pipe:0", "rtmp:h/a/b"},
	} {
		f.Add(seed[0], seed[1])
	}
	const root = "/data"
	f.Fuzz(func(t *testing.T, src, dst string) {
		s, err := checkSource(src, dataGuard(root))
		if err == nil {
			scheme, _, isURL := strings.Cut(s.arg, "://")
			switch {
			case strings.HasPrefix(s.arg, "file:"+root+"/") || s.arg == "file:"+root:
				if s.whitelist != fileWhitelist {
					t.Fatalf("%q: file with whitelist %q", src, s.whitelist)
				}
			case isURL && networkSchemes[strings.ToLower(scheme)]:
				if s.whitelist != networkWhitelist {
					t.Fatalf("%q: network URL with whitelist %q", src, s.whitelist)
				}
			default:
				t.Fatalf("%q accepted as %q", src, s.arg)
			}
			if strings.ContainsFunc(s.arg, unicode.IsControl) {
				t.Fatalf("%q: control character accepted", src)
			}
		}
		key, derr := checkDest(dst)
		if derr == nil {
			if l := strings.ToLower(dst); !strings.HasPrefix(l, "rtmp://") && !strings.HasPrefix(l, "rtmps://") {
				t.Fatalf("destination %q accepted", dst)
			}
			if err := key.Validate(); err != nil {
				t.Fatalf("destination %q gives an invalid key %v: %v", dst, key, err)
			}
		}
		if err != nil || derr != nil {
			return
		}
		args, err := buildArgs(DefaultCmd, "ffmpeg", s, dst)
		if err != nil {
			t.Fatal(err)
		}
		if i := slices.Index(args, s.arg); i < 1 || args[i-1] != "-i" || args[len(args)-1] != dst {
			t.Fatalf("args %q: source %q or destination %q not one argument in place", args, s.arg, dst)
		}
	})
}
