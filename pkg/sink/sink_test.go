package sink_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/sink"
)

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		dst, kind, display string
	}{
		{"rtmp://127.0.0.1/live/x", sink.KindRTMP, "rtmp://127.0.0.1/live/x"},
		{"RTMP://h:1936/app/a/b?k=v", sink.KindRTMP, "rtmp://h:1936/app/a/b?k=v"},
		{"rtmp://u:secret@h/live/x", sink.KindRTMP, "rtmp://u:xxxxx@h/live/x"},
		{"out.flv", sink.KindFLV, "out.flv"},
		{"dir/OUT.FLV", sink.KindFLV, "dir/OUT.FLV"},
		{"/tmp/x.ts", sink.KindTS, "/tmp/x.ts"},
		{"x.mp4", sink.KindMP4, "x.mp4"},
		{"rtsp://u:secret@h:8554/live/x", sink.KindRTSP, "rtsp://u:xxxxx@h:8554/live/x"},
		{`C:\video\x.mp4`, sink.KindMP4, `C:\video\x.mp4`}, // not a URL
	} {
		got, err := sink.ParseTarget(tc.dst)
		if err != nil || got.Kind != tc.kind || got.Dest != tc.dst || got.Display != tc.display {
			t.Errorf("ParseTarget(%q) = %+v, %v; want kind %s, display %s", tc.dst, got, err, tc.kind, tc.display)
		}
		if got.IsFile() == (tc.kind == sink.KindRTMP || tc.kind == sink.KindRTSP) {
			t.Errorf("%q: IsFile %v", tc.dst, got.IsFile())
		}
	}
	for _, tc := range []struct {
		dst, want   string
		unsupported bool
	}{
		{"", "empty", true},
		{"x.avi", "x.avi", true},
		{"noext", "noext", true},
		{"srt://h:1/x", "srt://", true},
		{"rtmps://u:pw@h/live/x", "rtmps:// (RTMP over TLS) is not supported", true},
		{"rtmp://h/live", "rtmp://h/live", false},
		{"rtmp:///live/x", "no host", false},
		{"rtsp:///live/x", "no host", false},
	} {
		_, err := sink.ParseTarget(tc.dst)
		if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, sink.ErrUnsupported) != tc.unsupported {
			t.Errorf("ParseTarget(%q) error %v, want one naming %q (unsupported %v)", tc.dst, err, tc.want, tc.unsupported)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("error %q shows the password", err)
		}
		if err != nil && !strings.Contains(err.Error(), "FILE.ts") && tc.unsupported {
			t.Errorf("error %q does not list what is supported", err)
		}
	}
}

// TestFiles writes a clip to each container: every frame is written, the
// file is the bytes counted, and ffprobe (when present) reads as many
// frames as the clip has.
func TestFiles(t *testing.T) {
	tracks, frames := clipframes.Read(t, "h264_aac.flv")
	want := countCodecs(frames)
	dir := t.TempDir()
	e := newEngine(t)
	var sinks []*tracked
	var paths []string
	for _, name := range []string{"a.flv", "b.ts", "sub/c.mp4"} {
		path := filepath.Join(dir, name)
		tg, err := sink.ParseTarget(path)
		if err != nil {
			t.Fatal(err)
		}
		s, err := tg.New(context.Background(), sink.Options{})
		if err != nil {
			t.Fatal(err)
		}
		sinks = append(sinks, track(s))
		paths = append(paths, path)
	}
	attachAll(e, sinks...)
	publish(t, e, tracks, frames, true)
	for i, s := range sinks {
		s.wait(t, 10*time.Second, "the stream ended")
		r := s.Result()
		fi, err := os.Stat(paths[i])
		if err != nil {
			t.Fatal(err)
		}
		if r.Err != nil || r.Frames != int64(len(frames)) || len(r.Files) != 1 || r.Files[0] != paths[i] || r.Bytes != fi.Size() ||
			r.Duration < 5*time.Second {
			t.Errorf("%s: result %+v (file %d bytes), want %d frames over 6 s, the file's bytes", paths[i], r, fi.Size(), len(frames))
		}
		if p, ok := s.Sink.(sink.Progress); ok && (p.FramesWritten() != r.Frames || p.BytesWritten() != r.Bytes) {
			t.Errorf("%s: progress %d frames %d bytes, result %+v", paths[i], p.FramesWritten(), p.BytesWritten(), r)
		}
	}
	if _, err := exec.LookPath("ffprobe"); err != nil {
		testutil.RequireFFmpeg(t)
	}
	for _, path := range paths {
		p, err := testutil.FFprobe(context.Background(), t, path)
		if err != nil {
			t.Fatal(err)
		}
		v, a := p.Video(), p.Audio()
		if v == nil || a == nil || v.CodecName != "h264" || a.CodecName != "aac" ||
			v.NbReadFrames != want[media.CodecH264] || a.NbReadFrames != want[media.CodecAAC] {
			t.Errorf("%s: ffprobe %+v, want %d h264 and %d aac frames", path, p.Streams, want[media.CodecH264], want[media.CodecAAC])
		}
	}
}

// TestSkippedCodec: a codec the container cannot carry is left out with
// one warning, the rest is written.
func TestSkippedCodec(t *testing.T) {
	tracks, frames := clipframes.Read(t, "h264_only.flv")
	// FLV and MPEG-TS now carry every codec mediakit has (Opus too), so a
	// codec of no container stands in for one they cannot carry.
	opus := &media.Track{Codec: media.Codec(99), SampleRate: 48000, Channels: 2}
	var mixed []*media.Frame
	for _, f := range frames {
		mixed = append(mixed, f,
			&media.Frame{Track: opus, DTS: f.DTS, PTS: f.DTS, Key: true, Payload: []byte{0xfc, 1, 2, 3}},
			&media.Frame{Track: opus, DTS: f.DTS + 20*time.Millisecond, PTS: f.DTS + 20*time.Millisecond, Key: true, Payload: []byte{0xfc, 1, 2, 3}})
	}
	dir := t.TempDir()
	for _, tc := range []struct{ file, container string }{{"x.flv", "FLV"}, {"x.ts", "MPEG-TS"}} {
		t.Run(tc.container, func(t *testing.T) {
			var logs logBuffer
			tg, err := sink.ParseTarget(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			s, err := tg.New(context.Background(), sink.Options{Log: logs.logger()})
			if err != nil {
				t.Fatal(err)
			}
			ts := track(s)
			e := newEngine(t)
			attachAll(e, ts)
			publish(t, e, append(tracks, opus), mixed, true)
			ts.wait(t, 10*time.Second, "the stream ended")
			if r := ts.Result(); r.Err != nil || r.Frames != int64(len(frames)) {
				t.Errorf("result %+v, want the %d video frames", r, len(frames))
			}
			if n := strings.Count(logs.String(), tc.container+" cannot carry this codec"); n != 1 || !strings.Contains(logs.String(), "codec=unknown") {
				t.Errorf("%d warnings, want one naming the codec: %s", n, logs.String())
			}
		})
	}
}

// TestFileFailure: a file that cannot be created is an error naming it.
func TestFileFailure(t *testing.T) {
	tracks, frames := clipframes.Read(t, "h264_aac.flv")
	blocker := filepath.Join(t.TempDir(), "afile")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"x.flv", "x.ts", "x.mp4"} {
		path := filepath.Join(blocker, name)
		tg, err := sink.ParseTarget(path)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := tg.New(context.Background(), sink.Options{})
		ts := track(s)
		e := newEngine(t)
		attachAll(e, ts)
		publish(t, e, tracks, frames[:50], true)
		ts.wait(t, 10*time.Second, "the stream ended")
		if err := ts.Result().Err; err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming the file", name, err)
		}
	}
}
