package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/probe"
)

// TestProbeBinary runs the real binary: a clip as JSON and as text, a
// live rtmp:// stream from `mediakit serve`, garbage (exit 1, one line)
// and a usage error (exit 2).
func TestProbeBinary(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	code, stdout, stderr := runBinary(t, nil, "probe", "--json", testutil.Clip(t, "h264_aac.flv"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r probe.JSONReport
	testutil.DecodeJSONLine(t, stdout, &r)
	if r.Format.FormatName != "flv" || r.Format.Duration != "6.023000" || len(r.Streams) != 2 ||
		r.Streams[0].CodecName != "h264" || r.Streams[1].SampleRate != "44100" {
		t.Errorf("report %+v", r)
	}
	code, stdout, _ = runBinary(t, nil, "probe", "--gop", testutil.Clip(t, "h264_only.flv"))
	if code != 0 || !strings.Contains(stdout, "GOP: 25/25.0/25 frames") || !strings.Contains(stdout, "bitrate over time (kb/s, every 1 s): ") {
		t.Errorf("exit %d, --gop output:\n%s", code, stdout)
	}

	srv := startServe(t, "--rtp-addr", "")
	pub := testutil.PublishClip(t, "h264_aac.flv", "rtmp://"+srv.rtmp+"/live/p", true)
	waitOnline(t, srv.http, "p", pub)
	code, stdout, stderr = runBinary(t, nil, "probe", "--json", "--timeout", "5s", "rtmp://"+srv.rtmp+"/live/p")
	if code != 0 {
		t.Fatalf("live probe: exit %d: %s", code, stderr)
	}
	testutil.DecodeJSONLine(t, stdout, &r)
	if r.Format.FormatName != "flv" || len(r.Streams) != 2 || r.Streams[0].Width != 320 || r.Streams[1].CodecName != "aac" {
		t.Errorf("live report %+v", r)
	}

	bad := filepath.Join(t.TempDir(), "bad.flv")
	if err := os.WriteFile(bad, []byte("FLV\x01\x05garbage garbage garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runBinary(t, nil, "probe", bad)
	if code != 1 {
		t.Errorf("garbage: exit %d, want 1", code)
	}
	testutil.CheckOneLineError(t, stdout, stderr)
	code, _, _ = runBinary(t, nil, "probe")
	if code != 2 {
		t.Errorf("no INPUT: exit %d, want 2", code)
	}
}
