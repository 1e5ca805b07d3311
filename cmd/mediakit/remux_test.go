package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
)

// TestRemuxBinary pipes an FLV clip through the real binary's stdin and
// stdout as MPEG-TS (summary on stderr), then remuxes that file to MP4.
func TestRemuxBinary(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	clip, err := os.Open(testutil.Clip(t, "h264_aac.flv"))
	if err != nil {
		t.Fatal(err)
	}
	defer clip.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "remux", "-", "--format", "mpegts", "-")
	cmd.Env = environ()
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = clip, &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("mediakit remux - -: %v; stderr %s", err, errOut.String())
	}
	if !strings.HasPrefix(errOut.String(), "remuxed - to - (mpegts)") || out.Len() == 0 || out.Bytes()[0] != 0x47 {
		t.Fatalf("stderr %q, %d bytes of stdout", errOut.String(), out.Len())
	}
	ts := filepath.Join(dir, "piped.ts")
	if err := os.WriteFile(ts, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	mp4 := filepath.Join(dir, "out.mp4")
	code, stdout, stderr := runBinary(t, nil, "remux", ts, mp4, "--faststart")
	if code != 0 || stderr != "" || !strings.Contains(stdout, "150 h264 + 260 aac frames") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	p, err := testutil.FFprobe(ctx, t, mp4)
	if err != nil {
		t.Fatal(err)
	}
	if p.Video() == nil || p.Video().NbReadFrames != 150 || p.Audio() == nil {
		t.Fatalf("ffprobe %+v", p.Streams)
	}
	code, stdout, stderr = runBinary(t, nil, "remux", ts, "-", "--format", "mp4")
	if code != 2 {
		t.Fatalf("mp4 to stdout: exit %d, want 2", code)
	}
	testutil.CheckOneLineError(t, stdout, stderr)
}
