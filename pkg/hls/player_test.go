package hls

import (
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
)

// TestPlayerReadsPlaylist has ffmpeg play the segments through a playlist,
// as a player would: the VOD playlist of a recording and the ended live
// window, written to a directory with the segments.
func TestPlayerReadsPlaylist(t *testing.T) {
	testutil.RequireFFmpeg(t)
	tracks, frames := clipFrames(t, "h264_aac.flv")
	segs, _ := segmentAll(t, tracks, frames, 2*time.Second)

	live := NewWindow(5, 2)
	for _, s := range segs {
		if err := live.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	live.End()
	for name, playlist := range map[string][]byte{
		"vod":  EndedPlaylist(segs, 2*time.Second, nil),
		"live": live.Playlist(),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mustParse(t, playlist)
			path := writeFiles(t, t.TempDir(), segs, playlist)

			// Remux every packet; any warning (corrupt packet, continuity
			// error, non-monotonic DTS) fails the test.
			ff := testutil.StartFFmpeg(t, "-v", "warning", "-i", path, "-c", "copy", "-f", "null", "-")
			if err := ff.Wait(20 * time.Second); err != nil {
				t.Fatal(err)
			}
			if s := strings.TrimSpace(ff.Stderr()); s != "" {
				t.Errorf("ffmpeg warnings reading %s:\n%s", name, s)
			}

			p, err := testutil.FFprobe(t.Context(), t, path)
			if err != nil {
				t.Fatal(err)
			}
			if p.Format.FormatName != "hls" {
				t.Errorf("format %q, want hls", p.Format.FormatName)
			}
			v, a := p.Video(), p.Audio()
			if v == nil || v.CodecName != "h264" || v.NbReadFrames != 150 {
				t.Errorf("video %+v, want h264 with 150 frames", v)
			}
			if a == nil || a.CodecName != "aac" || a.NbReadFrames != 260 {
				t.Errorf("audio %+v, want aac with 260 frames", a)
			}
			if p.Format.Duration < 5.9 || p.Format.Duration > 6.2 {
				t.Errorf("duration %.3f, want about 6 s", p.Format.Duration)
			}
		})
	}
}
