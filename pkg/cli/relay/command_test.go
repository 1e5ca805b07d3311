package relay_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/cli"
	"github.com/mediakit/mediakit/pkg/cli/cmdutil"
	"github.com/mediakit/mediakit/pkg/cli/relay"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code = cli.Main(ctx, append([]string{"relay"}, args...), &out, &errOut, func(string) string { return "" })
	return code, out.String(), errOut.String()
}

// TestFlags: the flags reach the options, with the documented defaults.
func TestRelayFlags(t *testing.T) {
	parse := func(args ...string) *relay.Options {
		t.Helper()
		var got *relay.Options
		cmd := relay.NewCommand(&cmdutil.IO{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, func(_ context.Context, o *relay.Options) error {
			got = o
			return nil
		})
		cmd.SetArgs(args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		return got
	}
	o := parse("in.flv", "out.ts")
	if o.Source != "in.flv" || len(o.Dests) != 1 || o.Dests[0] != "out.ts" || o.Retries != 0 || o.RetryDelay != time.Second ||
		o.Timeout != 10*time.Second || o.Duration != 0 || o.Realtime || o.Loop || o.JSON || o.LogLevel != "warn" ||
		o.RTSPTransport != "tcp" {
		t.Errorf("defaults: %+v", o)
	}
	o = parse("rtmp://a/live/s", "rtmp://b/live/x", "x.mp4", "--retries", "-1", "--retry-delay", "250ms", "--timeout", "3s",
		"--duration", "1m", "--re", "--loop", "--json", "--log-level", "debug", "--rtsp-transport", "udp")
	if o.Source != "rtmp://a/live/s" || strings.Join(o.Dests, " ") != "rtmp://b/live/x x.mp4" || o.Retries != -1 ||
		o.RetryDelay != 250*time.Millisecond || o.Timeout != 3*time.Second || o.Duration != time.Minute || !o.Realtime || !o.Loop ||
		!o.JSON || o.LogLevel != "debug" || o.RTSPTransport != "udp" {
		t.Errorf("flags: %+v", o)
	}
}

// TestUsageErrors: bad arguments exit 2 with one line naming what is
// wrong, before anything is opened.
func TestRelayUsageErrors(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.flv")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no args", nil, "SRC"},
		{"no DST", []string{in}, "DST"},
		{"extension", []string{in, filepath.Join(dir, "x.avi")}, "x.avi"},
		{"scheme", []string{in, "srt://h:1/x"}, "srt://"},
		{"rtmps", []string{in, "rtmps://h/live/x"}, "rtmps://"},
		{"rtmp without stream", []string{in, "rtmp://127.0.0.1/live"}, "rtmp://127.0.0.1/live"},
		{"same file twice", []string{in, filepath.Join(dir, "a.flv"), filepath.Join(dir, ".", "a.flv")}, "a.flv"},
		{"DST is SRC", []string{in, in}, "SRC"},
		{"same URL twice", []string{in, "rtmp://h/live/x", "rtmp://h/live/x"}, "rtmp://h/live/x"},
		{"retries", []string{in, "x.flv", "--retries", "-2"}, "--retries"},
		{"retry delay", []string{in, "x.flv", "--retry-delay", "0s"}, "--retry-delay"},
		{"timeout", []string{in, "x.flv", "--timeout", "0s"}, "--timeout"},
		{"duration", []string{in, "x.flv", "--duration", "-1s"}, "--duration"},
		{"duration without unit", []string{in, "x.flv", "--duration", "5"}, "--duration"},
		{"log level", []string{in, "x.flv", "--log-level", "loud"}, "--log-level"},
		{"unknown flag", []string{in, "x.flv", "--bogus"}, "--bogus"},
		{"source scheme", []string{"srt://h:1/x", filepath.Join(dir, "x.flv")}, "srt"},
		{"rtsp transport", []string{"rtsp://h/x", "x.flv", "--rtsp-transport", "sctp"}, "--rtsp-transport"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runMain(t, tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr %q", code, stderr)
			}
			testutil.CheckOneLineError(t, stdout, stderr)
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("error %q does not name %q", stderr, tc.want)
			}
		})
	}
}

// TestMissingSource: an input that is not there is a runtime error (1).
func TestRelayMissingSource(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.flv")
	code, stdout, stderr := runMain(t, missing, filepath.Join(t.TempDir(), "x.flv"))
	if code != 1 {
		t.Errorf("exit %d, want 1; stderr %q", code, stderr)
	}
	testutil.CheckOneLineError(t, stdout, stderr)
	if !strings.Contains(stderr, missing) {
		t.Errorf("error %q does not name %s", stderr, missing)
	}
}
