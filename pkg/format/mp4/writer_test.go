package mp4_test

import (
	"context"
	"math"
	"testing"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/format/mp4"
	"github.com/mediakit/mediakit/pkg/media"
)

// clipCase is one source clip and what ffprobe must say of its MP4.
type clipCase struct {
	name         string
	video, audio int    // frames
	videoCodec   string // ffprobe codec_name
	entry        string // sample entry
	ctts         bool   // composition offsets expected
	frames       func(testing.TB) ([]*media.Track, []*media.Frame)
}

func flvCase(name string, video, audio int, ctts bool) clipCase {
	c := clipCase{name: name, video: video, audio: audio, ctts: ctts,
		frames: func(t testing.TB) ([]*media.Track, []*media.Frame) { return flvFrames(t, name) }}
	if video > 0 {
		c.videoCodec, c.entry = "h264", "avc1"
	}
	return c
}

var clipCases = []clipCase{
	flvCase("h264_aac.flv", 150, 260, false),
	flvCase("h264_bframes_aac.flv", 150, 260, true),
	flvCase("h264_only.flv", 100, 0, false),
	flvCase("aac_only.flv", 0, 174, false),
	{name: "h265.hevc", video: 100, videoCodec: "hevc", entry: "hvc1", frames: h265Frames},
}

// TestFinalStructure checks, without ffmpeg, the layout and sample tables
// of finalised files against the frames written.
func TestFinalStructure(t *testing.T) {
	for _, c := range clipCases {
		t.Run(c.name, func(t *testing.T) {
			tracks, frames := c.frames(t)
			path, w := record(t, tracks, frames, mp4.Options{}, true)
			info := checkFinal(t, path, tracks, frames)
			if v, ok := info["vide"]; (c.video > 0) != ok || ok && (v.entry != c.entry || v.hasCtts != c.ctts || v.co64) {
				t.Errorf("video trak %+v", v)
			}
			if a, ok := info["soun"]; (c.audio > 0) != ok || ok && (a.entry != "mp4a" || a.hasCtts || a.hasStss || a.co64) {
				t.Errorf("audio trak %+v", a)
			}
			if v, ok := info["vide"]; ok && !v.hasStss {
				t.Error("video without stss")
			}
			if got, want := w.Frames(), int64(c.video+c.audio); got != want {
				t.Errorf("Frames() = %d, want %d", got, want)
			}
			if got := w.Bytes(); got != fileSize(t, path) {
				t.Errorf("Bytes() = %d, file has %d", got, fileSize(t, path))
			}
		})
	}
}

// TestClipsFFprobe judges finalised files with ffprobe against the source
// clips: codecs, frame counts, duration, and every packet's timestamps and
// keyframe flag.
func TestClipsFFprobe(t *testing.T) {
	testutil.RequireFFmpeg(t)
	for _, c := range clipCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tracks, frames := c.frames(t)
			path, w := record(t, tracks, frames, mp4.Options{}, true)
			checkFinal(t, path, tracks, frames)
			ctx := context.Background()
			p, err := testutil.FFprobe(ctx, t, path)
			if err != nil {
				t.Fatal(err)
			}
			checkStreams(t, p, c)

			got, err := testutil.FramePackets(ctx, t, path)
			if err != nil {
				t.Fatal(err)
			}
			var want []testutil.Packet
			if c.name == "h265.hevc" {
				for i, f := range frames {
					ms := int64(i * 40)
					flags := "__"
					if f.Key {
						flags = "K_"
					}
					want = append(want, testutil.Packet{CodecType: "video", DTS: ms, PTS: ms, Flags: flags})
				}
			} else {
				src := testutil.Clip(t, c.name)
				sp, err := testutil.FFprobe(ctx, t, src)
				if err != nil {
					t.Fatal(err)
				}
				if d := math.Abs(p.Format.Duration - sp.Format.Duration); d > 0.2 {
					t.Errorf("duration %.3f s, source %.3f s", p.Format.Duration, sp.Format.Duration)
				}
				if d := math.Abs(w.Duration().Seconds() - sp.Format.Duration); d > 0.2 {
					t.Errorf("Duration() = %v, source %.3f s", w.Duration(), sp.Format.Duration)
				}
				if want, err = testutil.FramePackets(ctx, t, src); err != nil {
					t.Fatal(err)
				}
			}
			comparePackets(t, got, want, "video")
			comparePackets(t, got, want, "audio")
		})
	}
}

func checkStreams(t *testing.T, p *testutil.Probe, c clipCase) {
	t.Helper()
	if p.Format.FormatName != "mov,mp4,m4a,3gp,3g2,mj2" {
		t.Errorf("format %q", p.Format.FormatName)
	}
	v, a := p.Video(), p.Audio()
	if (v != nil) != (c.video > 0) || (a != nil) != (c.audio > 0) || len(p.Streams) != btoi(c.video > 0)+btoi(c.audio > 0) {
		t.Fatalf("streams %+v", p.Streams)
	}
	if v != nil {
		if v.CodecName != c.videoCodec || v.Width != 320 || v.Height != 240 || v.NbReadFrames != c.video {
			t.Errorf("video %s %dx%d, %d frames; want %s 320x240, %d frames",
				v.CodecName, v.Width, v.Height, v.NbReadFrames, c.videoCodec, c.video)
		}
	}
	if a != nil {
		if a.CodecName != "aac" || a.SampleRate != 44100 || a.Channels != 2 || a.NbReadFrames != c.audio {
			t.Errorf("audio %s %d Hz %d ch, %d frames; want aac 44100 Hz 2 ch, %d frames",
				a.CodecName, a.SampleRate, a.Channels, a.NbReadFrames, c.audio)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ofType returns the packets of one codec type.
func ofType(pkts []testutil.Packet, typ string) []testutil.Packet {
	var out []testutil.Packet
	for _, p := range pkts {
		if p.CodecType == typ {
			out = append(out, p)
		}
	}
	return out
}

// comparePackets checks that got has the packets of want of one type, with
// the same DTS, PTS (ms) and keyframe flag.
func comparePackets(t *testing.T, got, want []testutil.Packet, typ string) {
	t.Helper()
	comparePrefix(t, got, want, typ, len(ofType(want, typ)))
}

// comparePrefix checks that the first n packets of one type agree.
func comparePrefix(t *testing.T, got, want []testutil.Packet, typ string, n int) {
	t.Helper()
	g, w := ofType(got, typ), ofType(want, typ)
	if len(g) < n || len(w) < n {
		t.Errorf("%s: %d packets, source %d; comparing %d", typ, len(g), len(w), n)
		n = min(len(g), len(w), n)
	}
	bad := 0
	for i := range n {
		if g[i].DTS != w[i].DTS || g[i].PTS != w[i].PTS || g[i].Keyframe() != w[i].Keyframe() {
			if bad++; bad <= 5 {
				t.Errorf("%s packet %d: dts %d pts %d key %v; source dts %d pts %d key %v",
					typ, i, g[i].DTS, g[i].PTS, g[i].Keyframe(), w[i].DTS, w[i].PTS, w[i].Keyframe())
			}
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d packets differ", typ, bad)
	}
}
