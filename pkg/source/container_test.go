package source

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
)

// remux writes clip into dir/name with `ffmpeg -i CLIP -c copy ARGS...
// dir/name` and returns its path.
func remux(t *testing.T, clip, dir, name string, args ...string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	full := append([]string{"-i", testutil.Clip(t, clip), "-c", "copy"}, args...)
	full = append(full, "-y", out)
	if err := testutil.StartFFmpeg(t, full...).Wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	return out
}

// probed is what ffprobe says of a file's packets, per kind, in file
// order.
type probed struct {
	codec map[media.Kind]string
	keys  map[media.Kind][]bool
	dts   map[media.Kind][]float64 // seconds
}

func probe(t *testing.T, path string) probed {
	t.Helper()
	ctx := context.Background()
	p, err := testutil.FFprobe(ctx, t, path)
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := testutil.FramePackets(ctx, t, path)
	if err != nil {
		t.Fatal(err)
	}
	out := probed{codec: map[media.Kind]string{}, keys: map[media.Kind][]bool{}, dts: map[media.Kind][]float64{}}
	kinds := map[int]media.Kind{}
	for _, s := range p.Streams {
		switch s.CodecType {
		case "video":
			kinds[s.Index] = media.KindVideo
		case "audio":
			kinds[s.Index] = media.KindAudio
		default:
			continue
		}
		out.codec[kinds[s.Index]] = s.CodecName
	}
	for _, pk := range pkts {
		if k, ok := kinds[pk.StreamIndex]; ok {
			out.keys[k] = append(out.keys[k], pk.Keyframe())
			out.dts[k] = append(out.dts[k], pk.DTSTime)
		}
	}
	return out
}

// frames returns what s got of kind k.
func (s *recSink) ofKind(k media.Kind) []*media.Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*media.Frame
	for _, f := range s.frames {
		if f.Track.Kind() == k {
			out = append(out, f)
		}
	}
	return out
}

// matchProbe checks that sink got, per kind, the packets ffprobe counts
// in want, with its codecs and keyframe flags, DTS monotonic. Looped
// passes repeat the packets.
func matchProbe(t *testing.T, sink *recSink, want probed, passes int) {
	t.Helper()
	for _, k := range []media.Kind{media.KindVideo, media.KindAudio} {
		got := sink.ofKind(k)
		keys := want.keys[k]
		if len(got) != passes*len(keys) {
			t.Errorf("%s: %d frames, want %d x %d packets", k, len(got), passes, len(keys))
			continue
		}
		if len(got) == 0 {
			continue
		}
		if c := got[0].Track.Codec.String(); c != want.codec[k] {
			t.Errorf("%s codec %s, ffprobe says %s", k, c, want.codec[k])
		}
		for i, f := range got {
			if k == media.KindVideo && f.Key != keys[i%len(keys)] {
				t.Errorf("%s frame %d: key %v, ffprobe says %v", k, i, f.Key, keys[i%len(keys)])
				break
			}
			if i < len(keys) {
				d, w := f.DTS-got[0].DTS, want.dts[k][i]-want.dts[k][0]
				if (d - time.Duration(w*float64(time.Second))).Abs() > time.Millisecond {
					t.Errorf("%s frame %d: %v after the first, ffprobe says %.6f s", k, i, d, w)
					break
				}
			}
			if i > 0 && f.DTS <= got[i-1].DTS {
				t.Errorf("%s frame %d: DTS %v after %v", k, i, f.DTS, got[i-1].DTS)
				break
			}
			if f.PTS < f.DTS {
				t.Errorf("%s frame %d: PTS %v before DTS %v", k, i, f.PTS, f.DTS)
				break
			}
		}
	}
}

// containerCases are the files the container tests make from the clips.
var containerCases = []struct {
	name, clip, file string
	args             []string
}{
	{"ts h264", "h264_aac.flv", "a.ts", nil},
	{"ts h264 b-frames", "h264_bframes_aac.flv", "a.ts", nil},
	{"ts h265", "h265_aac.mp4", "a.ts", nil},
	{"mp4 h264", "h264_aac.flv", "a.mp4", nil},
	{"mp4 h264 b-frames", "h264_bframes_aac.flv", "a.mp4", nil},
	{"mp4 h265", "h265_aac.mp4", "a.mp4", nil},
	{"mp4 faststart", "h264_bframes_aac.flv", "a.mp4", []string{"-movflags", "+faststart"}},
	{"mov h264", "h264_aac.flv", "a.mov", nil},
	{"m4v h264 video only", "h264_only.flv", "a.m4v", []string{"-f", "mp4"}},
	{"fmp4 h264", "h264_aac.flv", "a.mp4", []string{"-movflags", "frag_keyframe+empty_moov"}},
	{"fmp4 h264 b-frames", "h264_bframes_aac.flv", "a.mp4", []string{"-movflags", "frag_keyframe+empty_moov"}},
	{"fmp4 h265", "h265_aac.mp4", "a.mp4", []string{"-movflags", "frag_keyframe+empty_moov+default_base_moof"}},
	{"mp4 aac only", "aac_only.flv", "a.mp4", nil},
	{"ts aac only", "aac_only.flv", "a.ts", nil},
}

// TestContainers reads MPEG-TS and MP4 files that ffmpeg made from the
// clips and checks what the source emits against ffprobe.
func TestContainers(t *testing.T) {
	testutil.RequireFFmpeg(t)
	t.Parallel()
	for _, tc := range containerCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := remux(t, tc.clip, t.TempDir(), tc.file, tc.args...)
			want := probe(t, path)
			src := mustOpen(t, path, Options{})
			sink := &recSink{}
			if err := src.Run(context.Background(), sink); err != nil {
				t.Fatal(err)
			}
			matchProbe(t, sink, want, 1)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if src.Size() != fi.Size() || src.BytesRead() <= 0 || src.BytesRead() > 2*fi.Size() {
				t.Errorf("Size %d, BytesRead %d of a %d byte file", src.Size(), src.BytesRead(), fi.Size())
			}
		})
	}
}

// TestLoop plays files twice: twice the frames, one timeline.
func TestLoop(t *testing.T) {
	testutil.RequireFFmpeg(t)
	t.Parallel()
	for _, tc := range []struct {
		name, clip, file string
		args             []string
	}{
		{"flv", "h264_aac.flv", "a.flv", nil},
		{"ts", "h264_bframes_aac.flv", "a.ts", nil},
		{"mp4", "h265_aac.mp4", "a.mp4", nil},
		{"fmp4", "h264_aac.flv", "a.mp4", []string{"-movflags", "frag_keyframe+empty_moov"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := remux(t, tc.clip, t.TempDir(), tc.file, tc.args...)
			want := probe(t, path)
			total := len(want.keys[media.KindVideo]) + len(want.keys[media.KindAudio])
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// Stop after two passes.
			sink := &stopSink{recSink: &recSink{}, limit: 2 * total, stop: cancel}
			err := mustOpen(t, path, Options{Loop: true}).Run(ctx, sink)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Run: %v, want context.Canceled once the sink had two passes", err)
			}
			matchProbe(t, sink.recSink, want, 2)
			// The second pass starts a frame after the first ends.
			var end, start time.Duration
			for i, f := range sink.frames {
				if i < total {
					end = max(end, f.DTS)
				} else if i == total || f.DTS < start {
					start = f.DTS
				}
			}
			if gap := start - end; gap <= 0 || gap > 100*time.Millisecond {
				t.Errorf("second pass starts %v after the first ends, want about a frame", gap)
			}
		})
	}
}

// stopSink calls stop once it has limit frames and refuses more.
type stopSink struct {
	*recSink
	limit int
	stop  func()
	once  sync.Once
}

var errEnough = errors.New("enough frames")

func (s *stopSink) WriteFrame(f *media.Frame) error {
	s.mu.Lock()
	n := len(s.frames)
	s.mu.Unlock()
	if n >= s.limit {
		s.once.Do(s.stop)
		return errEnough
	}
	return s.recSink.WriteFrame(f)
}

// timedSink records when each frame arrived and cancels once a frame
// is stop past the first.
type timedSink struct {
	recSink
	at     []time.Time
	stop   time.Duration
	cancel func()
}

func (s *timedSink) WriteFrame(f *media.Frame) error {
	s.mu.Lock()
	s.at = append(s.at, time.Now())
	over := len(s.frames) > 0 && f.DTS-s.frames[0].DTS >= s.stop
	s.mu.Unlock()
	if over {
		s.cancel()
	}
	return s.recSink.WriteFrame(f)
}

// TestRealtime paces every kind of file: no frame arrives before its
// time. (Late is allowed: the machine may be busy.)
func TestRealtime(t *testing.T) {
	testutil.RequireFFmpeg(t)
	t.Parallel()
	for _, file := range []string{"a.ts", "a.mp4", "a.flv"} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			path := remux(t, clipName, t.TempDir(), file)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			sink := &timedSink{stop: 1500 * time.Millisecond, cancel: cancel}
			err := mustOpen(t, path, Options{Realtime: true, Loop: true}).Run(ctx, sink)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Run: %v", err)
			}
			sink.mu.Lock()
			defer sink.mu.Unlock()
			for i, f := range sink.frames {
				due := f.DTS - sink.frames[0].DTS
				// Track detection may hold the first frames back a
				// little: 300 ms of slack.
				if got := sink.at[i].Sub(sink.at[0]); got < due-300*time.Millisecond {
					t.Fatalf("frame %d, due %v after the first, arrived after %v", i, due, got)
				}
			}
		})
	}
}

func TestContainerBadInput(t *testing.T) {
	testutil.RequireFFmpeg(t)
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range containerCases {
		if strings.Contains(tc.name, "b-frames") || strings.Contains(tc.name, "only") {
			continue
		}
		path := remux(t, tc.clip, dir, strings.ReplaceAll(tc.name, " ", "_")+filepath.Ext(tc.file), tc.args...)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(tc.name, func(t *testing.T) {
			// Cut anywhere, or damaged: an error naming the file or a
			// clean end, never a panic.
			for _, n := range []int{0, 7, 100, len(b) / 3, len(b) / 2, len(b) - 1} {
				p := filepath.Join(t.TempDir(), "cut"+filepath.Ext(path))
				if err := os.WriteFile(p, b[:n], 0o644); err != nil {
					t.Fatal(err)
				}
				err := mustOpen(t, p, Options{}).Run(context.Background(), &recSink{})
				if err != nil && !strings.Contains(err.Error(), p) {
					t.Errorf("cut at %d: error %v does not name the file", n, err)
				}
				if n == 0 && err == nil {
					t.Error("an empty file read without an error")
				}
			}
			d := append([]byte(nil), b...)
			for i := 0; i < len(d); i += 331 {
				d[i] ^= 0x5a
			}
			p := filepath.Join(t.TempDir(), "damaged"+filepath.Ext(path))
			if err := os.WriteFile(p, d, 0o644); err != nil {
				t.Fatal(err)
			}
			_ = mustOpen(t, p, Options{}).Run(context.Background(), &recSink{})
			// Looping a file without media ends instead of spinning.
			empty := filepath.Join(t.TempDir(), "empty"+filepath.Ext(path))
			if err := os.WriteFile(empty, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := mustOpen(t, empty, Options{Loop: true}).Run(context.Background(), &recSink{}); err == nil {
				t.Error("looping an empty file: no error")
			}
		})
	}
}

// TestDroppedCodecs: audio mediakit cannot carry (AC-3) is dropped with
// one warning; the video goes on. (MP3 and Opus are carried.)
func TestDroppedCodecs(t *testing.T) {
	testutil.RequireFFmpeg(t)
	t.Parallel()
	for _, tc := range []struct{ file, codec string }{
		{"b.ts", "ac3"},
		{"e.mp4", "ac3"},
	} {
		t.Run(tc.file+" "+tc.codec, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, tc.file)
			if err := testutil.StartFFmpeg(t, "-i", testutil.Clip(t, clipName), "-c:v", "copy", "-c:a", tc.codec,
				"-ar", "48000", "-y", path).Wait(30 * time.Second); err != nil {
				t.Fatal(err)
			}
			want := probe(t, path)
			var log testutil.SyncBuffer
			sink := &recSink{}
			err := mustOpen(t, path, Options{Log: slog.New(slog.NewTextHandler(&log, nil))}).Run(context.Background(), sink)
			if err != nil {
				t.Fatal(err)
			}
			if v, a := sink.count(); v != len(want.keys[media.KindVideo]) || a != 0 {
				t.Errorf("%d video and %d audio frames, want %d and none", v, a, len(want.keys[media.KindVideo]))
			}
			if n := strings.Count(log.String(), "level=WARN"); n != 1 {
				t.Errorf("%d warnings, want one:\n%s", n, log.String())
			}
		})
	}
}
