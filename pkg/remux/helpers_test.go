package remux

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/format/ps"
	"github.com/mediakit/mediakit/pkg/media"
)

// counts is what `ffprobe -count_packets -show_streams -show_format`
// says of a file.
type counts struct {
	video, audio int
	duration     float64
}

func probeCounts(t *testing.T, path string) counts {
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
			NbReadPackets string `json:"nb_read_packets"`
		}
		Format struct {
			Duration string
		}
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var c counts
	for _, s := range p.Streams {
		n, _ := strconv.Atoi(s.NbReadPackets)
		switch s.CodecType {
		case "video":
			c.video += n
		case "audio":
			c.audio += n
		}
	}
	c.duration, _ = strconv.ParseFloat(p.Format.Duration, 64)
	return c
}

func sameCounts(t *testing.T, what string, got, want counts) {
	t.Helper()
	if got.video != want.video || got.audio != want.audio {
		t.Errorf("%s: %d video + %d audio packets, want %d + %d", what, got.video, got.audio, want.video, want.audio)
	}
	if math.Abs(got.duration-want.duration) > 0.1 {
		t.Errorf("%s: duration %.3f s, want %.3f s", what, got.duration, want.duration)
	}
}

func ffmpeg(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", append([]string{"-v", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

// writePS writes the frames of an FLV clip as a GB28181-style MPEG-PS
// file through pkg/format/ps's muxer (ffmpeg's mpeg muxer does not carry
// H.264 and AAC the way cameras do).
func writePS(t *testing.T, clip, path string) {
	t.Helper()
	_, frames := clipframes.Read(t, clip)
	m := ps.NewMuxer([]ps.Stream{{ID: 0xE0, Type: ps.StreamH264}, {ID: 0xC0, Type: ps.StreamAAC}})
	var out []byte
	for _, f := range frames {
		pts := int64(f.PTS * 90000 / time.Second)
		dts := int64(f.DTS * 90000 / time.Second)
		if f.Track.Kind() == media.KindVideo {
			var annexB []byte
			if f.Key {
				annexB = append(annexB, 0, 0, 0, 1)
				annexB = append(annexB, f.Track.SPS...)
				annexB = append(annexB, 0, 0, 0, 1)
				annexB = append(annexB, f.Track.PPS...)
			}
			f.NALUs(func(n []byte) bool {
				annexB = append(annexB, 0, 0, 0, 1)
				annexB = append(annexB, n...)
				return true
			})
			out = m.AppendFrame(out, ps.Frame{StreamID: 0xE0, Type: ps.StreamH264, PTS: pts, DTS: dts, Key: f.Key, Data: annexB}, f.Key)
			continue
		}
		var conf mpeg4audio.AudioSpecificConfig
		if err := conf.Unmarshal(f.Track.AACConfig); err != nil {
			t.Fatal(err)
		}
		adts, err := mpeg4audio.ADTSPackets{{Type: conf.Type, SampleRate: conf.SampleRate, ChannelCount: conf.ChannelCount, AU: f.Payload}}.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		out = m.AppendFrame(out, ps.Frame{StreamID: 0xC0, Type: ps.StreamAAC, PTS: pts, DTS: pts, Key: true, Data: adts}, false)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// inputs makes every kind of input of one clip in dir; each names the
// file ffprobe counts it by (the PS file is counted by its clip).
type input struct {
	name, path, probe string
}

func makeInputs(t *testing.T, dir, clip string) []input {
	t.Helper()
	src := testutil.Clip(t, clip)
	ts := filepath.Join(dir, "in.ts")
	mp4 := filepath.Join(dir, "in.mp4")
	fmp4 := filepath.Join(dir, "in-frag.mp4")
	hlsDir := filepath.Join(dir, "inhls")
	if err := os.MkdirAll(hlsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	hlsPl := filepath.Join(hlsDir, "index.m3u8")
	psPath := filepath.Join(dir, "in.ps")
	ffmpeg(t, "-i", src, "-c", "copy", "-f", "mpegts", ts)
	ffmpeg(t, "-i", src, "-c", "copy", mp4)
	ffmpeg(t, "-i", src, "-c", "copy", "-movflags", "frag_keyframe+empty_moov+default_base_moof", fmp4)
	ffmpeg(t, "-i", src, "-c", "copy", "-f", "hls", "-hls_time", "1", "-hls_list_size", "0", "-hls_playlist_type", "vod", hlsPl)
	writePS(t, clip, psPath)
	return []input{
		{"flv", src, src},
		{"ts", ts, ts},
		{"mp4", mp4, mp4},
		{"fmp4", fmp4, fmp4},
		{"hls", hlsPl, hlsPl},
		{"ps", psPath, src},
	}
}

var _ = bytes.Equal

func fmtSscan(s string, v *float64) (int, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	*v = f
	return 1, err
}
