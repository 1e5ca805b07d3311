package rtplisten_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mediakit/mediakit/internal/gbsender"
	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/cli"
	"github.com/mediakit/mediakit/pkg/cli/cmdutil"
	"github.com/mediakit/mediakit/pkg/cli/rtplisten"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/format/ps"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/rtmp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// runMain runs `mediakit rtp-listen ARGS...` through cli.Main with
// buffers for stdout and stderr (so stderr is never a terminal).
func runMain(t *testing.T, ctx context.Context, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli.Main(ctx, append([]string{"rtp-listen"}, args...), &out, &errOut, func(string) string { return "" })
	return code, out.String(), errOut.String()
}

// listener is an rtp-listen run in this process.
type listener struct {
	addr    string // bound address
	out     *testutil.SyncBuffer
	errOut  *testutil.SyncBuffer
	cancel  context.CancelFunc
	done    chan error
	mu      sync.Mutex
	figures []rtplisten.Stream
}

// startListen runs the command with ARGS (flags parsed by cobra) and
// waits until it listens. Figures are refreshed every 20 ms.
func startListen(t *testing.T, args ...string) *listener {
	t.Helper()
	l := &listener{out: &testutil.SyncBuffer{}, errOut: &testutil.SyncBuffer{}, done: make(chan error, 1)}
	listening := make(chan string, 1)
	cmd := rtplisten.NewCommand(&cmdutil.IO{Out: l.out, ErrOut: l.errOut}, func(ctx context.Context, o *rtplisten.Options) error {
		o.Refresh = 20 * time.Millisecond
		o.OnListen = func(addr string) { listening <- addr }
		o.OnRefresh = func(s []rtplisten.Stream) {
			l.mu.Lock()
			l.figures = s
			l.mu.Unlock()
		}
		return rtplisten.Run(ctx, o)
	})
	cmd.SetArgs(args)
	cmd.SetOut(l.out)
	cmd.SetErr(l.errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go func() { l.done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-l.done:
		case <-time.After(30 * time.Second):
			t.Error("rtp-listen did not end 30 s after the cleanup's interrupt")
		}
	})
	select {
	case l.addr = <-listening:
	case err := <-l.done:
		t.Fatalf("rtp-listen ended before listening: %v; stderr %q", err, l.errOut.String())
	case <-time.After(10 * time.Second):
		t.Fatal("rtp-listen not listening after 10 s")
	}
	return l
}

// stream returns the current figures of ssrc.
func (l *listener) stream(ssrc uint32) (rtplisten.Stream, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.figures {
		if s.SSRC == ssrc {
			return s, true
		}
	}
	return rtplisten.Stream{}, false
}

// waitPackets polls the figures until ssrc has n packets.
func (l *listener) waitPackets(t *testing.T, ssrc uint32, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, ok := l.stream(ssrc)
		if ok && s.Packets == uint64(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("SSRC %d: %d packets (seen %v) after 20 s, want %d", ssrc, s.Packets, ok, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// interrupt ends the run like Ctrl-C and returns its error.
func (l *listener) interrupt(t *testing.T) error {
	t.Helper()
	l.cancel()
	select {
	case err := <-l.done:
		l.done <- err // for the cleanup
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("rtp-listen still running 30 s after the interrupt")
		return nil
	}
}

// summary mirrors the --json object.
type summary struct {
	Addr     string           `json:"addr"`
	TCP      bool             `json:"tcp"`
	SSRC     *uint32          `json:"ssrc"`
	Duration float64          `json:"duration_seconds"`
	Stopped  string           `json:"stopped"`
	Streams  []stream         `json:"streams"`
	Ignored  map[string]int64 `json:"ignored_packets"`
	Out      *struct {
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

type stream struct {
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
}

// parseSummary decodes stdout, which must be exactly one JSON line with
// no unknown fields.
func parseSummary(t *testing.T, stdout string) summary {
	t.Helper()
	var s summary
	testutil.DecodeJSONLine(t, stdout, &s)
	return s
}

// camera dials the listener like a GB28181 camera: PS (H.264 + G.711A)
// over RTP, payload type 96.
func camera(t *testing.T, o gbsender.Options) *gbsender.Sender {
	t.Helper()
	o.VideoType, o.AudioType = ps.StreamH264, ps.StreamG711A
	if o.Speed == 0 {
		o.Speed = 4 // 6 s of media in 1.5 s: paced, so no socket buffer overflows
	}
	s, err := gbsender.Dial(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func send(t *testing.T, s *gbsender.Sender, f []gbsender.Frame) {
	t.Helper()
	if err := s.Send(context.Background(), f); err != nil {
		t.Fatal(err)
	}
}

// checkPeer checks the sender's address: the camera's, on loopback.
func checkPeer(t *testing.T, peer string) {
	t.Helper()
	host, port, err := net.SplitHostPort(peer)
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Errorf("peer %q, want 127.0.0.1:PORT", peer)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	port := fmt.Sprint(testutil.FreePort(t))
	for _, tc := range []struct {
		name string
		args []string
		want string // in the error line
	}{
		{"neither port nor addr", nil, "--port"},
		{"neither, with json", []string{"--json", "--duration", "1s"}, "--addr"},
		{"both port and addr", []string{"--port", port, "--addr", "127.0.0.1:" + port}, "not both"},
		{"port 0", []string{"--port", "0"}, "--port 0"},
		{"port too big", []string{"--port", "70000"}, "70000"},
		{"port not a number", []string{"--port", "ten"}, "--port"},
		{"addr without port", []string{"--addr", "127.0.0.1"}, "127.0.0.1"},
		{"addr bad port", []string{"--addr", "127.0.0.1:x"}, `"x"`},
		{"ssrc not a number", []string{"--port", port, "--ssrc", "cam1"}, "cam1"},
		{"ssrc too big", []string{"--port", port, "--ssrc", "4294967296"}, "4294967296"},
		{"duration negative", []string{"--port", port, "--duration", "-1s"}, "--duration"},
		{"duration without unit", []string{"--port", port, "--duration", "5"}, "--duration"},
		{"out extension", []string{"--port", port, "--out", filepath.Join(dir, "x.ts")}, "x.ts"},
		{"out scheme", []string{"--port", port, "--out", "srt://h:1/x"}, "srt://"},
		{"out rtmp without stream", []string{"--port", port, "--out", "rtmp://127.0.0.1/live"}, "rtmp://127.0.0.1/live"},
		{"argument", []string{"--port", port, "extra"}, "extra"},
		{"unknown flag", []string{"--port", port, "--bogus"}, "--bogus"},
		{"bad log level", []string{"--port", port, "--log-level", "loud"}, "loud"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runMain(t, context.Background(), tc.args...)
			if code != cli.ExitUsage {
				t.Errorf("exit %d, want %d; stderr %q", code, cli.ExitUsage, stderr)
			}
			testutil.CheckOneLineError(t, stdout, stderr)
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("error %q does not mention %q", stderr, tc.want)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("usage errors created files: %v", entries)
	}
}

// TestNewCommandOptions checks the flags reach Options, through runF.
func TestNewCommandOptions(t *testing.T) {
	parse := func(args ...string) *rtplisten.Options {
		t.Helper()
		var out, errOut bytes.Buffer
		var got *rtplisten.Options
		cmd := rtplisten.NewCommand(&cmdutil.IO{Out: &out, ErrOut: &errOut}, func(_ context.Context, o *rtplisten.Options) error {
			got = o
			return nil
		})
		cmd.SetArgs(args)
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		if err := cmd.ExecuteContext(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got == nil {
			t.Fatal("runF not called")
		}
		if out.Len() != 0 || errOut.Len() != 0 {
			t.Errorf("output: stdout %q stderr %q", out.String(), errOut.String())
		}
		return got
	}
	o := parse("--addr", "127.0.0.1:9000", "--tcp", "--ssrc", "0100000001", "--duration", "90s", "--json",
		"--out", "cam.flv", "--log-level", "debug")
	if o.Addr != "127.0.0.1:9000" || !o.TCP || o.SSRC != 100000001 || o.Duration != 90*time.Second || !o.JSON ||
		o.Out != "cam.flv" || o.LogLevel != "debug" {
		t.Errorf("options %+v", *o)
	}
	o = parse("--port", "10000", "--ssrc", "0x0BEBC201")
	if o.Addr != ":10000" || o.SSRC != 0x0BEBC201 || o.TCP || o.JSON || o.Duration != 0 || o.Out != "" || o.LogLevel != "warn" {
		t.Errorf("options %+v", *o)
	}
}

func TestParseSSRC(t *testing.T) {
	for in, want := range map[string]uint32{
		"0": 0, "1234": 1234, "0100000001": 100000001, "4294967295": 1<<32 - 1, "0xFFFFFFFF": 1<<32 - 1, "0x0bebc201": 0x0BEBC201,
	} {
		if got, err := rtplisten.ParseSSRC(in); err != nil || got != want {
			t.Errorf("ParseSSRC(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "0x", "1e3", "0x100000000", "12 34", "0xg1"} {
		if got, err := rtplisten.ParseSSRC(in); err == nil {
			t.Errorf("ParseSSRC(%q) = %d, want an error", in, got)
		}
	}
}

// TestPortInUse: a port that cannot be bound is a runtime failure (exit
// 1) naming the address, UDP or TCP.
func TestPortInUse(t *testing.T) {
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	udpAddr := udp.LocalAddr().String()
	code, stdout, stderr := runMain(t, context.Background(), "--addr", udpAddr, "--duration", "5s", "--json")
	if code != cli.ExitFailure {
		t.Errorf("exit %d, want %d; stderr %q", code, cli.ExitFailure, stderr)
	}
	testutil.CheckOneLineError(t, stdout, stderr)
	if !strings.Contains(stderr, "udp "+udpAddr) || !strings.Contains(stderr, "in use") {
		t.Errorf("error %q does not name udp %s and the cause", stderr, udpAddr)
	}

	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	tcpAddr := tcp.Addr().String()
	if u, err := net.ListenPacket("udp", tcpAddr); err != nil {
		t.Skipf("UDP %s taken too: %v", tcpAddr, err)
	} else {
		u.Close()
	}
	code, stdout, stderr = runMain(t, context.Background(), "--addr", tcpAddr, "--tcp", "--duration", "5s")
	if code != cli.ExitFailure {
		t.Errorf("--tcp: exit %d, want %d; stderr %q", code, cli.ExitFailure, stderr)
	}
	testutil.CheckOneLineError(t, stdout, stderr)
	if !strings.Contains(stderr, "tcp "+tcpAddr) {
		t.Errorf("--tcp: error %q does not name tcp %s", stderr, tcpAddr)
	}
}

// TestNothingArrives: listening with nothing sent is a run like any
// other (exit 0, a summary with no streams) and says so on stderr.
func TestNothingArrives(t *testing.T) {
	t.Parallel()
	port := fmt.Sprint(testutil.FreePort(t))
	code, stdout, stderr := runMain(t, context.Background(), "--port", port, "--duration", "300ms", "--json")
	if code != 0 {
		t.Fatalf("exit %d; stderr %q", code, stderr)
	}
	s := parseSummary(t, stdout)
	if s.Addr != ":"+port || s.TCP || s.Stopped != "duration" || len(s.Streams) != 0 || s.Streams == nil || s.Out != nil {
		t.Errorf("summary %+v (stdout %q), want addr :%s, stopped duration, streams []", s, stdout, port)
	}
	if s.Duration < 0.3 {
		t.Errorf("duration_seconds %.3f, want at least 0.3", s.Duration)
	}
	if !strings.Contains(stderr, "no RTP stream arrived on :"+port) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr %q, want one note that nothing arrived", stderr)
	}

	code, stdout, stderr = runMain(t, context.Background(), "--port", port, "--duration", "100ms", "--ssrc", "42")
	if code != 0 {
		t.Fatalf("text: exit %d; stderr %q", code, stderr)
	}
	if !strings.HasPrefix(stdout, "listened on :"+port+" (udp, SSRC 42 only) for ") || !strings.HasSuffix(stdout, ": no RTP stream\n") {
		t.Errorf("text summary %q", stdout)
	}
	if !strings.Contains(stderr, "nothing from SSRC 42 arrived") {
		t.Errorf("stderr %q", stderr)
	}
}

// TestPSOverUDPWithLoss: a camera sending PS (H.264 + G.711A) with 5%
// loss. Every packet it sent is counted, every one it dropped is lost.
func TestPSOverUDPWithLoss(t *testing.T) {
	t.Parallel()
	l := startListen(t, "--addr", testutil.FreeAddr(t), "--json")
	const ssrc = 200000001
	// Seed 1 drops neither the first packet nor the last, which no
	// receiver can tell were sent.
	cam := camera(t, gbsender.Options{Addr: l.addr, SSRC: ssrc, Loss: 0.05, Seed: 1})
	send(t, cam, gbsender.CameraClip(t))
	sent := cam.Stats()
	if sent.Dropped == 0 || sent.Packets == 0 {
		t.Fatalf("sender stats %+v: want packets sent and dropped", sent)
	}
	l.waitPackets(t, ssrc, sent.Packets)
	if err := l.interrupt(t); err != nil {
		t.Fatalf("run: %v; stderr %q", err, l.errOut.String())
	}
	// Warnings of the loss (video waits for a keyframe) may be logged;
	// nothing worse.
	if e := l.errOut.String(); strings.Contains(e, "level=ERROR") || strings.Contains(e, "rtp-listen:") {
		t.Errorf("stderr: %q", e)
	}
	s := parseSummary(t, l.out.String())
	if s.Stopped != "interrupted" || s.Addr != l.addr || len(s.Streams) != 1 {
		t.Fatalf("summary %+v, want one stream, stopped interrupted", s)
	}
	st := s.Streams[0]
	if st.SSRC != ssrc || st.StreamID != "0BEBC201" || st.PayloadType != 96 || st.Kind != "ps" || st.Transport != "udp" {
		t.Errorf("stream %+v: want SSRC %d (0BEBC201), payload type 96, kind ps, udp", st, ssrc)
	}
	if st.Packets != uint64(sent.Packets) || st.Lost != uint64(sent.Dropped) || st.Reordered != 0 {
		t.Errorf("packets %d lost %d reordered %d; the camera sent %d and dropped %d", st.Packets, st.Lost, st.Reordered, sent.Packets, sent.Dropped)
	}
	if st.Bytes != uint64(sent.Bytes) {
		t.Errorf("bytes %d, the camera sent %d", st.Bytes, sent.Bytes)
	}
	if !slices.Contains(st.Codecs, "h264") || !slices.Contains(st.Codecs, "pcma") {
		t.Errorf("codecs %v, want h264 and pcma", st.Codecs)
	}
	checkPeer(t, st.Peer)
	if st.BitrateKbps <= 0 || st.JitterMS < 0 {
		t.Errorf("bitrate %.1f kbit/s, jitter %.3f ms", st.BitrateKbps, st.JitterMS)
	}
}

// TestPSOverTCP: RFC 4571 framing, with reordering: nothing lost, every
// swap counted.
func TestPSOverTCP(t *testing.T) {
	t.Parallel()
	l := startListen(t, "--addr", testutil.FreeAddr(t), "--tcp", "--json")
	const ssrc = 0x1234
	cam := camera(t, gbsender.Options{Network: "tcp", Addr: l.addr, SSRC: ssrc, Reorder: 0.05, Seed: 3})
	send(t, cam, gbsender.CameraClip(t))
	sent := cam.Stats()
	l.waitPackets(t, ssrc, sent.Packets)
	if err := l.interrupt(t); err != nil {
		t.Fatal(err)
	}
	s := parseSummary(t, l.out.String())
	if !s.TCP || len(s.Streams) != 1 {
		t.Fatalf("summary %+v, want tcp and one stream", s)
	}
	st := s.Streams[0]
	if st.Transport != "tcp" || st.Kind != "ps" || st.Packets != uint64(sent.Packets) || st.Lost != 0 ||
		st.Reordered != uint64(sent.Reordered) || sent.Reordered == 0 {
		t.Errorf("stream %+v; the camera sent %d packets, %d swapped", st, sent.Packets, sent.Reordered)
	}
	checkPeer(t, st.Peer)
}

// TestSSRCFilter: two cameras on one port, --ssrc keeps one.
func TestSSRCFilter(t *testing.T) {
	t.Parallel()
	const keep, other = 100000001, 100000002
	l := startListen(t, "--addr", testutil.FreeAddr(t), "--ssrc", "0100000001", "--json")
	a := camera(t, gbsender.Options{Addr: l.addr, SSRC: keep})
	b := camera(t, gbsender.Options{Addr: l.addr, SSRC: other})
	f := gbsender.CameraClip(t)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := b.Send(context.Background(), f); err != nil {
			t.Error(err)
		}
	}()
	send(t, a, f)
	wg.Wait()
	l.waitPackets(t, keep, a.Stats().Packets)
	if err := l.interrupt(t); err != nil {
		t.Fatal(err)
	}
	s := parseSummary(t, l.out.String())
	if s.SSRC == nil || *s.SSRC != keep || len(s.Streams) != 1 || s.Streams[0].SSRC != keep {
		t.Fatalf("summary %+v, want only SSRC %d", s, keep)
	}
	if st := s.Streams[0]; st.Packets != uint64(a.Stats().Packets) || st.Lost != 0 {
		t.Errorf("stream %+v, the camera sent %d packets", st, a.Stats().Packets)
	}
	// The other camera's packets are ignored, all of them once they
	// have been read.
	if n := s.Ignored["other_ssrc"]; n <= 0 || n > int64(b.Stats().Packets) {
		t.Errorf("ignored_packets %v, the other camera sent %d", s.Ignored, b.Stats().Packets)
	}
	if !strings.Contains(l.errOut.String(), "packets of other SSRCs than 100000001 were ignored") {
		t.Errorf("stderr %q does not say other SSRCs were ignored", l.errOut.String())
	}
}

// TestTwoStreamsText: two cameras, no filter: a text table on stdout,
// one row per SSRC in order of arrival.
func TestTwoStreamsText(t *testing.T) {
	t.Parallel()
	l := startListen(t, "--addr", testutil.FreeAddr(t))
	a := camera(t, gbsender.Options{Addr: l.addr, SSRC: 11})
	f := gbsender.CameraClip(t)
	send(t, a, f[:50])
	l.waitPackets(t, 11, a.Stats().Packets)
	b := camera(t, gbsender.Options{Addr: l.addr, SSRC: 22, PayloadType: 98, Raw: true, H264Payloader: true})
	var video []gbsender.Frame
	for _, fr := range f {
		if fr.Video {
			video = append(video, fr)
		}
	}
	send(t, b, video[:50])
	l.waitPackets(t, 22, b.Stats().Packets)
	if err := l.interrupt(t); err != nil {
		t.Fatal(err)
	}
	out := l.out.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "listened on "+l.addr+" (udp) for ") || !strings.HasSuffix(lines[0], ": 2 streams") {
		t.Fatalf("stdout is not a header line and a table of two streams:\n%s", out)
	}
	for _, col := range []string{"SSRC", "PEER", "PT", "KIND", "CODECS", "PACKETS", "BYTES", "LOST", "REORDERED", "JITTER", "KBIT/S"} {
		if !strings.Contains(lines[1], col) {
			t.Errorf("table header %q lacks %s", lines[1], col)
		}
	}
	if f := strings.Fields(lines[2]); len(f) < 6 || f[0] != "11" || f[1] != "(0000000B)" || f[3] != "96" || f[4] != "ps" || f[5] != "h264,pcma" {
		t.Errorf("first row %q, want SSRC 11, PT 96, ps, h264,pcma", lines[2])
	}
	if f := strings.Fields(lines[3]); len(f) < 6 || f[0] != "22" || f[3] != "98" || f[4] != "h264" {
		t.Errorf("second row %q, want SSRC 22, PT 98, h264", lines[3])
	}
	if strings.ContainsAny(out, "\r\x1b") {
		t.Errorf("escape sequences on stdout: %q", out)
	}
}

// TestLiveTable: stderr gets the live table only when it is a terminal
// (forced on here); stdout only the summary.
func TestLiveTable(t *testing.T) {
	t.Parallel()
	addr := testutil.FreeAddr(t)
	var out, errOut testutil.SyncBuffer
	on := true
	listening := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- rtplisten.Run(ctx, &rtplisten.Options{
			IO: &cmdutil.IO{Out: &out, ErrOut: &errOut}, Addr: addr, LogLevel: "warn",
			Progress: &on, Refresh: 20 * time.Millisecond, OnListen: func(string) { close(listening) },
		})
	}()
	<-listening
	// The table before any packet, drawn within a refresh: a packet sent
	// sooner would replace it before it was ever drawn.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(errOut.String(), "waiting for RTP packets") {
		if time.Now().After(deadline) {
			t.Fatalf("live table never said it was waiting: %q", errOut.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cam := camera(t, gbsender.Options{Addr: addr, SSRC: 77})
	send(t, cam, gbsender.CameraClip(t)[:40])
	for !strings.Contains(errOut.String(), "ps") || !strings.Contains(errOut.String(), fmt.Sprintf("%d", cam.Stats().Packets)) {
		if time.Now().After(deadline) {
			t.Fatalf("live table never showed the stream's %d packets: %q", cam.Stats().Packets, errOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	live := errOut.String()
	for _, want := range []string{"listening on " + addr, "waiting for RTP packets", "SSRC", "LAST", "77 (0000004D)", "\x1b[K", "\x1b[J"} {
		if !strings.Contains(live, want) {
			t.Errorf("live table lacks %q: %q", want, live)
		}
	}
	if !strings.HasSuffix(live, "\x1b[J") {
		t.Errorf("the live table is not erased at the end: %q", live[max(0, len(live)-80):])
	}
	if s := out.String(); strings.ContainsAny(s, "\r\x1b") || !strings.HasPrefix(s, "listened on ") {
		t.Errorf("stdout %q", s)
	}
}

// TestOutFiles: --out FILE.mp4 and FILE.flv, finished on the interrupt,
// play in ffprobe with the frames the summary counts.
func TestOutFiles(t *testing.T) {
	testutil.RequireFFmpeg(t)
	t.Parallel()
	for _, ext := range []string{"mp4", "flv"} {
		t.Run(ext, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "sub", "cam."+ext) // the directory is created
			l := startListen(t, "--addr", testutil.FreeAddr(t), "--out", path, "--json")
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s exists before anything arrived (%v)", path, err)
			}
			cam := camera(t, gbsender.Options{Addr: l.addr, SSRC: 5})
			send(t, cam, gbsender.CameraClip(t))
			l.waitPackets(t, 5, cam.Stats().Packets)
			if err := l.interrupt(t); err != nil {
				t.Fatalf("run: %v; stderr %q", err, l.errOut.String())
			}
			s := parseSummary(t, l.out.String())
			o := s.Out
			if o == nil || o.Path != path || o.Format != ext || o.SSRC == nil || *o.SSRC != 5 || o.Frames == 0 || o.Error != "" ||
				len(o.Files) != 1 || o.Files[0] != path {
				t.Fatalf("out %+v, want %s written from SSRC 5", o, path)
			}
			fi, err := os.Stat(path)
			if err != nil || fi.Size() != o.Bytes {
				t.Errorf("out bytes %d, file %v (%v)", o.Bytes, fi, err)
			}
			// 6 s sent; the last frames may still be held when the
			// stream ends.
			if o.Duration < 5 || o.Duration > 6.1 {
				t.Errorf("out duration %.3f s of 6 s sent", o.Duration)
			}
			p, err := testutil.FFprobe(context.Background(), t, path)
			if err != nil {
				t.Fatal(err)
			}
			v := p.Video()
			if v == nil || v.CodecName != "h264" || v.NbReadFrames < 145 || v.NbReadFrames > 150 {
				t.Fatalf("video %+v, want about 150 h264 frames", v)
			}
			frames := int64(v.NbReadFrames)
			if a := p.Audio(); a != nil {
				frames += int64(a.NbReadFrames)
				if a.CodecName != "pcm_alaw" {
					t.Errorf("audio codec %s, want pcm_alaw", a.CodecName)
				}
			} else if ext == "flv" {
				t.Errorf("no audio in the FLV: %+v", p.Streams)
			}
			if frames != o.Frames && ext == "flv" {
				t.Errorf("%s has %d frames, the summary says %d", path, frames, o.Frames)
			}
		})
	}
}

// TestOutRTMP pushes the camera to an RTMP server; a player there gets
// its H.264 and G.711.
func TestOutRTMP(t *testing.T) {
	t.Parallel()
	cfg := engine.DefaultConfig()
	cfg.ContinuePush = 0
	eng := engine.New(cfg, nil)
	srv := rtmp.NewServer(eng, slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		srv.Close()
		<-served
		eng.Close()
	}()
	type played struct {
		video, audio int
		codecs       map[media.Codec]bool
	}
	got := make(chan played, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		p := played{codecs: map[media.Codec]bool{}}
		defer func() { got <- p }()
		r, err := eng.Play(ctx, engine.NewKey("", "live", "cam"), engine.SessionInfo{ID: "test"})
		if err != nil {
			return
		}
		defer r.Close()
		buf := make([]*media.Frame, 0, 64)
		for {
			fr, err := r.Next(buf[:0])
			for _, f := range fr {
				p.codecs[f.Track.Codec] = true
				if f.Track.Kind() == media.KindVideo {
					p.video++
				} else {
					p.audio++
				}
			}
			if err != nil {
				return
			}
		}
	}()
	url := "rtmp://" + ln.Addr().String() + "/live/cam"
	l := startListen(t, "--addr", testutil.FreeAddr(t), "--out", url, "--json")
	cam := camera(t, gbsender.Options{Addr: l.addr, SSRC: 9})
	send(t, cam, gbsender.CameraClip(t))
	l.waitPackets(t, 9, cam.Stats().Packets)
	if err := l.interrupt(t); err != nil {
		t.Fatalf("run: %v; stderr %q", err, l.errOut.String())
	}
	s := parseSummary(t, l.out.String())
	if o := s.Out; o == nil || o.Path != url || o.Format != "rtmp" || o.Frames < 400 || o.Bytes == 0 || o.Error != "" {
		t.Errorf("out %+v, want about 450 frames pushed to %s", o, url)
	}
	p := <-got
	if p.video < 145 || p.audio < 250 || !p.codecs[media.CodecH264] || !p.codecs[media.CodecG711A] {
		t.Errorf("the RTMP player got %d video and %d audio frames (%v), want about 150 H.264 and 300 G.711A", p.video, p.audio, p.codecs)
	}
}

// TestOutFailure: an output that cannot be created ends the run: exit 1
// naming it, the summary says failed.
func TestOutFailure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	blocker := filepath.Join(dir, "afile")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(blocker, "x.flv")
	l := startListen(t, "--addr", testutil.FreeAddr(t), "--out", bad, "--json")
	cam := camera(t, gbsender.Options{Addr: l.addr, SSRC: 3})
	sendDone := make(chan error, 1)
	go func() { sendDone <- cam.Send(context.Background(), gbsender.CameraClip(t)) }()
	var err error
	select {
	case err = <-l.done:
		l.done <- err
	case <-time.After(20 * time.Second):
		t.Fatal("the run did not end when its output failed")
	}
	<-sendDone
	var ue *cmdutil.UsageErr
	if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), bad) {
		t.Errorf("error %v, want a runtime failure naming %s", err, bad)
	}
	s := parseSummary(t, l.out.String())
	if s.Stopped != "failed" || s.Out == nil || s.Out.Error == "" || len(s.Streams) != 1 {
		t.Errorf("summary %+v, want stopped failed with the output's error", s)
	}
}
