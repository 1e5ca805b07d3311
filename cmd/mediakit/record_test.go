package main

import (
	"context"
	be "encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
)

// startRecord starts `mediakit record ARGS...`.
func startRecord(t *testing.T, args ...string) *child {
	t.Helper()
	return startChild(t, "record", args...)
}

// waitOnline waits until the server reports live/rec online.
func waitOnline(t *testing.T, httpAddr, stream string, pub *testutil.Process) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	url := "http://" + httpAddr + "/index/api/isMediaOnline?schema=rtmp&vhost=__defaultVhost__&app=live&stream=" + stream
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var r struct {
				Code   int  `json:"code"`
				Online bool `json:"online"`
			}
			if json.Unmarshal(body, &r) == nil && r.Code == 0 && r.Online {
				return
			}
		}
		if pub.Exited() {
			t.Fatalf("publisher exited: %v", pub.Wait(0))
		}
		if time.Now().After(deadline) {
			t.Fatalf("live/%s not online within 10 s (last error %v)", stream, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type mp4Box struct {
	Type string
	Size int64
}

// mp4Boxes lists the top-level boxes of an MP4 file. A last box cut short
// (a process killed mid-write) is reported through truncated rather than
// listed.
func mp4Boxes(t *testing.T, path string) (boxes []mp4Box, truncated bool) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for off := int64(0); off < int64(len(data)); {
		rest := int64(len(data)) - off
		if rest < 8 {
			return boxes, true
		}
		size := int64(be.BigEndian.Uint32(data[off:]))
		typ := string(data[off+4 : off+8])
		switch size {
		case 0:
			size = rest
		case 1:
			if rest < 16 {
				return boxes, true
			}
			size = int64(be.BigEndian.Uint64(data[off+8:]))
		}
		if size < 8 {
			t.Fatalf("%s: box %q at %d has size %d (boxes so far %v)", path, typ, off, size, boxes)
		}
		if size > rest {
			return boxes, true
		}
		boxes = append(boxes, mp4Box{typ, size})
		off += size
	}
	return boxes, false
}

func countBoxes(boxes []mp4Box, typ string) int {
	n := 0
	for _, b := range boxes {
		if b.Type == typ {
			n++
		}
	}
	return n
}

// checkMonotonic checks that each stream's DTS strictly increases in file
// order.
func checkMonotonic(t *testing.T, input string) {
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

func probeOrFail(t *testing.T, input string) *testutil.Probe {
	t.Helper()
	p, err := testutil.FFprobe(context.Background(), t, input)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkEnded checks that dir/hls.m3u8 ends with EXT-X-ENDLIST and that
// ffprobe reads more than minVideo video frames through it.
func checkEnded(t *testing.T, dir string, minVideo int) {
	t.Helper()
	pl := filepath.Join(dir, "hls.m3u8")
	data, err := os.ReadFile(pl)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(strings.TrimRight(string(data), "\n"), "\n#EXT-X-ENDLIST") {
		t.Errorf("%s does not end with #EXT-X-ENDLIST:\n%s", pl, data)
	}
	p := probeOrFail(t, pl)
	if v := p.Video(); v == nil || v.NbReadFrames <= minVideo {
		t.Errorf("HLS video through %s: %+v, want more than %d frames", pl, v, minVideo)
	}
}

// checkQuietStderr: no progress bar (stderr is not a terminal) and no
// errors.
func checkQuietStderr(t *testing.T, stderr string) {
	t.Helper()
	if strings.ContainsAny(stderr, "\r\x1b") || strings.Contains(stderr, "kbit/s") || strings.Contains(stderr, "level=ERROR") ||
		strings.Contains(stderr, "panic") {
		t.Errorf("stderr has progress or errors: %q", stderr)
	}
}

// TestRecordLive records a stream the real server relays, from a looping
// ffmpeg publisher: Ctrl-C (SIGINT, SIGTERM) leaves finished files and
// exit 0; kill -9 leaves a fragmented MP4 that still plays; an HTTP-FLV
// recording with --duration ends by itself.
func TestRecordLive(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	srv := startServe(t)
	pub := testutil.PublishClip(t, "h264_aac.flv", "rtmp://"+srv.rtmp+"/live/rec", true)
	waitOnline(t, srv.http, "rec", pub)
	rtmpURL := "rtmp://" + srv.rtmp + "/live/rec"
	dir := t.TempDir()

	t.Run("live", func(t *testing.T) {
		t.Run("SIGINT", func(t *testing.T) {
			t.Parallel()
			mp4 := filepath.Join(dir, "a.mp4")
			hlsDir := filepath.Join(dir, "h")
			c := startRecord(t, rtmpURL, "--mp4", mp4, "--hls", hlsDir)
			c.runFor(t, 4*time.Second)
			if err := c.cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			st := c.wait(t, 10*time.Second, "SIGINT")
			if st.ExitCode() != 0 {
				t.Fatalf("exit %v after SIGINT, want 0; stdout %q stderr:\n%s", st, c.stdout.String(), c.stderr.String())
			}
			out := c.stdout.String()
			if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "recorded ") || !strings.Contains(out, mp4) ||
				!strings.Contains(out, filepath.Join(hlsDir, "hls.m3u8")) || !strings.Contains(out, rtmpURL) {
				t.Errorf("stdout is not the one summary line naming the source and both outputs: %q", out)
			}
			checkQuietStderr(t, c.stderr.String())

			boxes, truncated := mp4Boxes(t, mp4)
			if truncated || len(boxes) < 3 || boxes[0].Type != "ftyp" || boxes[len(boxes)-1].Type != "moov" ||
				countBoxes(boxes, "moov") != 1 || countBoxes(boxes, "moof") != 0 || countBoxes(boxes, "mdat") == 0 {
				t.Errorf("%s is not a finished MP4 (ftyp ... mdat ... moov, no moof): %v (truncated %v)", mp4, boxes, truncated)
			}
			p := probeOrFail(t, mp4)
			v, a := p.Video(), p.Audio()
			if v == nil || a == nil || v.CodecName != "h264" || a.CodecName != "aac" {
				t.Fatalf("streams %+v, want h264 and aac", p.Streams)
			}
			if v.NbReadFrames <= 50 {
				t.Errorf("%d video frames after 4 s of a 25 fps stream, want more than 50", v.NbReadFrames)
			}
			if p.Format.Duration < 3 || p.Format.Duration > 8 {
				t.Errorf("duration %.3f s after 4 s of recording", p.Format.Duration)
			}
			checkMonotonic(t, mp4)
			checkEnded(t, hlsDir, 50)
		})

		t.Run("SIGTERM", func(t *testing.T) {
			t.Parallel()
			hlsDir := filepath.Join(dir, "term")
			c := startRecord(t, rtmpURL, "--hls", hlsDir, "--segment", "1s", "--json")
			c.runFor(t, 3*time.Second)
			if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			st := c.wait(t, 10*time.Second, "SIGTERM")
			if st.ExitCode() != 0 {
				t.Fatalf("exit %v after SIGTERM, want 0; stderr:\n%s", st, c.stderr.String())
			}
			var s struct {
				Stopped string `json:"stopped"`
				Frames  int64  `json:"frames"`
				Files   []struct {
					Path     string `json:"path"`
					Segments int    `json:"segments"`
				} `json:"files"`
			}
			if err := json.Unmarshal([]byte(c.stdout.String()), &s); err != nil {
				t.Fatalf("--json stdout %q: %v", c.stdout.String(), err)
			}
			if s.Stopped != "interrupted" || s.Frames == 0 || len(s.Files) != 1 || s.Files[0].Segments < 2 {
				t.Errorf("summary %+v, want interrupted with frames and at least 2 segments of 1 s", s)
			}
			checkQuietStderr(t, c.stderr.String())
			checkEnded(t, hlsDir, 25)
		})

		t.Run("SIGKILL", func(t *testing.T) {
			t.Parallel()
			mp4 := filepath.Join(dir, "b.mp4")
			c := startRecord(t, rtmpURL, "--mp4", mp4)
			c.runFor(t, 4*time.Second)
			if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			st := c.wait(t, 5*time.Second, "SIGKILL")
			if ws, ok := st.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("process state %v, want killed by SIGKILL", st)
			}

			// Fragmented: the init moov first, then moof/mdat pairs, and no
			// moov at the end (nothing finalised it).
			boxes, truncated := mp4Boxes(t, mp4)
			t.Logf("%s after kill -9: %d boxes, last box cut short: %v", mp4, len(boxes), truncated)
			if len(boxes) < 4 || boxes[0].Type != "ftyp" || countBoxes(boxes, "moof") == 0 || boxes[len(boxes)-1].Type == "moov" {
				t.Errorf("%s is not a fragmented recording: %v", mp4, boxes)
			}
			p := probeOrFail(t, mp4)
			v := p.Video()
			if v == nil || v.CodecName != "h264" || p.Audio() == nil {
				t.Fatalf("streams %+v", p.Streams)
			}
			// 4 s at 25 fps is 100 frames; at most the last fragment is lost.
			if v.NbReadFrames < 50 {
				t.Errorf("%d video frames survive 4 s of recording and kill -9, want at least 50", v.NbReadFrames)
			}
			if p.Format.Duration < 2 {
				t.Errorf("%.3f s survive 4 s of recording and kill -9, want at least 2 s", p.Format.Duration)
			}
			checkMonotonic(t, mp4)
		})

		t.Run("HTTP-FLV duration", func(t *testing.T) {
			t.Parallel()
			mp4 := filepath.Join(dir, "c.mp4")
			url := "http://" + srv.http + "/live/rec.live.flv"
			start := time.Now()
			c := startRecord(t, url, "--mp4", mp4, "--duration", "2s", "--json")
			st := c.wait(t, 15*time.Second, "--duration 2s")
			if st.ExitCode() != 0 {
				t.Fatalf("exit %v, want 0; stdout %q stderr:\n%s", st, c.stdout.String(), c.stderr.String())
			}
			took := time.Since(start)
			var s struct {
				Source   string  `json:"source"`
				Duration float64 `json:"duration_seconds"`
				Stopped  string  `json:"stopped"`
				Read     int64   `json:"bytes_read"`
			}
			if err := json.Unmarshal([]byte(c.stdout.String()), &s); err != nil {
				t.Fatalf("--json stdout %q: %v", c.stdout.String(), err)
			}
			if s.Source != url || s.Stopped != "duration" || math.Abs(s.Duration-2) > 0.2 || s.Read == 0 {
				t.Errorf("summary %+v, want stopped duration after 2±0.2 s of media", s)
			}
			// A live stream arrives in real time, after at most a GOP of
			// cached frames.
			if took < time.Second || took > 8*time.Second {
				t.Errorf("--duration 2s of a live stream took %v", took)
			}
			checkQuietStderr(t, c.stderr.String())
			boxes, truncated := mp4Boxes(t, mp4)
			if truncated || len(boxes) == 0 || boxes[len(boxes)-1].Type != "moov" || countBoxes(boxes, "moof") != 0 {
				t.Errorf("%s is not a finished MP4: %v", mp4, boxes)
			}
			p := probeOrFail(t, mp4)
			if math.Abs(p.Format.Duration-2) > 0.25 {
				t.Errorf("%s lasts %.3f s, want 2±0.25", mp4, p.Format.Duration)
			}
			if v := p.Video(); v == nil || v.NbReadFrames < 45 || v.NbReadFrames > 55 {
				t.Errorf("video %+v, want about 50 frames", v)
			}
		})
	})

	if pub.Exited() {
		t.Errorf("publisher stopped during the recordings: %v", pub.Wait(0))
	}
}

// TestRecordBinaryErrors: usage and runtime errors of the real binary.
func TestRecordBinaryErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"record"}, 2, "SRC"},
		{[]string{"record", "in.flv"}, 2, "--mp4"},
		{[]string{"record", "srt://x", "--mp4", filepath.Join(dir, "x.mp4")}, 2, "srt"},
		{[]string{"record", filepath.Join(dir, "missing.flv"), "--mp4", filepath.Join(dir, "x.mp4")}, 1, filepath.Join(dir, "missing.flv")},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runBinary(t, nil, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tc.code, stderr)
			}
			testutil.CheckOneLineError(t, stdout, stderr)
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("error %q does not mention %q", stderr, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "x.mp4")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("x.mp4 created by a failed run (%v)", err)
	}
}
