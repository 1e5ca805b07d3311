package source

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
)

// fuzzSink checks what a reader emits from n bytes of input: payloads
// within the input's size, video only after tracks are declared, and a
// bounded number of frames.
type fuzzSink struct {
	t        *testing.T
	n        int
	frames   int
	declared bool
}

func (s *fuzzSink) SetTracks(tracks []*media.Track) error {
	if len(tracks) == 0 {
		s.t.Fatal("SetTracks with no track")
	}
	s.declared = true
	return nil
}

func (s *fuzzSink) SetMetadata(media.Metadata) {}

func (s *fuzzSink) WriteFrame(f *media.Frame) error {
	if !s.declared || f.Track == nil {
		s.t.Fatal("frame before its tracks")
	}
	// A payload never holds more than the input (ADTS-less AAC and
	// AVCC with 4-byte lengths can grow a 1- or 2-byte length form by
	// at most 3 bytes per NAL unit, so 4x).
	if len(f.Payload) > 4*s.n+16 {
		s.t.Fatalf("payload of %d bytes from %d bytes of input", len(f.Payload), s.n)
	}
	if s.frames++; s.frames > 4*s.n+1000 {
		s.t.Fatalf("%d frames from %d bytes of input", s.frames, s.n)
	}
	return nil
}

// fuzzFeed is a feed into a fuzzSink that fails the input when reading
// it takes more than 10 s: time must be bounded by the input's size. The
// bound catches a reader that loops on its input, not a slow machine:
// inputs of kilobytes take milliseconds even with -race on a loaded one.
func fuzzFeed(t *testing.T, n int) *feed {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(func() {
		if ctx.Err() != nil {
			t.Errorf("reading %d bytes took more than 10 s", n)
		}
		cancel()
	})
	return newFeed(ctx, &fuzzSink{t: t, n: n}, Options{}.withDefaults(), false)
}

func FuzzPlaylist(f *testing.F) {
	f.Add([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:5\n#EXTINF:2.0,\na.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:1.5,\nb.ts\n#EXT-X-ENDLIST\n"))
	f.Add([]byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=10,CODECS=\"a,b\"\nlow.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=20\nhigh.m3u8\n"))
	f.Add([]byte("#EXTM3U\n#EXT-X-MAP:URI=\"i.mp4\"\n#EXT-X-KEY:METHOD=AES-128\n#EXT-X-BYTERANGE:1@2\n#EXTINF:1,\nx\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePlaylist(b)
		if err != nil {
			return
		}
		if p.master {
			if len(p.variants) == 0 {
				t.Fatal("master playlist without variants")
			}
			_ = p.best()
			return
		}
		for i, s := range p.segments {
			if s.seq != p.mediaSequence+int64(i) || s.duration < 0 || s.uri == "" {
				t.Fatalf("segment %d: %+v", i, s)
			}
		}
		if p.targetDuration < 0 || p.targetDuration > maxTargetDuration {
			t.Fatalf("target duration %v", p.targetDuration)
		}
	})
}

func FuzzMP4(f *testing.F) {
	f.Add([]byte{0, 0, 0, 8, 'm', 'o', 'o', 'v'})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = readMP4(fuzzFeed(t, len(b)), "fuzz.mp4", bytes.NewReader(b), int64(len(b)))
		// and as a stream (stdin, the segments of an HLS playlist)
		_ = readMP4Stream(fuzzFeed(t, len(b)), "fuzz.mp4", bytes.NewReader(b))
	})
}

func FuzzTS(f *testing.F) {
	f.Add(bytes.Repeat([]byte{0x47, 0x1f, 0xff, 0x10}, 47))
	f.Fuzz(func(t *testing.T, b []byte) {
		fd := fuzzFeed(t, len(b))
		_ = readTS(fd, bytes.NewReader(b))
		_ = fd.flush()
		_, _ = tsFirstTimestamp(b)
	})
}

// TestWriteFuzzSeeds writes the seed corpora under testdata/fuzz: tiny
// files (32x32 video, a few frames; big seeds slow fuzzing down) that
// ffmpeg encodes from its test sources. Run it with
// MEDIAKIT_WRITE_FUZZ_SEEDS=1 after changing the readers' formats.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("MEDIAKIT_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set MEDIAKIT_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz")
	}
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	h264 := []string{"-c:v", "libx264", "-bf", "2", "-g", "3", "-c:a", "aac", "-ac", "1", "-b:a", "8k"}
	h265 := []string{"-c:v", "libx265", "-x265-params", "log-level=none:keyint=3", "-c:a", "aac", "-ac", "1", "-b:a", "8k"}
	frag := []string{"-movflags", "frag_keyframe+empty_moov+default_base_moof"}
	seeds := []struct {
		name string
		args []string
	}{
		{"FuzzMP4/progressive_h264", append(h264, "a.mp4")},
		{"FuzzMP4/progressive_h265", append(h265, "b.mp4")},
		{"FuzzMP4/fragmented_h264", append(append(h264, frag...), "c.mp4")},
		{"FuzzMP4/fragmented_h265", append(append(h265, frag...), "d.mp4")},
		{"FuzzMP4/quicktime", append(h264, "e.mov")},
		{"FuzzMP4/av1_opus", []string{"-c:v", "libaom-av1", "-cpu-used", "8", "-g", "3", "-c:a", "libopus", "-ac", "1", "j.mp4"}},
		{"FuzzMP4/fragmented_vp9_opus", append([]string{"-c:v", "libvpx-vp9", "-g", "3", "-c:a", "libopus", "-ac", "1"}, append(frag, "k.mp4")...)},
		{"FuzzMP4/h264_mp3", []string{"-c:v", "libx264", "-g", "3", "-c:a", "libmp3lame", "-ac", "1", "-ar", "16000", "l.mp4"}},
		{"FuzzMP4/quicktime_ulaw", []string{"-c:v", "libx264", "-g", "3", "-c:a", "pcm_mulaw", "-ac", "1", "m.mov"}},
		{"FuzzTS/h264_aac", append(h264, "f.ts")},
		{"FuzzTS/h265_aac", append(h265, "g.ts")},
		{"FuzzPlaylist/ffmpeg_hls", append(h264, "-f", "hls", "-hls_time", "0.1", "-hls_list_size", "3", "h.m3u8")},
		{"FuzzPlaylist/ffmpeg_event", append(h264, "-f", "hls", "-hls_time", "0.1", "-hls_playlist_type", "event", "i.m3u8")},
	}
	for _, sd := range seeds {
		args := []string{"-f", "lavfi", "-i", "testsrc2=size=32x32:rate=10", "-f", "lavfi", "-i", "sine=r=8000",
			"-t", "0.6", "-pix_fmt", "yuv420p", "-ar", "8000"}
		args = append(args, sd.args[:len(sd.args)-1]...)
		out := filepath.Join(dir, sd.args[len(sd.args)-1])
		if err := testutil.StartFFmpeg(t, append(args, "-y", out)...).Wait(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		seed := filepath.Join("testdata", "fuzz", sd.name)
		if err := os.MkdirAll(filepath.Dir(seed), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(seed, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes", seed, len(b))
	}
}

// TestFuzzSeeds checks that the committed seeds are media the readers
// read, so that fuzzing starts from the interesting paths.
func TestFuzzSeeds(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"FuzzMP4", "FuzzTS"} {
		files, err := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no seeds (%v)", target, err)
		}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, lit, _ := strings.Cut(strings.TrimSpace(string(raw)), "\n")
			s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lit, "[]byte("), ")"))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			sink := &recSink{}
			fd := newFeed(context.Background(), sink, Options{}.withDefaults(), false)
			if target == "FuzzMP4" {
				err = readMP4(fd, f, bytes.NewReader([]byte(s)), int64(len(s)))
			} else {
				err = readTS(fd, strings.NewReader(s))
			}
			if ferr := fd.flush(); err == nil {
				err = ferr
			}
			if v, a := sink.count(); err != nil || v == 0 || a == 0 {
				t.Errorf("%s: %d video and %d audio frames, error %v", f, v, a, err)
			}
			if target == "FuzzMP4" && strings.HasPrefix(filepath.Base(f), "fragmented") {
				// The streaming reader (stdin, fMP4 HLS) reaches the samples too.
				sink := &recSink{}
				fd := newFeed(context.Background(), sink, Options{}.withDefaults(), false)
				err := readMP4Stream(fd, f, strings.NewReader(s))
				if ferr := fd.flush(); err == nil {
					err = ferr
				}
				if v, a := sink.count(); err != nil || v == 0 || a == 0 {
					t.Errorf("%s as a stream: %d video and %d audio frames, error %v", f, v, a, err)
				}
			}
		}
	}
}
