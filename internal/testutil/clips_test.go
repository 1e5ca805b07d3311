package testutil

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// Expected properties of the committed clips, as measured with
// `ffprobe -v error -print_format json -show_format -show_streams -count_frames`
// and recorded in testdata/clips/README.md. Regenerating the clips with a
// different ffmpeg build may change sizes, but not these numbers.
type wantStream struct {
	codec, profile string
	frames         int
}

type wantClip struct {
	name       string
	formatName string
	duration   float64 // format duration, seconds (0 for raw streams)
	nbStreams  int
	video      *wantStream // 320x240, 25/1
	audio      *wantStream // 44100 Hz, 2 channels
	reordered  bool        // video has packets with PTS != DTS (B-frames)
}

var (
	h264CB   = func(n int) *wantStream { return &wantStream{"h264", "Constrained Baseline", n} }
	h264Main = func(n int) *wantStream { return &wantStream{"h264", "Main", n} }
	hevcMain = func(n int) *wantStream { return &wantStream{"hevc", "Main", n} }
	aacLC    = func(n int) *wantStream { return &wantStream{"aac", "LC", n} }
)

var clips = []wantClip{
	{name: "h264_aac.flv", formatName: "flv", duration: 6.023, nbStreams: 2, video: h264CB(150), audio: aacLC(260)},
	{name: "h264_bframes_aac.flv", formatName: "flv", duration: 6.080, nbStreams: 2, video: h264Main(150), audio: aacLC(260), reordered: true},
	{name: "h264_only.flv", formatName: "flv", duration: 4.000, nbStreams: 1, video: h264CB(100)},
	{name: "aac_only.flv", formatName: "flv", duration: 4.023, nbStreams: 1, audio: aacLC(174)},
	// The MP4 edit list hides the AAC priming frame: 174 packets, 173 decoded frames.
	{name: "h265_aac.mp4", formatName: "mov,mp4,m4a,3gp,3g2,mj2", duration: 4.000, nbStreams: 2, video: hevcMain(100), audio: aacLC(173)},
	{name: "h265.hevc", formatName: "hevc", nbStreams: 1, video: hevcMain(100)},
	{name: "h264.h264", formatName: "h264", nbStreams: 1, video: h264CB(150)},
}

func TestClipsProbe(t *testing.T) {
	RequireFFmpeg(t)
	for _, c := range clips {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := Clip(t, c.name)
			p, err := FFprobe(t.Context(), t, path)
			if err != nil {
				t.Fatal(err)
			}
			if p.Format.FormatName != c.formatName {
				t.Errorf("format %q, want %q", p.Format.FormatName, c.formatName)
			}
			if math.Abs(p.Format.Duration-c.duration) > 0.001 {
				t.Errorf("duration %.3f, want %.3f", p.Format.Duration, c.duration)
			}
			if p.Format.NbStreams != c.nbStreams || len(p.Streams) != c.nbStreams {
				t.Errorf("nb_streams %d (%d parsed), want %d", p.Format.NbStreams, len(p.Streams), c.nbStreams)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if p.Format.Size != fi.Size() {
				t.Errorf("size %d, want %d", p.Format.Size, fi.Size())
			}
			if fi.Size() >= 400*1024 {
				t.Errorf("clip is %d bytes, keep clips under 400 KB", fi.Size())
			}

			v := p.Video()
			switch {
			case c.video == nil && v != nil:
				t.Errorf("unexpected video stream %+v", *v)
			case c.video != nil && v == nil:
				t.Errorf("no video stream")
			case c.video != nil:
				if v.CodecName != c.video.codec || v.Profile != c.video.profile {
					t.Errorf("video %s/%s, want %s/%s", v.CodecName, v.Profile, c.video.codec, c.video.profile)
				}
				if v.NbReadFrames != c.video.frames {
					t.Errorf("video frames %d, want %d", v.NbReadFrames, c.video.frames)
				}
				if v.Width != 320 || v.Height != 240 || v.RFrameRate != "25/1" {
					t.Errorf("video %dx%d @ %s, want 320x240 @ 25/1", v.Width, v.Height, v.RFrameRate)
				}
			}

			a := p.Audio()
			switch {
			case c.audio == nil && a != nil:
				t.Errorf("unexpected audio stream %+v", *a)
			case c.audio != nil && a == nil:
				t.Errorf("no audio stream")
			case c.audio != nil:
				if a.CodecName != c.audio.codec || a.Profile != c.audio.profile {
					t.Errorf("audio %s/%s, want %s/%s", a.CodecName, a.Profile, c.audio.codec, c.audio.profile)
				}
				if a.NbReadFrames != c.audio.frames {
					t.Errorf("audio frames %d, want %d", a.NbReadFrames, c.audio.frames)
				}
				if a.SampleRate != 44100 || a.Channels != 2 {
					t.Errorf("audio %d Hz x%d, want 44100 Hz x2", a.SampleRate, a.Channels)
				}
			}
		})
	}
}

func TestClipsPackets(t *testing.T) {
	RequireFFmpeg(t)
	for _, c := range clips {
		if c.formatName == "h264" || c.formatName == "hevc" {
			continue // raw elementary streams carry no timestamps
		}
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			pkts, err := FramePackets(t.Context(), t, Clip(t, c.name))
			if err != nil {
				t.Fatal(err)
			}
			var video []Packet
			lastDTS := map[int]int64{}
			for i, p := range pkts {
				if p.PTS == NoTimestamp || p.DTS == NoTimestamp {
					t.Fatalf("packet %d has no timestamp: %+v", i, p)
				}
				if math.Abs(float64(p.DTS)-p.DTSTime*1000) > 0.5 {
					t.Fatalf("packet %d: DTS %d ms vs dts_time %f", i, p.DTS, p.DTSTime)
				}
				if last, ok := lastDTS[p.StreamIndex]; ok && p.DTS <= last {
					t.Errorf("packet %d (%s): DTS %d after %d, want strictly increasing", i, p.CodecType, p.DTS, last)
				}
				lastDTS[p.StreamIndex] = p.DTS
				if p.Size <= 0 {
					t.Errorf("packet %d: size %d", i, p.Size)
				}
				if p.CodecType == "video" {
					video = append(video, p)
				}
			}
			if c.video == nil {
				if len(video) != 0 {
					t.Errorf("%d video packets, want none", len(video))
				}
				return
			}
			if len(video) != c.video.frames {
				t.Errorf("%d video packets, want %d", len(video), c.video.frames)
			}
			reordered := 0
			for i, p := range video {
				if want := i%25 == 0; p.Keyframe() != want {
					t.Errorf("video packet %d: keyframe=%v (flags %q), want %v", i, p.Keyframe(), p.Flags, want)
				}
				if p.PTS != p.DTS {
					reordered++
				}
			}
			if c.reordered != (reordered > 0) {
				t.Errorf("%d video packets with PTS != DTS, want reordering=%v", reordered, c.reordered)
			}
		})
	}
}

func TestClipMissing(t *testing.T) {
	ft := runFake(t, func(tb testing.TB) { Clip(tb, "no_such_clip.flv") })
	if !ft.fatal {
		t.Fatalf("Clip of a missing file did not fail the test: %+v", ft)
	}
}

func TestClipFromSubdirectory(t *testing.T) {
	want := Clip(t, "h264_aac.flv")
	if !filepath.IsAbs(want) {
		t.Fatalf("Clip returned relative path %q", want)
	}
	t.Chdir(filepath.Join(filepath.Dir(want), "..")) // testdata/
	if got := Clip(t, "h264_aac.flv"); got != want {
		t.Fatalf("from testdata/: %q, want %q", got, want)
	}
}
