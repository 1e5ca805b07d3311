package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/rtspcam"
)

// ffprobeJSON runs ffprobe -show_format -show_streams and returns its
// document as generic JSON, so types are compared too.
func ffprobeJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func ffmpeg(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-v", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

// inputs returns the clips and the ones made from them with ffmpeg.
func inputs(t *testing.T) []string {
	dir := t.TempDir()
	flv, hevc := testutil.Clip(t, "h264_aac.flv"), testutil.Clip(t, "h265_aac.mp4")
	out := []string{flv, hevc}
	for _, c := range []string{"h264_bframes_aac.flv", "h264_only.flv", "aac_only.flv", "h264_mp3.flv", "h264_pcma.flv",
		"h264_pcmu.mov", "av1_opus.mp4", "vp9_opus.mp4"} {
		out = append(out, testutil.Clip(t, c))
	}
	gen := []struct {
		name string
		args []string
	}{
		{"a.ts", []string{"-i", flv, "-c", "copy"}},
		{"a.mp4", []string{"-i", flv, "-c", "copy"}},
		{"frag.mp4", []string{"-i", flv, "-c", "copy", "-movflags", "frag_keyframe+empty_moov"}},
		{"hevc.ts", []string{"-i", hevc, "-c", "copy"}},
		{"b.ts", []string{"-i", testutil.Clip(t, "h264_bframes_aac.flv"), "-c", "copy"}},
		{"v.mpg", []string{"-i", flv, "-an", "-c:v", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "vob"}},
		{"alaw.flv", []string{"-i", flv, "-c:v", "copy", "-c:a", "pcm_alaw", "-ar", "8000", "-ac", "1"}},
		{"mulaw.flv", []string{"-i", flv, "-c:v", "copy", "-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1"}},
		{"nodur.flv", []string{"-i", flv, "-c", "copy", "-flvflags", "no_duration_filesize"}},
		{"aac.ts", []string{"-i", testutil.Clip(t, "aac_only.flv"), "-c", "copy"}},
		{"long.ts", []string{"-stream_loop", "30", "-i", flv, "-c", "copy"}},
		{"long.flv", []string{"-stream_loop", "30", "-i", flv, "-c", "copy", "-flvflags", "no_duration_filesize"}},
		{"high.mp4", []string{"-i", flv, "-c:v", "libx264", "-profile:v", "high", "-g", "50", "-c:a", "copy"}},
		{"hevc.mpg", []string{"-i", hevc, "-an", "-c:v", "copy", "-bsf:v", "hevc_mp4toannexb", "-f", "vob"}},
		// MP3 in MPEG-PS: the audio comes after the ingest declared the
		// video (its first PES ends past 1 s of video timestamps)
		{"mp3.mpg", []string{"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i", "sine",
			"-t", "2", "-c:v", "libx264", "-c:a", "libmp3lame", "-f", "vob"}},
		// no stts: r_frame_rate from the fragments' sample durations
		{"av1frag.mp4", []string{"-i", testutil.Clip(t, "av1_opus.mp4"), "-c", "copy", "-movflags", "frag_keyframe+empty_moov"}},
	}
	for _, g := range gen {
		p := filepath.Join(dir, g.name)
		ffmpeg(t, append(g.args, p)...)
		out = append(out, p)
	}
	return out
}

// TestMatchesFFprobe compares every field probe --json emits with
// ffprobe's: same JSON type, equal value; durations within 0.1 s, bit
// rates within 2% (format bit_rate is size*8/duration, so it inherits the
// duration's error: 0.1 s on a 4 s clip is 2.5%, but the clips' durations
// agree to 1 ms; MP4 stream bit_rate follows ffprobe's formula with the
// edit-listed duration, which can differ by a priming frame, 23 ms; the
// bit_rate of AAC in MPEG-TS or -PS is the running mean libavcodec's ADTS
// parser keeps over the frames ffprobe's analysis happens to read, about
// its first 5 s, which probe takes as the frames starting in the first
// 5 s: 0.1% apart on a.ts). The fields ffprobe prints that the streams of
// every input must have are checked too.
func TestMatchesFFprobe(t *testing.T) {
	testutil.RequireFFmpeg(t)
	for _, in := range inputs(t) {
		t.Run(filepath.Base(in), func(t *testing.T) {
			r, err := Probe(context.Background(), in, Options{})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(r.JSON())
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			want := ffprobeJSON(t, in)
			compare(t, "format", got["format"].(map[string]any), want["format"].(map[string]any))
			gs, ws := got["streams"].([]any), want["streams"].([]any)
			if len(gs) != len(ws) {
				t.Fatalf("%d streams, ffprobe %d", len(gs), len(ws))
			}
			for i := range gs {
				compare(t, "streams["+strconv.Itoa(i)+"]", gs[i].(map[string]any), ws[i].(map[string]any))
			}
		})
	}
}

func compare(t *testing.T, where string, got, want map[string]any) {
	t.Helper()
	for k, g := range got {
		if k == "frames" {
			continue
		}
		if k == "fps" { // ours only: ffprobe's r_frame_rate as a number
			if w, _ := want["r_frame_rate"].(string); g != fractionValue(w) {
				t.Errorf("%s.fps = %v, ffprobe's r_frame_rate %v", where, g, w)
			}
			continue
		}
		w, ok := want[k]
		if !ok {
			t.Errorf("%s.%s = %v: ffprobe prints no such field", where, k, g)
			continue
		}
		if _, gs := g.(string); gs != isString(w) {
			t.Errorf("%s.%s: type %T, ffprobe's %T", where, k, g, w)
			continue
		}
		switch k {
		case "duration":
			gf, _ := strconv.ParseFloat(g.(string), 64)
			wf, _ := strconv.ParseFloat(w.(string), 64)
			if math.Abs(gf-wf) > 0.1 {
				t.Errorf("%s.duration = %v, ffprobe %v", where, gf, wf)
			}
		case "bit_rate":
			gf, _ := strconv.ParseFloat(g.(string), 64)
			wf, _ := strconv.ParseFloat(w.(string), 64)
			if math.Abs(gf-wf) > 0.02*wf {
				t.Errorf("%s.bit_rate = %v, ffprobe %v", where, gf, wf)
			}
		default:
			if g != w {
				t.Errorf("%s.%s = %v, ffprobe %v", where, k, g, w)
			}
		}
	}
	for _, k := range []string{"codec_name", "codec_type", "profile", "width", "height", "sample_rate", "channels", "format_name", "duration", "size", "nb_streams",
		"r_frame_rate", "avg_frame_rate", "bit_rate"} {
		if _, ok := want[k]; ok {
			if _, ok := got[k]; !ok && !(k == "duration" && where != "format") {
				t.Errorf("%s.%s missing (ffprobe: %v)", where, k, want[k])
			}
		}
	}
}

func isString(v any) bool { _, ok := v.(string); return ok }

// TestGOP measures a clip encoded with -g 25 and 2 B-frames.
func TestGOP(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	ts := filepath.Join(dir, "g25.ts")
	ffmpeg(t, "-i", testutil.Clip(t, "h264_bframes_aac.flv"), "-c", "copy", ts)
	for _, in := range []string{testutil.Clip(t, "h264_bframes_aac.flv"), ts, testutil.Clip(t, "h264_aac.flv")} {
		t.Run(filepath.Base(in), func(t *testing.T) {
			r, err := Probe(context.Background(), in, Options{Frames: true})
			if err != nil {
				t.Fatal(err)
			}
			v := r.Streams[0].Frames
			if v == nil || r.Streams[0].CodecType != "video" {
				t.Fatalf("no video frame stats: %+v", r.Streams)
			}
			if v.Frames != 150 || v.Keyframes != 6 {
				t.Errorf("frames %d keyframes %d, want 150 and 6", v.Frames, v.Keyframes)
			}
			if v.GOPMinFrames != 25 || v.GOPMaxFrames != 25 || v.GOPAvgFrames != 25 {
				t.Errorf("GOP %d/%v/%d frames, want 25", v.GOPMinFrames, v.GOPAvgFrames, v.GOPMaxFrames)
			}
			if math.Abs(v.GOPAvgSeconds-1) > 0.001 {
				t.Errorf("GOP %v s, want 1", v.GOPAvgSeconds)
			}
			if wantB := filepath.Base(in) != "h264_aac.flv"; v.HasBFrames != wantB {
				t.Errorf("B-frames %v, want %v", v.HasBFrames, wantB)
			}
			if math.Abs(v.MeasuredFPS-25) > 0.01 || v.Gaps != 0 || v.BackwardJumps != 0 {
				t.Errorf("fps %v gaps %d backs %d", v.MeasuredFPS, v.Gaps, v.BackwardJumps)
			}
			if v.BitrateMin <= 0 || v.BitrateMin > v.BitrateMax {
				t.Errorf("bitrate min %d avg %d max %d", v.BitrateMin, v.BitrateAvg, v.BitrateMax)
			}
			a := r.Streams[1].Frames
			if a.Frames != 260 {
				t.Errorf("audio frames %d, want 260", a.Frames)
			}
		})
	}
}

// TestGOPClockRestart: a TS file twice over (`cat a.ts a.ts`), its
// timestamps going back to the start halfway: one backward jump, and GOPs,
// frame rate, duration and bitrate as for 12 s of a 25 fps, 1 s GOP clip.
func TestGOPClockRestart(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	one := filepath.Join(dir, "a.ts")
	ffmpeg(t, "-i", testutil.Clip(t, "h264_aac.flv"), "-c", "copy", one)
	b, err := os.ReadFile(one)
	if err != nil {
		t.Fatal(err)
	}
	twice := filepath.Join(dir, "twice.ts")
	if err := os.WriteFile(twice, append(b, b...), 0o644); err != nil {
		t.Fatal(err)
	}
	r1, err := Probe(context.Background(), one, Options{Frames: true})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Probe(context.Background(), twice, Options{Frames: true})
	if err != nil {
		t.Fatal(err)
	}
	v1, v := r1.Streams[0].Frames, r2.Streams[0].Frames
	if v.BackwardJumps != 1 || v.GOPMinFrames != 25 || v.GOPMaxFrames != 25 || v.GOPMinSeconds != 1 || v.GOPMaxSeconds != 1 {
		t.Errorf("backward jumps %d, GOP %d-%d frames, %v-%v s", v.BackwardJumps, v.GOPMinFrames, v.GOPMaxFrames, v.GOPMinSeconds, v.GOPMaxSeconds)
	}
	if math.Abs(v.MeasuredFPS-25) > 0.01 || math.Abs(v.Duration-12) > 0.1 {
		t.Errorf("fps %v, duration %v s; want 25, 12", v.MeasuredFPS, v.Duration)
	}
	// the same seconds of media twice: the same rates, not twice them
	if v.BitrateMax != v1.BitrateMax || math.Abs(float64(v.BitrateAvg-v1.BitrateAvg)) > 0.02*float64(v1.BitrateAvg) {
		t.Errorf("bitrate max %d avg %d; once through %d, %d", v.BitrateMax, v.BitrateAvg, v1.BitrateMax, v1.BitrateAvg)
	}
	if len(v.BitrateSeries) != 2*len(v1.BitrateSeries)+1 || !slices.Equal(v.BitrateSeries[:len(v1.BitrateSeries)], v1.BitrateSeries) {
		t.Errorf("bitrate series %v; once through %v", v.BitrateSeries, v1.BitrateSeries)
	}
	var out bytes.Buffer
	if err := r2.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if want := "bitrate over time (kb/s, every 1 s): " + strings.Trim(fmt.Sprint(v.BitrateSeries), "[]") + "\n"; !strings.Contains(out.String(), want) {
		t.Errorf("text lacks %q:\n%s", want, out.String())
	}
}

// TestBadInput: garbage, truncated and missing files fail with an error,
// never a panic or a hang.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	clip, err := os.ReadFile(testutil.Clip(t, "h264_aac.flv"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"garbage.flv":   bytes.Repeat([]byte("garbage!"), 4096),
		"empty.ts":      nil,
		"trunc.flv":     clip[:200],
		"header.flv":    clip[:13],
		"garbage.mp4":   append([]byte{0, 0, 0, 8, 'f', 't', 'y', 'p'}, bytes.Repeat([]byte{0xff}, 1000)...),
		"garbage.mpg":   append([]byte{0, 0, 1, 0xBA}, bytes.Repeat([]byte{0, 0, 1, 0xE0, 0xff, 0xff}, 1000)...),
		"unknown.xyz":   []byte("hello"),
		"ts_garbage.ts": bytes.Repeat(append([]byte{0x47}, make([]byte, 187)...), 100),
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r, err := Probe(ctx, p, Options{Frames: name == "trunc.flv"})
		cancel()
		if err == nil {
			t.Errorf("%s: no error, report %+v", name, r)
		} else if bytes.ContainsRune([]byte(err.Error()), '\n') {
			t.Errorf("%s: error on several lines: %q", name, err)
		}
	}
	if _, err := Probe(context.Background(), filepath.Join(dir, "missing.flv"), Options{}); err == nil {
		t.Error("missing file: no error")
	}
}

// TestRTSP probes a live RTSP camera.
func TestRTSP(t *testing.T) {
	cam := rtspcam.Start(t, rtspcam.Options{})
	r, err := Probe(context.Background(), cam.URL, Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Streams) != 2 || r.Streams[0].CodecName != "h264" || r.Streams[0].Width != 320 ||
		r.Streams[1].CodecName != "aac" || r.Streams[1].SampleRate != 44100 || r.FormatName != "rtsp" || !r.Live {
		t.Errorf("report %+v", r)
	}
	r, err = Probe(context.Background(), cam.URL, Options{Frames: true, Duration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if f := r.Streams[0].Frames; f == nil || f.Frames < 10 || f.Keyframes < 1 {
		t.Errorf("frames %+v", f)
	}
}

// TestTimeout: a server that accepts and says nothing is given up on
// after Options.Timeout.
func TestTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	done := make(chan error, 1)
	go func() {
		_, err := Probe(context.Background(), "rtmp://"+ln.Addr().String()+"/live/x", Options{Timeout: time.Second})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("no error from a silent server")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("probe did not give up")
	}
}

// TestHTTP probes HTTP-FLV, HTTP-TS and HLS URLs served from files.
func TestHTTP(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	flv := testutil.Clip(t, "h264_aac.flv")
	ffmpeg(t, "-i", flv, "-c", "copy", filepath.Join(dir, "a.ts"))
	ffmpeg(t, "-i", flv, "-c", "copy", "-f", "hls", "-hls_time", "2", "-hls_list_size", "0", filepath.Join(dir, "a.m3u8"))
	b, err := os.ReadFile(flv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.flv"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	for _, c := range []struct{ path, format string }{{"/a.flv", "flv"}, {"/a.ts", "mpegts"}, {"/a.m3u8", "hls"}} {
		r, err := Probe(context.Background(), srv.URL+c.path, Options{Timeout: 5 * time.Second})
		if err != nil {
			t.Errorf("%s: %v", c.path, err)
			continue
		}
		if r.FormatName != c.format || len(r.Streams) != 2 || r.Streams[0].CodecName != "h264" || r.Streams[0].Height != 240 ||
			r.Streams[1].Profile != "LC" || r.Duration >= 0 {
			t.Errorf("%s: %+v", c.path, r)
		}
	}
}
