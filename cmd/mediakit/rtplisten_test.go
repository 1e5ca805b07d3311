package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/gbsender"
	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/format/ps"
)

// listenChild is a running `mediakit rtp-listen`.
type listenChild struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	mu     sync.Mutex
	stderr strings.Builder
	ready  chan struct{}
	done   chan struct{}
}

// startListenChild starts `mediakit rtp-listen ARGS... --log-level info`
// with stdout and stderr going to buffers (so stderr is not a terminal)
// and waits for its "listening" log line. A cleanup kills it if the test
// left it running.
func startListenChild(t *testing.T, args ...string) *listenChild {
	t.Helper()
	c := &listenChild{
		cmd:   exec.Command(binary, append(append([]string{"rtp-listen"}, args...), "--log-level", "info")...),
		ready: make(chan struct{}),
		done:  make(chan struct{}),
	}
	c.cmd.Env = environ()
	c.cmd.Stdout = &c.stdout
	errPipe, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(errPipe)
		ready := false
		for sc.Scan() {
			c.mu.Lock()
			c.stderr.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
			if !ready && strings.Contains(sc.Text(), `msg="rtp-listen listening"`) {
				ready = true
				close(c.ready)
			}
		}
		_ = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	select {
	case <-c.ready:
	case <-c.done:
		t.Fatalf("mediakit rtp-listen exited before listening (%v); stderr:\n%s", c.cmd.ProcessState, c.errText())
	case <-time.After(10 * time.Second):
		t.Fatalf("mediakit rtp-listen not listening after 10 s; stderr:\n%s", c.errText())
	}
	return c
}

func (c *listenChild) errText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

// wait waits up to timeout for the process to exit, and checks it exited
// with 0.
func (c *listenChild) wait(t *testing.T, timeout time.Duration, what string) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
		_ = c.cmd.Process.Kill()
		<-c.done
		t.Fatalf("mediakit rtp-listen still running %v after %s; stdout %q stderr:\n%s", timeout, what, c.stdout.String(), c.errText())
	}
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d after %s; stdout %q stderr:\n%s", code, what, c.stdout.String(), c.errText())
	}
	if e := c.errText(); strings.Contains(e, "level=ERROR") || strings.Contains(e, "panic") || strings.Contains(e, "goroutine ") {
		t.Errorf("stderr has errors:\n%s", e)
	}
}

// listenSummary is the --json object.
type listenSummary struct {
	Addr     string  `json:"addr"`
	TCP      bool    `json:"tcp"`
	SSRC     *uint32 `json:"ssrc"`
	Duration float64 `json:"duration_seconds"`
	Stopped  string  `json:"stopped"`
	Streams  []struct {
		SSRC        uint32   `json:"ssrc"`
		StreamID    string   `json:"stream_id"`
		Peer        string   `json:"peer"`
		Transport   string   `json:"transport"`
		PayloadType int      `json:"payload_type"`
		Kind        string   `json:"kind"`
		Codecs      []string `json:"codecs"`
		Packets     uint64   `json:"packets"`
		Bytes       uint64   `json:"bytes"`
		Lost        uint64   `json:"lost"`
		Reordered   uint64   `json:"reordered"`
		JitterMS    float64  `json:"jitter_ms"`
		BitrateKbps float64  `json:"bitrate_kbps"`
	} `json:"streams"`
	Ignored map[string]int64 `json:"ignored_packets"`
	Out     *struct {
		Path     string   `json:"path"`
		Format   string   `json:"format"`
		SSRC     *uint32  `json:"ssrc"`
		Frames   int64    `json:"frames"`
		Bytes    int64    `json:"bytes"`
		Duration float64  `json:"duration_seconds"`
		Files    []string `json:"files"`
		Error    string   `json:"error"`
	} `json:"out"`
}

func (c *listenChild) summary(t *testing.T) listenSummary {
	t.Helper()
	var s listenSummary
	testutil.DecodeJSONLine(t, c.stdout.String(), &s)
	return s
}

// dialCamera connects a GB28181 camera: PS over RTP, payload type 96,
// sending at 8 times real time (0.75 s).
func dialCamera(t *testing.T, o gbsender.Options) *gbsender.Sender {
	t.Helper()
	o.VideoType, o.AudioType, o.Speed = ps.StreamH264, ps.StreamG711A, 8
	s, err := gbsender.Dial(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sendCamera sends the frames as a GB28181 camera.
func sendCamera(t *testing.T, o gbsender.Options) gbsender.Stats {
	t.Helper()
	s := dialCamera(t, o)
	if err := s.Send(context.Background(), gbsender.CameraClip(t)); err != nil {
		t.Fatal(err)
	}
	return s.Stats()
}

// TestRTPListenUDPLoss: a camera sends H.264 + G.711A in PS over UDP with
// 5% loss to `mediakit rtp-listen --port P --duration 4s --json`: what it
// sent is counted, what it dropped is lost.
func TestRTPListenUDPLoss(t *testing.T) {
	t.Parallel()
	port := testutil.FreePort(t)
	c := startListenChild(t, "--port", fmt.Sprint(port), "--duration", "4s", "--json")
	// Seed 1 drops neither the first packet nor the last, which no
	// receiver can tell were sent.
	sent := sendCamera(t, gbsender.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), SSRC: 200000001, Loss: 0.05, Seed: 1})
	if sent.Dropped == 0 {
		t.Fatalf("the camera dropped nothing: %+v", sent)
	}
	c.wait(t, 20*time.Second, "--duration 4s")
	s := c.summary(t)
	if s.Addr != fmt.Sprintf(":%d", port) || s.Stopped != "duration" || s.Duration < 4 || len(s.Streams) != 1 {
		t.Fatalf("summary %+v, want addr :%d, stopped duration after 4 s, one stream", s, port)
	}
	st := s.Streams[0]
	if st.SSRC != 200000001 || st.StreamID != "0BEBC201" || st.Kind != "ps" || st.PayloadType != 96 || st.Transport != "udp" {
		t.Errorf("stream %+v, want SSRC 200000001, kind ps, payload type 96, udp", st)
	}
	if st.Packets != uint64(sent.Packets) || st.Lost != uint64(sent.Dropped) || st.Bytes != uint64(sent.Bytes) {
		t.Errorf("packets %d lost %d bytes %d; the camera sent %d (%d bytes) and dropped %d",
			st.Packets, st.Lost, st.Bytes, sent.Packets, sent.Bytes, sent.Dropped)
	}
	if !slices.Contains(st.Codecs, "h264") || !slices.Contains(st.Codecs, "pcma") {
		t.Errorf("codecs %v, want h264 and pcma", st.Codecs)
	}
	if host, _, err := net.SplitHostPort(st.Peer); err != nil || host != "127.0.0.1" {
		t.Errorf("peer %q", st.Peer)
	}
	if st.BitrateKbps <= 0 {
		t.Errorf("bitrate_kbps %v", st.BitrateKbps)
	}
}

// TestRTPListenTCP: RFC 4571 framed RTP over TCP, the camera connecting.
func TestRTPListenTCP(t *testing.T) {
	t.Parallel()
	port := testutil.FreePort(t)
	c := startListenChild(t, "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--tcp", "--duration", "4s", "--json")
	sent := sendCamera(t, gbsender.Options{Network: "tcp", Addr: fmt.Sprintf("127.0.0.1:%d", port), SSRC: 0x1234})
	c.wait(t, 20*time.Second, "--duration 4s")
	s := c.summary(t)
	if !s.TCP || len(s.Streams) != 1 {
		t.Fatalf("summary %+v, want tcp and one stream", s)
	}
	st := s.Streams[0]
	if st.Transport != "tcp" || st.Kind != "ps" || st.PayloadType != 96 || st.Packets != uint64(sent.Packets) || st.Lost != 0 ||
		!slices.Contains(st.Codecs, "h264") || !slices.Contains(st.Codecs, "pcma") {
		t.Errorf("stream %+v; the camera sent %d packets over TCP", st, sent.Packets)
	}
}

// TestRTPListenSSRC: two cameras on one port; --ssrc reports one.
func TestRTPListenSSRC(t *testing.T) {
	t.Parallel()
	port := testutil.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c := startListenChild(t, "--port", fmt.Sprint(port), "--ssrc", "0100000002", "--duration", "4s", "--json")
	other, frames := dialCamera(t, gbsender.Options{Addr: addr, SSRC: 100000001}), gbsender.CameraClip(t)
	otherSent := make(chan error, 1)
	go func() { otherSent <- other.Send(context.Background(), frames) }()
	sent := sendCamera(t, gbsender.Options{Addr: addr, SSRC: 100000002})
	if err := <-otherSent; err != nil {
		t.Fatal(err)
	}
	c.wait(t, 20*time.Second, "--duration 4s")
	s := c.summary(t)
	if s.SSRC == nil || *s.SSRC != 100000002 || len(s.Streams) != 1 {
		t.Fatalf("summary %+v, want SSRC 100000002 only", s)
	}
	if st := s.Streams[0]; st.SSRC != 100000002 || st.Packets != uint64(sent.Packets) || st.Lost != 0 {
		t.Errorf("stream %+v; the camera sent %d packets", st, sent.Packets)
	}
	if n := s.Ignored["other_ssrc"]; n != int64(other.Stats().Packets) {
		t.Errorf("ignored_packets %v, the other camera sent %d", s.Ignored, other.Stats().Packets)
	}
}

// TestRTPListenOutMP4: --out x.mp4 ingests the camera; ffprobe reads its
// H.264 frames.
func TestRTPListenOutMP4(t *testing.T) {
	testutil.RequireFFmpeg(t)
	t.Parallel()
	port := testutil.FreePort(t)
	mp4 := filepath.Join(t.TempDir(), "x.mp4")
	c := startListenChild(t, "--port", fmt.Sprint(port), "--out", mp4, "--duration", "4s", "--json")
	sendCamera(t, gbsender.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), SSRC: 7})
	c.wait(t, 20*time.Second, "--duration 4s")
	s := c.summary(t)
	if o := s.Out; o == nil || o.Path != mp4 || o.Format != "mp4" || o.SSRC == nil || *o.SSRC != 7 || o.Frames < 150 || o.Error != "" {
		t.Fatalf("out %+v, want %s with the camera's frames", o, mp4)
	}
	boxes, truncated := mp4Boxes(t, mp4)
	if truncated || len(boxes) < 3 || boxes[0].Type != "ftyp" || boxes[len(boxes)-1].Type != "moov" || countBoxes(boxes, "moof") != 0 {
		t.Errorf("%s is not a finished MP4: %v (truncated %v)", mp4, boxes, truncated)
	}
	p := probeOrFail(t, mp4)
	v := p.Video()
	if v == nil || v.CodecName != "h264" || v.NbReadFrames < 145 || v.NbReadFrames > 150 {
		t.Fatalf("video %+v, want about 150 h264 frames", v)
	}
	pkts, err := testutil.FramePackets(context.Background(), t, mp4)
	if err != nil {
		t.Fatal(err)
	}
	video, keys, firstKey := 0, 0, false
	for _, pk := range pkts {
		if pk.CodecType == "video" {
			if video == 0 {
				firstKey = pk.Keyframe()
			}
			video++
			if pk.Keyframe() {
				keys++
			}
		}
	}
	if video != v.NbReadFrames || keys < 5 || !firstKey {
		t.Errorf("%d video packets (%d keyframes, first a keyframe: %v), want %d starting with a keyframe, one a second",
			video, keys, firstKey, v.NbReadFrames)
	}
	checkMonotonic(t, mp4)
}

// TestRTPListenSIGINT: Ctrl-C ends a run without --duration: exit 0, the
// summary, and an FLV file that plays.
func TestRTPListenSIGINT(t *testing.T) {
	testutil.RequireFFmpeg(t)
	t.Parallel()
	port := testutil.FreePort(t)
	flvPath := filepath.Join(t.TempDir(), "x.flv")
	c := startListenChild(t, "--port", fmt.Sprint(port), "--out", flvPath)
	sendCamera(t, gbsender.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), SSRC: 8})
	// The file is written as frames arrive: wait until it has the 100
	// video frames checked below (and the sequence header).
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(flvPath); err == nil {
			if tags, _ := flvTags(b); tags[9] > 100 { // a cut last tag is not counted
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not have 100 video frames within 10 s; stderr:\n%s", flvPath, c.errText())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := c.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	c.wait(t, 10*time.Second, "SIGINT")
	out := c.stdout.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], fmt.Sprintf("listened on :%d (udp) for ", port)) ||
		!strings.HasSuffix(lines[0], ": 1 stream") || !strings.HasPrefix(lines[1], "SSRC") ||
		!strings.HasPrefix(lines[2], "8 (00000008)") || !strings.HasPrefix(lines[3], "out: "+flvPath+" (flv): ") {
		t.Errorf("stdout is not the summary (header, table of one stream, the output):\n%s", out)
	}
	p := probeOrFail(t, flvPath)
	if v := p.Video(); v == nil || v.CodecName != "h264" || v.NbReadFrames < 100 {
		t.Errorf("video %+v, want h264 frames", v)
	}
	if a := p.Audio(); a == nil || a.CodecName != "pcm_alaw" {
		t.Errorf("audio %+v, want pcm_alaw", a)
	}
	checkMonotonic(t, flvPath)
}

// TestRTPListenBinaryErrors: usage errors exit 2 and a port that cannot
// be bound exits 1, each with one line.
func TestRTPListenBinaryErrors(t *testing.T) {
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyAddr := busy.LocalAddr().String()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"rtp-listen"}, 2, "--port"},
		{[]string{"rtp-listen", "--port", "9000", "--addr", ":9000"}, 2, "not both"},
		{[]string{"rtp-listen", "--port", "99999"}, 2, "99999"},
		{[]string{"rtp-listen", "--port", "9000", "--ssrc", "x"}, 2, "--ssrc"},
		{[]string{"rtp-listen", "--port", "9000", "--out", "x.avi"}, 2, "x.avi"},
		{[]string{"rtp-listen", "--port", "9000", "--nope"}, 2, "--nope"},
		{[]string{"rtp-listen", "--addr", busyAddr, "--duration", "5s"}, 1, busyAddr},
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
}
