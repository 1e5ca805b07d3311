package remux

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/hls"
	"github.com/mediakit/mediakit/pkg/media"
)

func run(t *testing.T, opts Options) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, opts)
	if err != nil {
		t.Fatalf("remux %v -> %s: %v", opts.Inputs, opts.Output, err)
	}
	return res
}

// TestRemuxMatrix remuxes every input container into every output
// container and lets ffprobe count the packets and the duration.
func TestRemuxMatrix(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	ins := makeInputs(t, dir, "h264_bframes_aac.flv")
	outs := []struct{ format, ext string }{
		{FormatFLV, ".flv"}, {FormatMPEGTS, ".ts"}, {FormatMP4, ".mp4"}, {FormatFMP4, ".m4s"}, {FormatHLS, "/index.m3u8"},
	}
	for _, in := range ins {
		want := probeCounts(t, in.probe)
		if want.video == 0 || want.audio == 0 {
			t.Fatalf("%s: ffprobe counts %+v", in.name, want)
		}
		for _, o := range outs {
			t.Run(in.name+"-to-"+o.format, func(t *testing.T) {
				out := filepath.Join(dir, in.name+"-out-"+o.format+o.ext)
				res := run(t, Options{Inputs: []string{in.path}, Output: out, Format: o.format})
				got := probeCounts(t, out)
				sameCounts(t, in.name+" -> "+o.format, got, want)
				if res.Frames != int64(want.video+want.audio) {
					t.Errorf("summary says %d frames, want %d", res.Frames, want.video+want.audio)
				}
				if res.Bytes <= 0 || len(res.Tracks) != 2 || len(res.Warnings) != 0 {
					t.Errorf("result %+v", res)
				}
			})
		}
	}
}

// TestRemuxHEVC carries H.265 from MP4 into MPEG-TS, MP4 and fMP4.
func TestRemuxHEVC(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	src := testutil.Clip(t, "h265_aac.mp4")
	want := probeCounts(t, src)
	for _, ext := range []string{".ts", ".mp4", ".m4s", ".m3u8"} {
		out := filepath.Join(dir, "out"+ext)
		run(t, Options{Inputs: []string{src}, Output: out})
		sameCounts(t, "hevc -> "+ext, probeCounts(t, out), want)
	}
}

type frameKey struct {
	kind media.Kind
	i    int
}

// TestRoundTripPayloads: FLV -> MP4 -> TS -> FLV keeps every frame's
// payload, keyframe flag and composition offset.
func TestRoundTripPayloads(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	src := testutil.Clip(t, "h264_bframes_aac.flv")
	mp4 := filepath.Join(dir, "a.mp4")
	ts := filepath.Join(dir, "b.ts")
	back := filepath.Join(dir, "c.flv")
	run(t, Options{Inputs: []string{src}, Output: mp4})
	run(t, Options{Inputs: []string{mp4}, Output: ts})
	run(t, Options{Inputs: []string{ts}, Output: back})
	_, want := clipframes.Read(t, "h264_bframes_aac.flv")
	_, got, err := clipframes.ReadFile(back)
	if err != nil {
		t.Fatal(err)
	}
	byKind := func(fs []*media.Frame) map[media.Kind][]*media.Frame {
		m := map[media.Kind][]*media.Frame{}
		for _, f := range fs {
			m[f.Track.Kind()] = append(m[f.Track.Kind()], f)
		}
		return m
	}
	w, g := byKind(want), byKind(got)
	for _, k := range []media.Kind{media.KindVideo, media.KindAudio} {
		if len(w[k]) == 0 || len(g[k]) != len(w[k]) {
			t.Fatalf("%v: %d frames, want %d", k, len(g[k]), len(w[k]))
		}
		for i := range w[k] {
			a, b := w[k][i], g[k][i]
			if !bytes.Equal(a.Payload, b.Payload) {
				t.Fatalf("%v frame %d: payload of %d bytes differs from the original's %d", k, i, len(b.Payload), len(a.Payload))
			}
			if a.Key != b.Key {
				t.Fatalf("%v frame %d: key %v, want %v", k, i, b.Key, a.Key)
			}
			if d := (b.CTS() - a.CTS()).Abs(); d > time.Millisecond {
				t.Fatalf("%v frame %d: PTS-DTS %v, want %v", k, i, b.CTS(), a.CTS())
			}
			if d := (b.DTS - g[k][0].DTS) - (a.DTS - w[k][0].DTS); d.Abs() > 2*time.Millisecond {
				t.Fatalf("%v frame %d: DTS %v from the start, want %v", k, i, b.DTS-g[k][0].DTS, a.DTS-w[k][0].DTS)
			}
		}
	}
}

// TestRecordedHLSToOneMP4: an ffmpeg-written HLS directory becomes one
// MP4 that decodes for the segments' summed duration.
func TestRecordedHLSToOneMP4(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	pl := filepath.Join(dir, "rec", "index.m3u8")
	if err := os.MkdirAll(filepath.Dir(pl), 0o755); err != nil {
		t.Fatal(err)
	}
	ffmpeg(t, "-i", testutil.Clip(t, "h264_aac.flv"), "-c", "copy", "-f", "hls", "-hls_time", "1",
		"-hls_list_size", "0", "-hls_playlist_type", "vod", pl)
	b, err := os.ReadFile(pl)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	segs := 0
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "#EXTINF:"); ok {
			var d float64
			if _, err := fmtSscan(strings.TrimSuffix(v, ","), &d); err != nil {
				t.Fatal(err)
			}
			sum += d
			segs++
		}
	}
	if segs < 3 {
		t.Fatalf("ffmpeg wrote %d segments", segs)
	}
	out := filepath.Join(dir, "rec.mp4")
	run(t, Options{Inputs: []string{pl}, Output: out, Faststart: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := testutil.FFprobe(ctx, t, out)
	if err != nil {
		t.Fatal(err)
	}
	if p.Video() == nil || p.Video().NbReadFrames != 150 || p.Audio() == nil || p.Audio().NbReadFrames < 259 {
		t.Fatalf("decoded %+v", p.Streams)
	}
	if d := p.Format.Duration - sum; d > 0.1 || d < -0.1 {
		t.Fatalf("duration %.3f s, segments sum to %.3f s", p.Format.Duration, sum)
	}
}

// TestConcat joins three inputs of different containers into one MP4
// whose timestamps continue.
func TestConcat(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	src := testutil.Clip(t, "h264_bframes_aac.flv")
	ts := filepath.Join(dir, "a.ts")
	mp4 := filepath.Join(dir, "b.mp4")
	run(t, Options{Inputs: []string{src}, Output: ts})
	run(t, Options{Inputs: []string{src}, Output: mp4})
	for _, o := range []string{"all.mp4", "all.flv", "all.ts"} {
		out := filepath.Join(dir, o)
		res := run(t, Options{Inputs: []string{src, ts, mp4}, Output: out, Concat: true})
		one := probeCounts(t, src)
		got := probeCounts(t, out)
		sameCounts(t, "concat "+o, got, counts{video: 3 * one.video, audio: 3 * one.audio, duration: 3 * one.duration})
		if res.Frames != int64(got.video+got.audio) {
			t.Errorf("summary %d frames, ffprobe %d", res.Frames, got.video+got.audio)
		}
	}
}

// TestFaststart: the moov comes right after ftyp, and the file plays the
// same as without it.
func TestFaststart(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	src := testutil.Clip(t, "h264_bframes_aac.flv")
	plain := filepath.Join(dir, "plain.mp4")
	fast := filepath.Join(dir, "fast.mp4")
	run(t, Options{Inputs: []string{src}, Output: plain})
	res := run(t, Options{Inputs: []string{src}, Output: fast, Faststart: true})
	b, err := os.ReadFile(fast)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(fast); res.Bytes != fi.Size() {
		t.Errorf("result says %d bytes, file has %d", res.Bytes, fi.Size())
	}
	n := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
	if string(b[4:8]) != "ftyp" || string(b[n+4:n+8]) != "moov" {
		t.Fatalf("boxes %q then %q", b[4:8], b[n+4:n+8])
	}
	_, want, err := clipframes.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	// Read it back through the project's MP4 reader and compare payloads.
	back := filepath.Join(dir, "back.flv")
	run(t, Options{Inputs: []string{fast}, Output: back})
	_, got, err := clipframes.ReadFile(back)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d frames, want %d", len(got), len(want))
	}
	sameCounts(t, "faststart", probeCounts(t, fast), probeCounts(t, plain))
	// Already faststart: nothing to do.
	if _, err := Faststart(fast); err != nil {
		t.Fatal(err)
	}
}

// TestStdinStdout reads FLV and TS from a reader and streams FLV, TS and
// fMP4 to a writer.
func TestStdinStdout(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	src := testutil.Clip(t, "h264_aac.flv")
	ts := filepath.Join(dir, "in.ts")
	run(t, Options{Inputs: []string{src}, Output: ts})
	want := probeCounts(t, src)
	for _, in := range []string{src, ts} {
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range []string{FormatFLV, FormatMPEGTS, FormatFMP4} {
			var out bytes.Buffer
			run(t, Options{Inputs: []string{"-"}, Output: "-", Format: format, Stdin: bytes.NewReader(data), Stdout: &out})
			p := filepath.Join(dir, "stdout."+format)
			if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			sameCounts(t, filepath.Ext(in)+" stdin -> stdout "+format, probeCounts(t, p), want)
		}
	}
}

// TestTruncatedInput keeps what is readable, with a warning; nothing
// readable is an error and leaves no file.
func TestTruncatedInput(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	data, err := os.ReadFile(testutil.Clip(t, "h264_aac.flv"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.flv")
	if err := os.WriteFile(cut, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "cut.mp4")
	res := run(t, Options{Inputs: []string{cut}, Output: out})
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "cut.flv") || res.Frames == 0 {
		t.Fatalf("result %+v", res)
	}
	got := probeCounts(t, out)
	if got.video+got.audio != int(res.Frames) {
		t.Fatalf("ffprobe counts %+v, summary %d frames", got, res.Frames)
	}

	// A progressive MP4 cut before its moov: nothing readable.
	mp4 := filepath.Join(dir, "whole.mp4")
	run(t, Options{Inputs: []string{testutil.Clip(t, "h264_aac.flv")}, Output: mp4})
	whole, _ := os.ReadFile(mp4)
	cases := map[string][]byte{
		"cutmoov.mp4": whole[:len(whole)-100],
		"empty.flv":   nil,
		"junk.flv":    bytes.Repeat([]byte("junk"), 1000),
		"junk.bin":    bytes.Repeat([]byte{0x47, 1, 2, 3}, 5000),
		"header.flv":  data[:13],
	}
	for name, b := range cases {
		in := filepath.Join(dir, name)
		if err := os.WriteFile(in, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, name+".out.mp4")
		_, err := Run(context.Background(), Options{Inputs: []string{in}, Output: out})
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v, want one line naming the input", name, err)
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("%s: output left behind", name)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, o := range []Options{
		{Inputs: []string{"a.flv"}, Output: "-", Format: "mp4"},
		{Inputs: []string{"a.flv"}, Output: "x.m3u8", Format: "", Faststart: true},
		{Inputs: []string{"a.flv"}, Output: "-", Format: "hls"},
		{Inputs: []string{"a.flv"}, Output: "-"},
		{Inputs: []string{"a.flv", "b.flv"}, Output: "x.mp4"},
		{Inputs: []string{"a.flv"}, Output: "x.avi"},
		{Inputs: []string{"a.flv"}, Output: "x.mp4", Format: "webm"},
		{Inputs: []string{"-", "-"}, Output: "x.mp4", Concat: true},
		{Inputs: []string{"x.mp4"}, Output: "x.mp4"},
	} {
		if _, err := Run(context.Background(), o); !errors.Is(err, ErrUsage) {
			t.Errorf("%+v: error %v, want a usage error", o, err)
		}
	}
}

// TestHLSDiscontinuityAndURL: a local playlist whose second half
// restarts its timestamps after EXT-X-DISCONTINUITY continues the
// timeline; the same recording read over HTTP gives the same packets.
func TestHLSDiscontinuityAndURL(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	src := testutil.Clip(t, "h264_aac.flv")
	for _, n := range []string{"a", "b"} {
		ffmpeg(t, "-i", src, "-c", "copy", "-f", "hls", "-hls_time", "2", "-hls_list_size", "0",
			"-hls_playlist_type", "vod", "-hls_segment_filename", filepath.Join(dir, n+"%d.ts"), filepath.Join(dir, n+".m3u8"))
	}
	a, _ := os.ReadFile(filepath.Join(dir, "a.m3u8"))
	b, _ := os.ReadFile(filepath.Join(dir, "b.m3u8"))
	var segs []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "#EXTINF") || strings.HasSuffix(l, ".ts") {
			segs = append(segs, l)
		}
	}
	joined := strings.Replace(string(a), "#EXT-X-ENDLIST", "#EXT-X-DISCONTINUITY\n"+strings.Join(segs, "\n")+"\n#EXT-X-ENDLIST", 1)
	pl := filepath.Join(dir, "joined.m3u8")
	if err := os.WriteFile(pl, []byte(joined), 0o644); err != nil {
		t.Fatal(err)
	}
	one := probeCounts(t, filepath.Join(dir, "a.m3u8"))
	out := filepath.Join(dir, "joined.mp4")
	res := run(t, Options{Inputs: []string{pl}, Output: out})
	if len(res.Warnings) != 0 {
		t.Errorf("warnings %q", res.Warnings)
	}
	sameCounts(t, "discontinuity", probeCounts(t, out), counts{video: 2 * one.video, audio: 2 * one.audio, duration: 2 * one.duration})

	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	out2 := filepath.Join(dir, "url.ts")
	run(t, Options{Inputs: []string{srv.URL + "/a.m3u8"}, Output: out2})
	sameCounts(t, "HLS over HTTP", probeCounts(t, out2), one)
}

// TestDroppedTrack: G.711 has no place in MPEG-TS here; it is left out
// and named, the video goes through.
func TestDroppedTrack(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "alaw.flv")
	ffmpeg(t, "-i", testutil.Clip(t, "h264_aac.flv"), "-c:v", "copy", "-c:a", "pcm_alaw", "-ar", "8000", "-ac", "1", in)
	out := filepath.Join(dir, "out.ts")
	res := run(t, Options{Inputs: []string{in}, Output: out})
	if len(res.Dropped) != 1 || !strings.Contains(res.Dropped[0], "audio") || len(res.Tracks) != 1 || res.Tracks[0].Frames != 150 {
		t.Fatalf("result %+v", res)
	}
	if got := probeCounts(t, out); got.video != 150 || got.audio != 0 {
		t.Fatalf("ffprobe %+v", got)
	}
	// MP4 carries it.
	mp4 := filepath.Join(dir, "out.mp4")
	res = run(t, Options{Inputs: []string{in}, Output: mp4})
	if len(res.Dropped) != 0 || len(res.Tracks) != 2 {
		t.Fatalf("mp4 result %+v", res)
	}
	sameCounts(t, "alaw mp4", probeCounts(t, mp4), probeCounts(t, in))
}

// TestClips: each input contributes its clip, starting at the video
// keyframe at or before From, and the output's time starts at 0 and runs
// on across inputs: what a span of recordings cut into one file needs.
func TestClips(t *testing.T) {
	testutil.RequireFFmpeg(t)
	src := testutil.Clip(t, "h264_bframes_aac.flv")
	_, frames := clipframes.Read(t, "h264_bframes_aac.flv")
	first := frames[0].DTS
	var lastKey time.Duration
	from, to := 1300*time.Millisecond, 2*time.Second
	for _, f := range frames {
		if f.Track.Kind() == media.KindVideo && f.Key && f.DTS-first <= from {
			lastKey = f.DTS - first
		}
	}
	count := func(keep func(at time.Duration) bool) counts {
		var c counts
		for _, f := range frames {
			if !keep(f.DTS - first) {
				continue
			}
			if f.Track.Kind() == media.KindVideo {
				c.video++
			} else {
				c.audio++
			}
		}
		return c
	}
	a := count(func(at time.Duration) bool { return at >= lastKey })
	b := count(func(time.Duration) bool { return true })
	c := count(func(at time.Duration) bool { return at < to })
	want := counts{video: a.video + b.video + c.video, audio: a.audio + b.audio + c.audio}
	// The output's time starts at 0 and runs on: the three spans end to
	// end, give or take a frame at each joint.
	span := frames[len(frames)-1].DTS - first
	wantDur := ((span - lastKey) + span + to).Seconds()
	if lastKey == 0 || a.video == b.video {
		t.Fatalf("the clip has no keyframe after its first to seek to (last key %v)", lastKey)
	}
	dir := t.TempDir()
	for _, o := range []struct{ name, format string }{{"span.flv", ""}, {"span.mp4", FormatFMP4}, {"span.ts", ""}} {
		out := filepath.Join(dir, o.name)
		res := run(t, Options{Inputs: []string{src, src, src}, Output: out, Format: o.format, Concat: true,
			Clips: []Clip{{From: from}, {}, {To: to}}})
		got := probeCounts(t, out)
		if got.video != want.video || got.audio != want.audio {
			t.Errorf("%s: %d video and %d audio frames, want %d and %d", o.name, got.video, got.audio, want.video, want.audio)
		}
		if res.Frames != int64(want.video+want.audio) {
			t.Errorf("%s: summary %d frames, want %d", o.name, res.Frames, want.video+want.audio)
		}
		if got.duration < wantDur-0.05 || got.duration > wantDur+0.2 {
			t.Errorf("%s: duration %.3f s, want %.3f s", o.name, got.duration, wantDur)
		}
		p, err := testutil.FFprobe(context.Background(), t, out)
		// MPEG-TS starts at its segmenter's offset (hls.TimestampOffset,
		// room for B-frames' earlier decode times); the others at 0.
		if wantStart := map[bool]float64{true: hls.TimestampOffset.Seconds(), false: 0}[o.name == "span.ts"]; err != nil || p.Format.StartTime < wantStart-0.01 || p.Format.StartTime > wantStart+0.1 {
			t.Errorf("%s: start_time %.3f (%v)", o.name, p.Format.StartTime, err)
		}
		if res.Duration <= 0 {
			t.Errorf("%s: duration %v", o.name, res.Duration)
		}
	}
	if _, err := Run(context.Background(), Options{Inputs: []string{src}, Output: filepath.Join(dir, "x.flv"), Clips: []Clip{{}, {}}}); !errors.Is(err, ErrUsage) {
		t.Errorf("two clips for one input: %v", err)
	}
}
