package remux

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediakit/mediakit/internal/testutil"
)

// TestFMP4Streams: fragmented MP4 read as a stream, on stdin and as the
// init and media segments of a local HLS playlist (EXT-X-MAP), gives
// every frame; a progressive MP4 on stdin is refused in one line.
func TestFMP4Streams(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	src := testutil.Clip(t, "h264_bframes_aac.flv")
	frag := filepath.Join(dir, "frag.mp4")
	ffmpeg(t, "-i", src, "-c", "copy", "-movflags", "frag_keyframe+empty_moov+default_base_moof", frag)
	hlsDir := filepath.Join(dir, "hls")
	if err := os.MkdirAll(hlsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	pl := filepath.Join(hlsDir, "index.m3u8")
	ffmpeg(t, "-i", src, "-c", "copy", "-f", "hls", "-hls_segment_type", "fmp4", "-hls_time", "1", "-hls_list_size", "0",
		"-hls_playlist_type", "vod", pl)
	progressive := filepath.Join(dir, "prog.mp4")
	ffmpeg(t, "-i", src, "-c", "copy", progressive)
	want := probeCounts(t, src)
	read := func(path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	for _, tc := range []struct {
		name  string
		opts  Options
		probe string // ffprobe's count of the input
	}{
		{"fMP4 on stdin", Options{Inputs: []string{"-"}, Stdin: bytes.NewReader(read(frag))}, frag},
		{"fMP4 HLS playlist", Options{Inputs: []string{pl}}, pl},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := probeCounts(t, tc.probe); got.video != want.video || got.audio != want.audio {
				t.Fatalf("ffprobe reads %+v of the input, %+v of the clip", got, want)
			}
			tc.opts.Output = filepath.Join(dir, tc.name+".mp4")
			res := run(t, tc.opts)
			sameCounts(t, tc.name, probeCounts(t, tc.opts.Output), want)
			if len(res.Warnings) != 0 {
				t.Errorf("warnings %q", res.Warnings)
			}
		})
	}

	_, err := Run(t.Context(), Options{Inputs: []string{"-"}, Output: filepath.Join(dir, "p.mp4"), Stdin: bytes.NewReader(read(progressive))})
	if err == nil || !strings.Contains(err.Error(), "needs seeking: give it as a file") || strings.Contains(err.Error(), "\n") {
		t.Errorf("progressive MP4 on stdin: error %v", err)
	}
}
