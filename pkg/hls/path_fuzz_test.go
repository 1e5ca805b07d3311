package hls

import (
	"strings"
	"testing"
)

// FuzzParsePath feeds request paths, which come from the network, to the
// live HLS handler's ParsePath: what it accepts names a stream and either
// the playlist or a segment by the one name SegmentURI gives it, so two
// paths never serve the same segment. Seeds beyond these are in
// testdata/fuzz/FuzzParsePath.
func FuzzParsePath(f *testing.F) {
	for _, p := range []string{
		"/live/cam/hls.m3u8", "/live/cam/hls-0.ts", "/live/a/b/c/hls-18446744073709551615.ts",
		"/live/cam/hls-007.ts", "/live/cam/hls-+1.ts", "/live/cam/hls-18446744073709551616.ts",
		"/live//hls.m3u8", "//cam/hls.m3u8", "/hls.m3u8", "/live/cam/index.m3u8", "/live/cam/hls-1.ts/",
	} {
		f.Add(p, "")
	}
	f.Add("/live/cam/hls.m3u8", "other.example")
	f.Fuzz(func(t *testing.T, path, vhost string) {
		key, seq, isSegment, ok := ParsePath(path, vhost)
		if !ok {
			if key.App != "" || key.Stream != "" || seq != 0 || isSegment {
				t.Fatalf("rejected %q with %+v %d %v", path, key, seq, isSegment)
			}
			return
		}
		if key.App == "" || key.Stream == "" || strings.Contains(key.App, "/") {
			t.Fatalf("%q: key %+v", path, key)
		}
		if vhost != "" && key.Vhost != vhost {
			t.Fatalf("%q: vhost %q, want %q", path, key.Vhost, vhost)
		}
		file := "hls.m3u8"
		if isSegment {
			file = SegmentURI(seq)
		}
		// The path is the stream's directory and the file, and nothing
		// else: what is served is named once.
		if want := "/" + key.App + "/" + key.Stream + "/" + file; path != want && path != want[1:] {
			t.Fatalf("%q parsed as %+v %s, which is %q", path, key, file, want)
		}
		if got, ok := ParseSegmentURI(file); isSegment && (!ok || got != seq) {
			t.Fatalf("%s: ParseSegmentURI = %d, %v", file, got, ok)
		}
	})
}
