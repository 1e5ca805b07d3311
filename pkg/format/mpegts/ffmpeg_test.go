package mpegts

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
)

// TestFFmpeg demuxes MPEG-TS files that ffmpeg made from the clips and
// checks, per codec, that the handler gets as many units as ffprobe
// counts packets, with the timestamps ffprobe shows (within 1 ms).
func TestFFmpeg(t *testing.T) {
	testutil.RequireFFmpeg(t)
	t.Parallel()
	for _, tc := range []struct {
		name         string
		clip         string
		args         []string
		video, audio media.Codec // CodecUnknown: none, or dropped
		streams      []string    // Stream names
		// relative: compare timestamps from the first ones: ffprobe puts
		// those before a clock wrap below zero.
		relative bool
	}{
		{"h264 aac", "h264_aac.flv", []string{"-c", "copy"}, media.CodecH264, media.CodecAAC, []string{"h264", "aac"}, false},
		{"h264 b-frames aac", "h264_bframes_aac.flv", []string{"-c", "copy"}, media.CodecH264, media.CodecAAC, []string{"h264", "aac"}, false},
		{"h265 aac", "h265_aac.mp4", []string{"-c", "copy"}, media.CodecH265, media.CodecAAC, []string{"h265", "aac"}, false},
		{"h264 only", "h264_only.flv", []string{"-c", "copy"}, media.CodecH264, media.CodecUnknown, []string{"h264"}, false},
		{"aac only", "aac_only.flv", []string{"-c", "copy"}, media.CodecUnknown, media.CodecAAC, []string{"aac"}, false},
		{"h264 opus", "h264_aac.flv", []string{"-c:v", "copy", "-c:a", "libopus", "-ar", "48000"}, media.CodecH264, media.CodecOpus, []string{"h264", "opus"}, false},
		{"h264 mp3", "h264_aac.flv", []string{"-c:v", "copy", "-c:a", "libmp3lame"}, media.CodecH264, media.CodecMP3, []string{"h264", "mpeg1audio"}, false},
		// Below 32 kHz ffmpeg marks the stream ISO 13818-3 (type 0x04).
		{"h264 mp3 22.05 kHz", "h264_aac.flv", []string{"-c:v", "copy", "-c:a", "libmp3lame", "-ar", "22050"}, media.CodecH264, media.CodecMP3, []string{"h264", "mpeg1audio"}, false},
		{"h264 ac3 dropped", "h264_aac.flv", []string{"-c:v", "copy", "-c:a", "ac3"}, media.CodecH264, media.CodecUnknown, []string{"h264", "ac3"}, false},
		// 2^33 ticks is 95443.7 s: the clock wraps 2.7 s in
		{"h264 aac clock wrap", "h264_aac.flv", []string{"-c", "copy", "-output_ts_offset", "95441"}, media.CodecH264, media.CodecAAC, []string{"h264", "aac"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "a.ts")
			args := append([]string{"-i", testutil.Clip(t, tc.clip)}, tc.args...)
			if err := testutil.StartFFmpeg(t, append(args, "-f", "mpegts", "-y", path)...).Wait(30 * time.Second); err != nil {
				t.Fatal(err)
			}
			pkts, err := testutil.FramePackets(t.Context(), t, path)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			d, r, err := run(t, b)
			if err != nil {
				t.Fatal(err)
			}

			var names []string
			for _, s := range d.Streams() {
				names = append(names, s.Name)
				if (s.Err == nil) != (s.Codec != media.CodecUnknown) {
					t.Errorf("stream %+v", s)
				}
			}
			if len(names) != len(tc.streams) {
				t.Fatalf("streams %v, want %v", names, tc.streams)
			}
			for i := range names {
				if names[i] != tc.streams[i] {
					t.Errorf("streams %v, want %v", names, tc.streams)
				}
			}

			for kind, codec := range map[string]media.Codec{"video": tc.video, "audio": tc.audio} {
				var want []testutil.Packet
				for _, p := range pkts {
					if p.CodecType == kind && codec != media.CodecUnknown {
						want = append(want, p)
					}
				}
				got := r.of(codec)
				if codec == media.CodecUnknown {
					got = nil
					for _, u := range r.units {
						if u.codec.Kind().String() == kind {
							got = append(got, u)
						}
					}
				}
				if len(got) != len(want) {
					t.Fatalf("%s: %d units, ffprobe counts %d packets", kind, len(got), len(want))
				}
				for i := range got {
					if i > 0 && got[i].dts <= got[i-1].dts {
						t.Errorf("%s %d: DTS %v after %v", kind, i, got[i].dts, got[i-1].dts)
					}
					gp, gd, wp, wd := got[i].pts, got[i].dts, want[i].PTSTime, want[i].DTSTime
					if tc.relative {
						gp, gd, wp, wd = gp-got[0].dts, gd-got[0].dts, wp-want[0].DTSTime, wd-want[0].DTSTime
					}
					if off(gp, wp) > time.Millisecond || off(gd, wd) > time.Millisecond {
						t.Errorf("%s %d: PTS %v DTS %v, ffprobe %.6f %.6f", kind, i, gp, gd, wp, wd)
					}
				}
			}
			if tc.relative {
				if v := r.of(tc.video); v[len(v)-1].dts < Ticks(wrap) {
					t.Errorf("last DTS %v: the clock did not wrap", v[len(v)-1].dts)
				}
			}
		})
	}
}

// off is how far d is from s seconds.
func off(d time.Duration, s float64) time.Duration {
	return time.Duration(math.Abs(d.Seconds()-s) * float64(time.Second))
}
