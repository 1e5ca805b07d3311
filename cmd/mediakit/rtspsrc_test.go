package main

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/rtspcam"
)

// TestRelayRTSP: `mediakit relay rtsp://camera rtmp://server` while the
// camera streams; ffprobe judges the server's HTTP-FLV; --duration ends
// the relay with exit 0. The camera wants credentials, given in the URL;
// the password shows nowhere.
func TestRelayRTSP(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	cam := rtspcam.Start(t, rtspcam.Options{After: rtspcam.Loop, User: "admin", Pass: "hunter2"})
	u, _ := url.Parse(cam.URL)
	u.User = url.UserPassword("admin", "hunter2")
	srv := startRelayServe(t)
	dst := "rtmp://" + srv.rtmp + "/live/cam"
	r := startRelay(t, u.String(), dst, "--duration", "5s", "--json")
	mustProbeLive(t, "http://"+srv.http+"/live/cam.live.flv", 30*time.Second, r.exitedWith)
	if code := r.wait(t, 30*time.Second, "--duration 5s").ExitCode(); code != 0 {
		t.Fatalf("exit %d, want 0; stdout %q stderr:\n%s", code, r.stdout.String(), r.stderr.String())
	}
	s := parseRelaySummary(t, r.stdout.String())
	if s.Stopped != "duration" || s.Frames == 0 || s.Read == 0 || len(s.Destinations) != 1 || s.Destinations[0].Frames != s.Frames {
		t.Fatalf("summary %+v, want 5 s relayed to the server", s)
	}
	if out := r.stdout.String() + r.stderr.String(); strings.Contains(out, "hunter2") {
		t.Errorf("the password shows: %s", out)
	}
	checkQuietStderr(t, r.stderr.String())
}

// TestRelayRTSPToFiles: the whole clip over UDP and over TCP into FLV
// files: ffprobe counts every frame of the clip.
func TestRelayRTSPToFiles(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	for _, tr := range []string{"tcp", "udp"} {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			cam := rtspcam.Start(t, rtspcam.Options{Speed: 4, UDP: tr == "udp"})
			out := filepath.Join(t.TempDir(), "cam.flv")
			r := startRelay(t, cam.URL, out, "--rtsp-transport", tr, "--json")
			if code := r.wait(t, 60*time.Second, "relaying a 6 s clip").ExitCode(); code != 0 {
				t.Fatalf("exit %d; stdout %q stderr:\n%s", code, r.stdout.String(), r.stderr.String())
			}
			checkQuietStderr(t, r.stderr.String())
			if s := parseRelaySummary(t, r.stdout.String()); s.Stopped != "end" || s.Frames != int64(cam.Video+cam.Audio) {
				t.Errorf("summary %+v, want %d frames and the end of the source", s, cam.Video+cam.Audio)
			}
			p := probeOrFail(t, out)
			v, a := p.Video(), p.Audio()
			if v == nil || a == nil || v.CodecName != "h264" || a.CodecName != "aac" ||
				v.NbReadFrames != cam.Video || a.NbReadFrames != cam.Audio {
				t.Fatalf("%s: %+v, want %d h264 and %d aac frames", out, p.Streams, cam.Video, cam.Audio)
			}
			checkMonotonic(t, out)
		})
	}
}

// TestRecordRTSP: `mediakit record rtsp://... --mp4` of the B-frame clip:
// a finished MP4 with every frame, DTS monotonic.
func TestRecordRTSP(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	cam := rtspcam.Start(t, rtspcam.Options{Speed: 4, Clip: "h264_bframes_aac.flv", NoSDPParams: true})
	mp4 := filepath.Join(t.TempDir(), "cam.mp4")
	c := startRecord(t, cam.URL, "--mp4", mp4, "--json")
	if code := c.wait(t, 60*time.Second, "recording a 6 s clip").ExitCode(); code != 0 {
		t.Fatalf("exit %d; stdout %q stderr:\n%s", code, c.stdout.String(), c.stderr.String())
	}
	checkQuietStderr(t, c.stderr.String())
	boxes, truncated := mp4Boxes(t, mp4)
	if truncated || countBoxes(boxes, "moov") != 1 || countBoxes(boxes, "moof") != 0 {
		t.Errorf("%s is not a finished MP4: %v", mp4, boxes)
	}
	p := probeOrFail(t, mp4)
	v, a := p.Video(), p.Audio()
	if v == nil || a == nil || v.CodecName != "h264" || a.CodecName != "aac" ||
		v.NbReadFrames != cam.Video || a.NbReadFrames != cam.Audio {
		t.Fatalf("%s: %+v, want %d h264 and %d aac frames", mp4, p.Streams, cam.Video, cam.Audio)
	}
	if p.Format.Duration < 5.5 || p.Format.Duration > 6.5 {
		t.Errorf("duration %.3f s, want about 6", p.Format.Duration)
	}
	checkMonotonic(t, mp4)
}

// TestRTSPSourceErrors: one line on stderr naming the URL (password
// redacted) and the cause, exit 1; exit 2 for a bad --rtsp-transport.
func TestRTSPSourceErrors(t *testing.T) {
	t.Parallel()
	cam := rtspcam.Start(t, rtspcam.Options{User: "admin", Pass: "right"})
	u, _ := url.Parse(cam.URL)
	u.User = url.UserPassword("admin", "wrong-one")
	dir := t.TempDir()
	code, stdout, stderr := runBinary(t, nil, "record", u.String(), "--mp4", filepath.Join(dir, "a.mp4"))
	if code != 1 {
		t.Errorf("exit %d, want 1; stderr %q", code, stderr)
	}
	// (record prints its summary line even when the source fails)
	if strings.Count(stderr, "\n") != 1 || strings.Contains(stdout+stderr, "wrong-one") || strings.Contains(stderr, "panic") {
		t.Errorf("stderr is not one line, or the password shows: stdout %q stderr %q", stdout, stderr)
	}
	if !strings.Contains(stderr, "unauthorized") || !strings.Contains(stderr, "refused the URL's credentials") ||
		strings.Contains(stderr, "wrong-one") || !strings.Contains(stderr, "admin:xxxxx@") {
		t.Errorf("stderr %q, want the redacted URL and the refusal", stderr)
	}
	code, _, stderr = runBinary(t, nil, "relay", cam.URL, filepath.Join(dir, "a.flv"), "--rtsp-transport", "quic")
	if code != 2 || !strings.Contains(stderr, "--rtsp-transport") {
		t.Errorf("bad --rtsp-transport: exit %d, stderr %q", code, stderr)
	}
}
