package record_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/cli"
	"github.com/mediakit/mediakit/pkg/cli/cmdutil"
	"github.com/mediakit/mediakit/pkg/cli/record"
)

// The clip every test records: 6 s, 150 H.264 frames at 25 fps and 260
// AAC frames.
const (
	clipName    = "h264_aac.flv"
	clipVideo   = 150
	clipAudio   = 260
	clipSeconds = 6.0
)

// runRecord runs `mediakit record ARGS...` through cli.Main with buffers
// for stdout and stderr (so stderr is never a terminal) and an empty
// environment.
func runRecord(t *testing.T, ctx context.Context, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli.Main(ctx, append([]string{"record"}, args...), &out, &errOut, func(string) string { return "" })
	return code, out.String(), errOut.String()
}

// summary is the --json object.
type summary struct {
	Source   string  `json:"source"`
	Duration float64 `json:"duration_seconds"`
	Frames   int64   `json:"frames"`
	Read     int64   `json:"bytes_read"`
	Files    []struct {
		Path     string  `json:"path"`
		Format   string  `json:"format"`
		Bytes    int64   `json:"bytes"`
		Duration float64 `json:"duration_seconds"`
		Frames   int64   `json:"frames"`
		Segments int     `json:"segments"`
	} `json:"files"`
	Stopped string `json:"stopped"`
}

// parseSummary decodes stdout, which must be exactly one JSON line.
func parseSummary(t *testing.T, stdout string) summary {
	t.Helper()
	var s summary
	testutil.DecodeJSONLine(t, stdout, &s)
	return s
}

// box is a top-level ISO BMFF box.
type box struct {
	Type string
	Size int64
}

// topLevelBoxes lists the top-level boxes of an MP4 file, failing the test
// when the sizes do not add up to the file's length.
func topLevelBoxes(t *testing.T, path string) []box {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var boxes []box
	for off := int64(0); off < int64(len(data)); {
		if int64(len(data))-off < 8 {
			t.Fatalf("%s: %d trailing bytes at %d after boxes %v", path, int64(len(data))-off, off, boxes)
		}
		size := int64(binary.BigEndian.Uint32(data[off:]))
		typ := string(data[off+4 : off+8])
		switch size {
		case 0:
			size = int64(len(data)) - off
		case 1:
			if int64(len(data))-off < 16 {
				t.Fatalf("%s: truncated large box %q at %d", path, typ, off)
			}
			size = int64(binary.BigEndian.Uint64(data[off+8:]))
		}
		if size < 8 || off+size > int64(len(data)) {
			t.Fatalf("%s: box %q at %d has size %d, file is %d bytes (boxes so far %v)", path, typ, off, size, len(data), boxes)
		}
		boxes = append(boxes, box{typ, size})
		off += size
	}
	return boxes
}

// checkFinishedMP4 checks the layout of a finalised recording: ftyp
// first, moov last, no fragments left.
func checkFinishedMP4(t *testing.T, path string) {
	t.Helper()
	boxes := topLevelBoxes(t, path)
	if len(boxes) < 3 || boxes[0].Type != "ftyp" || boxes[len(boxes)-1].Type != "moov" {
		t.Errorf("%s: top-level boxes %v, want ftyp first and moov last", path, boxes)
	}
	mdat := false
	for _, b := range boxes {
		switch b.Type {
		case "moof", "mfra":
			t.Errorf("%s: %s box left in a finished file (boxes %v)", path, b.Type, boxes)
		case "mdat":
			mdat = true
		}
	}
	if !mdat {
		t.Errorf("%s: no mdat (boxes %v)", path, boxes)
	}
}

// probe runs ffprobe -count_frames on input.
func probe(t *testing.T, input string) *testutil.Probe {
	t.Helper()
	p, err := testutil.FFprobe(context.Background(), t, input)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkMonotonicDTS checks that every stream's DTS strictly increases in
// file order and that every packet has one.
func checkMonotonicDTS(t *testing.T, input string) {
	t.Helper()
	pkts, err := testutil.FramePackets(context.Background(), t, input)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) == 0 {
		t.Fatalf("%s: no packets", input)
	}
	last := map[int]float64{}
	bad := 0
	for i, p := range pkts {
		if math.IsNaN(p.DTSTime) {
			t.Errorf("%s: packet %d (%s) has no DTS", input, i, p.CodecType)
			bad++
		} else if prev, ok := last[p.StreamIndex]; ok && p.DTSTime <= prev {
			t.Errorf("%s: packet %d (%s) DTS %.3f after %.3f", input, i, p.CodecType, p.DTSTime, prev)
			bad++
		}
		if bad > 5 {
			t.FailNow()
		}
		last[p.StreamIndex] = p.DTSTime
	}
}

// checkEndedPlaylist checks that dir/hls.m3u8 is ended and lists only
// segments that exist.
func checkEndedPlaylist(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "hls.m3u8")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pl := string(data)
	if !strings.HasPrefix(pl, "#EXTM3U\n") || !strings.HasSuffix(strings.TrimRight(pl, "\n"), "\n#EXT-X-ENDLIST") {
		t.Errorf("%s does not start with #EXTM3U and end with #EXT-X-ENDLIST:\n%s", path, pl)
	}
	segs := 0
	for _, line := range strings.Split(pl, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		segs++
		if _, err := os.Stat(filepath.Join(dir, line)); err != nil {
			t.Errorf("%s lists %s: %v", path, line, err)
		}
	}
	if segs == 0 {
		t.Errorf("%s lists no segments:\n%s", path, pl)
	}
	if _, err := os.Stat(path + ".tmp"); err == nil {
		t.Errorf("%s.tmp left behind", path)
	}
	return pl
}

func within(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	clip := testutil.Clip(t, clipName)
	mp4 := filepath.Join(dir, "x.mp4")
	txt := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(txt, []byte("not a video"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string // in the error line
	}{
		{"no SRC", []string{"--mp4", mp4}, "SRC"},
		{"two SRCs", []string{clip, clip, "--mp4", mp4}, "SRC"},
		{"no output", []string{clip}, "--mp4"},
		{"no output json", []string{clip, "--json", "--duration", "1s"}, "--hls"},
		{"segment 0", []string{clip, "--hls", filepath.Join(dir, "h"), "--segment", "0"}, "--segment"},
		{"segment negative", []string{clip, "--hls", filepath.Join(dir, "h"), "--segment", "-2s"}, "--segment"},
		{"duration negative", []string{clip, "--mp4", mp4, "--duration", "-1s"}, "--duration"},
		{"duration not a duration", []string{clip, "--mp4", mp4, "--duration", "ten"}, "--duration"},
		{"srt scheme", []string{"srt://x", "--mp4", mp4}, "srt"},
		{"bad rtsp transport", []string{"rtsp://127.0.0.1/live/x", "--mp4", mp4, "--rtsp-transport", "quic"}, "--rtsp-transport"},
		{"http of no known kind", []string{"http://127.0.0.1:1/live/x.mpd", "--mp4", mp4}, "x.mpd"},
		{"file not flv", []string{txt, "--mp4", mp4}, "notes.txt"},
		{"unknown flag", []string{clip, "--mp4", mp4, "--bogus"}, "--bogus"},
		{"bad log level", []string{clip, "--mp4", mp4, "--log-level", "loud"}, "loud"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runRecord(t, context.Background(), tc.args...)
			if code != cli.ExitUsage {
				t.Errorf("exit %d, want %d; stderr %q", code, cli.ExitUsage, stderr)
			}
			testutil.CheckOneLineError(t, stdout, stderr)
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("error %q does not mention %q", stderr, tc.want)
			}
			if _, err := os.Stat(mp4); err == nil {
				t.Errorf("a usage error created %s", mp4)
			}
			if _, err := os.Stat(filepath.Join(dir, "h")); err == nil {
				t.Errorf("a usage error created %s", filepath.Join(dir, "h"))
			}
		})
	}
}

// TestNewCommandOptions checks the flags reach Options, through runF.
func TestNewCommandOptions(t *testing.T) {
	var out, errOut bytes.Buffer
	var got *record.Options
	cmd := record.NewCommand(&cmdutil.IO{Out: &out, ErrOut: &errOut}, func(_ context.Context, o *record.Options) error {
		got = o
		return nil
	})
	cmd.SetArgs([]string{"rtmp://h/live/s", "--mp4", "a.mp4", "--hls", "d", "--duration", "90s", "--segment", "4s",
		"--json", "--re", "--log-level", "debug", "--rtsp-transport", "multicast"})
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got == nil {
		t.Fatal("runF not called")
	}
	if got.Source != "rtmp://h/live/s" || got.MP4 != "a.mp4" || got.HLS != "d" || got.Duration != 90*time.Second ||
		got.Segment != 4*time.Second || !got.JSON || !got.Realtime || got.LogLevel != "debug" || got.RTSPTransport != "multicast" {
		t.Errorf("options %+v", *got)
	}

	got = nil
	cmd = record.NewCommand(&cmdutil.IO{Out: &out, ErrOut: &errOut}, func(_ context.Context, o *record.Options) error {
		got = o
		return nil
	})
	cmd.SetArgs([]string{"in.flv", "--hls", "d"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got == nil || got.Segment != 2*time.Second || got.Duration != 0 || got.JSON || got.Realtime || got.MP4 != "" ||
		got.RTSPTransport != "tcp" {
		t.Errorf("defaults: %+v", got)
	}
	if out.Len() != 0 || errOut.Len() != 0 {
		t.Errorf("output: stdout %q stderr %q", out.String(), errOut.String())
	}
}

func TestMissingInput(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope", "missing.flv")
	mp4 := filepath.Join(dir, "x.mp4")
	code, stdout, stderr := runRecord(t, context.Background(), missing, "--mp4", mp4, "--hls", filepath.Join(dir, "h"))
	if code != cli.ExitFailure {
		t.Errorf("exit %d, want %d; stderr %q", code, cli.ExitFailure, stderr)
	}
	testutil.CheckOneLineError(t, stdout, stderr)
	if !strings.Contains(stderr, missing) {
		t.Errorf("error %q does not name %s", stderr, missing)
	}
	if !strings.Contains(stderr, "no such file") {
		t.Errorf("error %q does not give the cause", stderr)
	}
	for _, p := range []string{mp4, filepath.Join(dir, "h")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s created for a missing input", p)
		}
	}
}

// TestUnwritableOutput: an output that cannot be created is a runtime
// failure (exit 1) naming the output, not a success with no files.
func TestUnwritableOutput(t *testing.T) {
	clip := testutil.Clip(t, clipName)
	dir := t.TempDir()
	blocker := filepath.Join(dir, "afile")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.mp4")
	for _, tc := range []struct {
		name string
		args []string
		bad  string
	}{
		{"mp4", []string{"--mp4", filepath.Join(blocker, "x.mp4")}, filepath.Join(blocker, "x.mp4")},
		{"hls", []string{"--hls", filepath.Join(blocker, "h")}, filepath.Join(blocker, "h")},
		{"hls beside a good mp4", []string{"--mp4", good, "--hls", filepath.Join(blocker, "h")}, filepath.Join(blocker, "h")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runRecord(t, context.Background(), append([]string{clip, "--json"}, tc.args...)...)
			if code != cli.ExitFailure {
				t.Errorf("exit %d, want %d; stderr %q", code, cli.ExitFailure, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "mediakit: ") || !strings.Contains(last, tc.bad) {
				t.Errorf("last stderr line %q is not an error naming %s; stderr:\n%s", last, tc.bad, stderr)
			}
			if strings.Count(stderr, "mediakit: ") != 1 || strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
				t.Errorf("stderr: %s", stderr)
			}
			if s := parseSummary(t, stdout); s.Stopped != "failed" {
				t.Errorf("stopped %q, want failed", s.Stopped)
			}
		})
	}
}

func TestRecordFileMP4AndHLS(t *testing.T) {
	testutil.RequireFFmpeg(t)
	clip := testutil.Clip(t, clipName)
	dir := t.TempDir()
	mp4 := filepath.Join(dir, "out", "a.mp4") // the directory is created
	hlsDir := filepath.Join(dir, "h")
	code, stdout, stderr := runRecord(t, context.Background(), clip, "--mp4", mp4, "--hls", hlsDir)
	if code != 0 {
		t.Fatalf("exit %d; stdout %q stderr %q", code, stdout, stderr)
	}
	// One summary line naming both outputs; nothing else on stdout, and
	// nothing at all on stderr (no progress bar: it is not a terminal;
	// no logs at the default level).
	if strings.Count(stdout, "\n") != 1 || !strings.HasSuffix(stdout, "\n") {
		t.Errorf("stdout is not one line: %q", stdout)
	}
	for _, want := range []string{mp4, filepath.Join(hlsDir, "hls.m3u8"), clip, "recorded", "410 frames"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary %q lacks %q", stdout, want)
		}
	}
	if stderr != "" {
		t.Errorf("stderr not empty: %q", stderr)
	}

	checkFinishedMP4(t, mp4)
	p := probe(t, mp4)
	if !strings.Contains(p.Format.FormatName, "mp4") {
		t.Errorf("format %q", p.Format.FormatName)
	}
	v, a := p.Video(), p.Audio()
	if v == nil || a == nil || len(p.Streams) != 2 {
		t.Fatalf("streams %+v, want one video and one audio", p.Streams)
	}
	if v.CodecName != "h264" || a.CodecName != "aac" {
		t.Errorf("codecs %s/%s, want h264/aac", v.CodecName, a.CodecName)
	}
	if v.NbReadFrames != clipVideo || a.NbReadFrames != clipAudio {
		t.Errorf("frames %d video, %d audio; want %d, %d", v.NbReadFrames, a.NbReadFrames, clipVideo, clipAudio)
	}
	if !within(p.Format.Duration, clipSeconds, 0.2) {
		t.Errorf("duration %.3f s, want %.1f±0.2", p.Format.Duration, clipSeconds)
	}
	if v.Width == 0 || v.Height == 0 || a.SampleRate == 0 || a.Channels == 0 {
		t.Errorf("codec parameters lost: video %dx%d, audio %d Hz %d ch", v.Width, v.Height, a.SampleRate, a.Channels)
	}
	checkMonotonicDTS(t, mp4)

	checkEndedPlaylist(t, hlsDir)
	hp := probe(t, filepath.Join(hlsDir, "hls.m3u8"))
	if hv := hp.Video(); hv == nil || hv.NbReadFrames != clipVideo || hv.CodecName != "h264" {
		t.Errorf("HLS video %+v, want %d h264 frames", hv, clipVideo)
	}
	if ha := hp.Audio(); ha == nil || ha.NbReadFrames != clipAudio || ha.CodecName != "aac" {
		t.Errorf("HLS audio %+v, want %d aac frames", ha, clipAudio)
	}
	if !within(hp.Format.Duration, clipSeconds, 0.2) {
		t.Errorf("HLS duration %.3f s, want %.1f±0.2", hp.Format.Duration, clipSeconds)
	}
}

func TestRecordJSON(t *testing.T) {
	clip := testutil.Clip(t, clipName)
	dir := t.TempDir()
	mp4 := filepath.Join(dir, "a.mp4")
	hlsDir := filepath.Join(dir, "h")
	code, stdout, stderr := runRecord(t, context.Background(), clip, "--mp4", mp4, "--hls", hlsDir, "--json")
	if code != 0 {
		t.Fatalf("exit %d; stdout %q stderr %q", code, stdout, stderr)
	}
	if stderr != "" {
		t.Errorf("stderr not empty: %q", stderr)
	}
	s := parseSummary(t, stdout)
	if s.Source != clip || s.Stopped != "end" || s.Frames != clipVideo+clipAudio {
		t.Errorf("source %q stopped %q frames %d; want %q, end, %d", s.Source, s.Stopped, s.Frames, clip, clipVideo+clipAudio)
	}
	if !within(s.Duration, clipSeconds, 0.2) {
		t.Errorf("duration_seconds %.3f, want %.1f±0.2", s.Duration, clipSeconds)
	}
	if fi, err := os.Stat(clip); err != nil || s.Read != fi.Size() {
		t.Errorf("bytes_read %d, want the clip's size (%v)", s.Read, err)
	}
	if len(s.Files) != 2 {
		t.Fatalf("files %+v, want the MP4 and the playlist", s.Files)
	}
	m, h := s.Files[0], s.Files[1]
	if m.Format != "mp4" || m.Path != mp4 || m.Frames != clipVideo+clipAudio || !within(m.Duration, clipSeconds, 0.2) || m.Segments != 0 {
		t.Errorf("mp4 entry %+v", m)
	}
	if fi, err := os.Stat(mp4); err != nil || m.Bytes != fi.Size() {
		t.Errorf("mp4 bytes %d, file %v (%v)", m.Bytes, fi, err)
	}
	if h.Format != "hls" || h.Path != filepath.Join(hlsDir, "hls.m3u8") || h.Frames != clipVideo+clipAudio ||
		!within(h.Duration, clipSeconds, 0.2) {
		t.Errorf("hls entry %+v", h)
	}
	segs, _ := filepath.Glob(filepath.Join(hlsDir, "*.ts"))
	var segBytes int64
	for _, p := range segs {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		segBytes += fi.Size()
	}
	// 6 s of 2 s GOPs in 2 s segments.
	if h.Segments != len(segs) || h.Segments != 3 || h.Bytes != segBytes {
		t.Errorf("hls segments %d (%d bytes); directory has %d .ts (%d bytes), want 3", h.Segments, h.Bytes, len(segs), segBytes)
	}
}

func TestRecordDuration(t *testing.T) {
	testutil.RequireFFmpeg(t)
	clip := testutil.Clip(t, clipName)
	dir := t.TempDir()
	mp4 := filepath.Join(dir, "a.mp4")
	hlsDir := filepath.Join(dir, "h")
	code, stdout, stderr := runRecord(t, context.Background(), clip, "--mp4", mp4, "--hls", hlsDir, "--duration", "2s", "--json")
	if code != 0 {
		t.Fatalf("exit %d; stdout %q stderr %q", code, stdout, stderr)
	}
	s := parseSummary(t, stdout)
	if s.Stopped != "duration" {
		t.Errorf("stopped %q, want duration", s.Stopped)
	}
	if !within(s.Duration, 2, 0.2) {
		t.Errorf("duration_seconds %.3f, want 2±0.2", s.Duration)
	}
	if s.Frames <= 0 || s.Frames >= clipVideo+clipAudio {
		t.Errorf("frames %d", s.Frames)
	}
	checkFinishedMP4(t, mp4)
	p := probe(t, mp4)
	if !within(p.Format.Duration, 2, 0.2) {
		t.Errorf("mp4 duration %.3f s, want 2±0.2", p.Format.Duration)
	}
	if v := p.Video(); v == nil || v.NbReadFrames < 45 || v.NbReadFrames > 55 {
		t.Errorf("mp4 video %+v, want about 50 frames", v)
	}
	checkMonotonicDTS(t, mp4)
	checkEndedPlaylist(t, hlsDir)
	hp := probe(t, filepath.Join(hlsDir, "hls.m3u8"))
	if !within(hp.Format.Duration, 2, 0.3) {
		t.Errorf("HLS duration %.3f s, want 2±0.3", hp.Format.Duration)
	}
}

// TestRecordInterrupted simulates Ctrl-C: the ctx ends while a file is
// read in real time. The files are finished and playable, exit 0.
func TestRecordInterrupted(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	clip := testutil.Clip(t, clipName)
	dir := t.TempDir()
	mp4 := filepath.Join(dir, "a.mp4")
	hlsDir := filepath.Join(dir, "h")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, stdout, stderr := runRecord(t, ctx, clip, "--mp4", mp4, "--hls", hlsDir, "--re", "--json")
		done <- result{code, stdout, stderr}
	}()
	select {
	case r := <-done:
		t.Fatalf("ended before the interrupt: %+v", r)
	case <-time.After(2500 * time.Millisecond):
	}
	cancel()
	var r result
	select {
	case r = <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("still running 3 s after the interrupt")
	}
	if r.code != 0 {
		t.Fatalf("exit %d after the interrupt; stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("stderr not empty: %q", r.stderr)
	}
	s := parseSummary(t, r.stdout)
	if s.Stopped != "interrupted" {
		t.Errorf("stopped %q, want interrupted", s.Stopped)
	}
	// --re: about 2.5 s of media in 2.5 s, certainly not the whole clip.
	if s.Duration < 1.5 || s.Duration > 4 {
		t.Errorf("duration_seconds %.3f after 2.5 s of --re", s.Duration)
	}
	if len(s.Files) != 2 {
		t.Fatalf("files %+v", s.Files)
	}

	checkFinishedMP4(t, mp4)
	p := probe(t, mp4)
	v := p.Video()
	if v == nil || p.Audio() == nil {
		t.Fatalf("streams %+v", p.Streams)
	}
	if v.NbReadFrames < 35 || v.NbReadFrames >= clipVideo {
		t.Errorf("mp4 has %d video frames after 2.5 s of a 25 fps clip", v.NbReadFrames)
	}
	if !within(p.Format.Duration, s.Duration, 0.3) {
		t.Errorf("mp4 duration %.3f s, summary says %.3f", p.Format.Duration, s.Duration)
	}
	if int64(v.NbReadFrames+p.Audio().NbReadFrames) != s.Files[0].Frames {
		t.Errorf("mp4 has %d+%d frames, summary says %d", v.NbReadFrames, p.Audio().NbReadFrames, s.Files[0].Frames)
	}
	checkMonotonicDTS(t, mp4)

	checkEndedPlaylist(t, hlsDir)
	hp := probe(t, filepath.Join(hlsDir, "hls.m3u8"))
	if hv := hp.Video(); hv == nil || hv.NbReadFrames < 35 || hv.NbReadFrames >= clipVideo {
		t.Errorf("HLS video %+v after 2.5 s", hv)
	}
}

// TestNoProgressWithoutTerminal: stderr is a buffer, so nothing is drawn,
// even over a second of real-time reading; forcing the bar on draws it
// on stderr, never on stdout.
func TestNoProgressWithoutTerminal(t *testing.T) {
	t.Parallel()
	clip := testutil.Clip(t, clipName)
	dir := t.TempDir()
	code, stdout, stderr := runRecord(t, context.Background(), clip, "--mp4", filepath.Join(dir, "a.mp4"), "--re", "--duration", "1s")
	if code != 0 {
		t.Fatalf("exit %d; stderr %q", code, stderr)
	}
	if stderr != "" {
		t.Errorf("progress or logs on a non-terminal stderr: %q", stderr)
	}
	if strings.ContainsAny(stdout, "\r\x1b") || strings.Count(stdout, "\n") != 1 {
		t.Errorf("stdout is not one plain line: %q", stdout)
	}

	var out, errOut bytes.Buffer
	on := true
	err := record.Run(context.Background(), &record.Options{
		IO: &cmdutil.IO{Out: &out, ErrOut: &errOut}, Source: clip, MP4: filepath.Join(dir, "b.mp4"),
		Segment: 2 * time.Second, Duration: time.Second, Realtime: true, Progress: &on, LogLevel: "warn",
	})
	if err != nil {
		t.Fatal(err)
	}
	if errOut.Len() == 0 {
		t.Error("Progress forced on drew nothing on stderr")
	}
	if strings.ContainsAny(out.String(), "\r\x1b") || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("progress leaked to stdout: %q", out.String())
	}
}

// TestRecordSummaryText checks the text summary's numbers against the
// files (MP4 only: no HLS part).
func TestRecordSummaryText(t *testing.T) {
	clip := testutil.Clip(t, clipName)
	mp4 := filepath.Join(t.TempDir(), "a.mp4")
	code, stdout, stderr := runRecord(t, context.Background(), clip, "--mp4", mp4)
	if code != 0 {
		t.Fatalf("exit %d; stderr %q", code, stderr)
	}
	if !strings.HasPrefix(stdout, "recorded 6.0") || !strings.Contains(stdout, mp4+" (") ||
		strings.Contains(stdout, "segments") {
		t.Errorf("summary %q", stdout)
	}
}

// TestSourceFailure: a source that cannot be reached is exit 1 with an
// error naming it; --json still describes the (empty) run, stopped
// "failed".
func TestSourceFailure(t *testing.T) {
	url := "rtmp://" + testutil.FreeAddr(t) + "/live/none" // nothing listens there
	mp4 := filepath.Join(t.TempDir(), "a.mp4")
	code, stdout, stderr := runRecord(t, context.Background(), url, "--mp4", mp4, "--json")
	if code != cli.ExitFailure {
		t.Errorf("exit %d, want %d; stderr %q", code, cli.ExitFailure, stderr)
	}
	if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "mediakit: ") || !strings.Contains(stderr, url) ||
		!strings.Contains(stderr, "refused") {
		t.Errorf("stderr is not one line naming %s and the cause: %q", url, stderr)
	}
	s := parseSummary(t, stdout)
	if s.Stopped != "failed" || s.Frames != 0 || len(s.Files) != 0 {
		t.Errorf("summary %+v, want stopped failed, no frames, no files", s)
	}
	if _, err := os.Stat(mp4); err == nil {
		t.Errorf("%s created without media", mp4)
	}
}
