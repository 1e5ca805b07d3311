package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/cli/cmdutil"
	"github.com/mediakit/mediakit/pkg/probe"
)

func TestFlags(t *testing.T) {
	cases := []struct {
		args  []string
		usage bool
		want  Options
	}{
		{[]string{"in.flv"}, false, Options{Input: "in.flv", Timeout: 10 * time.Second, Duration: 10 * time.Second}},
		{[]string{"--json", "--gop", "--duration", "3s", "--timeout", "2s", "rtmp://h/a/b"}, false,
			Options{Input: "rtmp://h/a/b", JSON: true, Frames: true, Timeout: 2 * time.Second, Duration: 3 * time.Second}},
		{[]string{"--frames", "x.ts"}, false, Options{Input: "x.ts", Frames: true, Timeout: 10 * time.Second, Duration: 10 * time.Second}},
		{nil, true, Options{}},
		{[]string{"a", "b"}, true, Options{}},
		{[]string{"--timeout", "-1s", "a"}, true, Options{}},
	}
	for _, c := range cases {
		var got *Options
		cmd := NewCommand(&cmdutil.IO{}, func(_ context.Context, o *Options) error { got = o; return nil })
		cmd.SetArgs(c.args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		err := cmd.Execute()
		var ue *cmdutil.UsageErr
		if c.usage {
			if !errors.As(err, &ue) {
				t.Errorf("%q: err %v, want a usage error", c.args, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", c.args, err)
		}
		got.IO = nil
		if *got != c.want {
			t.Errorf("%q: %+v, want %+v", c.args, *got, c.want)
		}
	}
}

func TestRunOutput(t *testing.T) {
	clip := testutil.Clip(t, "h264_bframes_aac.flv")
	var out bytes.Buffer
	if err := Run(context.Background(), &Options{IO: &cmdutil.IO{Out: &out, ErrOut: &out}, Input: clip}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Format: flv, duration 6.080 s", "Stream #0: video h264 (Main), 320x240, 25 fps", "Stream #1: audio aac (LC), 44100 Hz, stereo"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := Run(context.Background(), &Options{IO: &cmdutil.IO{Out: &out, ErrOut: &out}, Input: clip, JSON: true, Frames: true}); err != nil {
		t.Fatal(err)
	}
	var r probe.JSONReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if f := r.Streams[0].Frames; f == nil || f.Frames != 150 || !f.HasBFrames || f.GOPAvgFrames != 25 ||
		len(f.BitrateSeries) != 5 || f.BitrateSeriesStep != 1 {
		t.Errorf("frames %+v", f)
	}
	if s := r.Streams[0]; s.AvgFrameRate != "25/1" || r.Streams[1].AvgFrameRate != "0/0" {
		t.Errorf("avg_frame_rate %q and %q, want 25/1 and 0/0", s.AvgFrameRate, r.Streams[1].AvgFrameRate)
	}
	err := Run(context.Background(), &Options{IO: &cmdutil.IO{Out: &out, ErrOut: &out}, Input: "/nonexistent.flv"})
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("missing file: %v", err)
	}
}
