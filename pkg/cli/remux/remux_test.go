package remux_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/cli"
	"github.com/mediakit/mediakit/pkg/cli/cmdutil"
	"github.com/mediakit/mediakit/pkg/cli/remux"
)

func runRemux(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code = cli.Main(ctx, append([]string{"remux"}, args...), &out, &errOut, func(string) string { return "" })
	return code, out.String(), errOut.String()
}

type summary struct {
	Input  []string `json:"input"`
	Output string   `json:"output"`
	Format string   `json:"format"`
	Tracks []struct {
		Kind   string `json:"kind"`
		Codec  string `json:"codec"`
		Frames int64  `json:"frames"`
	} `json:"tracks"`
	Frames   int64    `json:"frames"`
	Duration float64  `json:"duration_seconds"`
	Bytes    int64    `json:"bytes"`
	Dropped  []string `json:"dropped_tracks"`
	Warnings []string `json:"warnings"`
}

func TestRemuxCommand(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	src := testutil.Clip(t, "h264_aac.flv")
	out := filepath.Join(dir, "out.mp4")
	code, stdout, stderr := runRemux(t, src, out, "--json", "--faststart")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var s summary
	testutil.DecodeJSONLine(t, stdout, &s)
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if s.Format != "mp4" || s.Frames != 410 || len(s.Tracks) != 2 || s.Bytes != fi.Size() || s.Duration < 5.9 || s.Duration > 6.2 {
		t.Fatalf("summary %+v", s)
	}
	if s.Tracks[0].Codec != "h264" || s.Tracks[0].Frames != 150 || s.Tracks[1].Codec != "aac" || s.Tracks[1].Frames != 260 {
		t.Fatalf("tracks %+v", s.Tracks)
	}

	// The plain summary is one line on stdout.
	code, stdout, stderr = runRemux(t, src, filepath.Join(dir, "out.ts"))
	if code != 0 || stderr != "" || strings.Count(stdout, "\n") != 1 || !strings.Contains(stdout, "150 h264 + 260 aac frames") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestRemuxCommandErrors(t *testing.T) {
	dir := t.TempDir()
	src := testutil.Clip(t, "h264_aac.flv")
	junk := filepath.Join(dir, "junk.flv")
	if err := os.WriteFile(junk, []byte("not a video at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{src}, 2, "IN... OUT"},
		{[]string{src, "-"}, 2, "--format"},
		{[]string{src, "-", "--format", "mp4"}, 2, "stdout"},
		{[]string{src, "x.avi"}, 2, "extension"},
		{[]string{src, src, "x.mp4"}, 2, "--concat"},
		{[]string{src, "x.flv", "--faststart"}, 2, "--faststart"},
		{[]string{src, "x.flv", "--format", "webm"}, 2, "webm"},
		{[]string{src, "x.flv", "--duration", "-1s"}, 2, "--duration"},
		{[]string{filepath.Join(dir, "missing.flv"), filepath.Join(dir, "x.mp4")}, 1, "missing.flv"},
		{[]string{junk, filepath.Join(dir, "x.mp4")}, 1, "junk.flv"},
	} {
		code, stdout, stderr := runRemux(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
		testutil.CheckOneLineError(t, stdout, stderr)
	}
}

// TestRemuxCommandDuration: --duration ends the output after that much
// media; a live HLS playlist is refused without it (exit 1, one line) and
// remuxed with it.
func TestRemuxCommandDuration(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	src := testutil.Clip(t, "h264_aac.flv")
	code, stdout, stderr := runRemux(t, src, filepath.Join(dir, "out.mp4"), "--duration", "2s", "--json")
	var s summary
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	testutil.DecodeJSONLine(t, stdout, &s)
	if s.Duration < 1.9 || s.Duration > 2.1 || len(s.Tracks) != 2 || s.Tracks[0].Frames != 50 {
		t.Fatalf("summary %+v", s)
	}

	if err := testutil.StartFFmpeg(t, "-i", src, "-c", "copy", "-f", "hls", "-hls_time", "1", "-hls_list_size", "0",
		filepath.Join(dir, "live.m3u8")).Wait(time.Minute); err != nil {
		t.Fatal(err)
	}
	pl, err := os.ReadFile(filepath.Join(dir, "live.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	// as a live server would: no EXT-X-ENDLIST
	if err := os.WriteFile(filepath.Join(dir, "live.m3u8"), bytes.ReplaceAll(pl, []byte("#EXT-X-ENDLIST\n"), nil), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	code, stdout, stderr = runRemux(t, srv.URL+"/live.m3u8", filepath.Join(dir, "live.mp4"))
	if code != 1 || !strings.Contains(stderr, "is a live playlist (no EXT-X-ENDLIST); use --duration or mediakit record") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	testutil.CheckOneLineError(t, stdout, stderr)
	code, _, stderr = runRemux(t, srv.URL+"/live.m3u8", filepath.Join(dir, "live.mp4"), "--duration", "1s")
	if code != 0 || stderr != "" {
		t.Errorf("with --duration: exit %d, stderr %q", code, stderr)
	}
}

// TestRemuxCommandTruncated: exit 0 with one warning line.
func TestRemuxCommandTruncated(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(testutil.Clip(t, "h264_aac.flv"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.flv")
	if err := os.WriteFile(cut, data[:len(data)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runRemux(t, cut, filepath.Join(dir, "cut.ts"))
	if code != 0 || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "mediakit: warning: ") ||
		!strings.Contains(stderr, "cut.flv") || !strings.HasPrefix(stdout, "remuxed ") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestRemuxStdinStdout: FLV on stdin, MPEG-TS on stdout, the summary on
// stderr.
func TestRemuxStdinStdout(t *testing.T) {
	testutil.RequireFFmpeg(t)
	data, err := os.ReadFile(testutil.Clip(t, "h264_aac.flv"))
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	no := false
	opts := &remux.Options{IO: &cmdutil.IO{Out: &out, ErrOut: &errOut}, Inputs: []string{"-"}, Output: "-",
		Format: "mpegts", LogLevel: "warn", Stdin: bytes.NewReader(data), Progress: &no}
	if err := remux.Run(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(errOut.String(), "remuxed - to - (mpegts)") {
		t.Fatalf("stderr %q", errOut.String())
	}
	p := filepath.Join(t.TempDir(), "out.ts")
	if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pr, err := testutil.FFprobe(ctx, t, p)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Video() == nil || pr.Video().NbReadFrames != 150 || pr.Audio() == nil {
		t.Fatalf("ffprobe %+v", pr.Streams)
	}
}

// TestRemuxProgress draws the bar on stderr when asked, and keeps stdout
// to the summary.
func TestRemuxProgress(t *testing.T) {
	var out, errOut bytes.Buffer
	yes := true
	dir := t.TempDir()
	opts := &remux.Options{IO: &cmdutil.IO{Out: &out, ErrOut: &errOut}, Inputs: []string{testutil.Clip(t, "h264_aac.flv")},
		Output: filepath.Join(dir, "o.flv"), LogLevel: "warn", Progress: &yes}
	if err := remux.Run(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), "\n") != 1 || errOut.Len() == 0 {
		t.Fatalf("stdout %q, stderr %q", out.String(), errOut.String())
	}
}
