package hls

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg1audio"
	mcmpegts "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/format/mpegts"
	"github.com/mediakit/mediakit/pkg/media"
)

// ffmpegCopy runs ffmpeg -i clip -c copy ARGS... out and returns out's
// bytes, for taking one track of a clip out in a form a test can split.
func ffmpegCopy(t testing.TB, clip string, args ...string) []byte {
	t.Helper()
	testutil.RequireFFmpeg(t)
	out := filepath.Join(t.TempDir(), "out")
	argv := append([]string{"-v", "error", "-i", testutil.Clip(t, clip), "-c", "copy"}, args...)
	argv = append(argv, "-y", out)
	if b, err := exec.Command("ffmpeg", argv...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", argv, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// clipVideo reads the H.264 video of an FLV clip (audio removed by ffmpeg,
// so that the FLV ingest need not know the clip's audio codec).
func clipVideo(t testing.TB, clip string) (*media.Track, []*media.Frame) {
	t.Helper()
	b := ffmpegCopy(t, clip, "-an", "-f", "flv")
	path := filepath.Join(t.TempDir(), "v.flv")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	tracks, frames, err := clipframes.ReadFile(path)
	if err != nil || len(tracks) != 1 {
		t.Fatalf("video of %s: %v %v", clip, tracks, err)
	}
	return tracks[0], frames
}

// clipMP3 splits the MP3 audio of a clip into frames stamped from 0.
func clipMP3(t testing.TB, clip string) (*media.Track, []*media.Frame) {
	t.Helper()
	return mp3Frames(t, ffmpegCopy(t, clip, "-vn", "-f", "mp3", "-write_xing", "0", "-id3v2_version", "0"))
}

// mp3Frames splits an MP3 file into frames stamped from 0.
func mp3Frames(t testing.TB, b []byte) (*media.Track, []*media.Frame) {
	t.Helper()
	var track *media.Track
	var frames []*media.Frame
	var ts time.Duration
	for len(b) >= 4 {
		var h mpeg1audio.FrameHeader
		if err := h.Unmarshal(b); err != nil {
			t.Fatalf("MP3 frame header at %d bytes from the end: %v", len(b), err)
		}
		n := h.SampleCount() / 8 * h.Bitrate / h.SampleRate // mediacommon's FrameLen is MPEG-1's only
		if h.Padding {
			n++
		}
		if n <= 0 || n > len(b) {
			break
		}
		if track == nil {
			var err error
			if track, err = media.NewMP3Track(b[:n]); err != nil {
				t.Fatal(err)
			}
		}
		frames = append(frames, &media.Frame{Track: track, DTS: ts, PTS: ts, Key: true, Payload: b[:n:n]})
		ts += media.MP3FrameDuration(b[:n])
		b = b[n:]
	}
	if track == nil {
		t.Fatal("no MP3 frame")
	}
	return track, frames
}

// opusCollector takes the Opus packets a demuxer hands out.
type opusCollector struct {
	track  *media.Track
	frames []*media.Frame
	mp3    []*media.Frame
}

func (c *opusCollector) Video(media.Codec, time.Duration, time.Duration, []byte) error { return nil }
func (c *opusCollector) AAC(time.Duration, []byte, []byte) error                       { return nil }
func (c *opusCollector) Opus(pts time.Duration, p []byte) error {
	c.frames = append(c.frames, &media.Frame{Track: c.track, DTS: pts, PTS: pts, Key: true, Payload: bytes.Clone(p)})
	return nil
}

// clipOpus reads the Opus audio of a clip (through ffmpeg's MPEG-TS muxer
// and our demuxer), stamped from 0.
func clipOpus(t testing.TB, clip string) (*media.Track, []*media.Frame) {
	t.Helper()
	b := ffmpegCopy(t, clip, "-vn", "-f", "mpegts")
	d, err := mpegts.NewDemuxer(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	track, err := media.NewOpusTrack(2)
	if err != nil {
		t.Fatal(err)
	}
	c := &opusCollector{track: track}
	if err := d.Run(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if len(c.frames) == 0 {
		t.Fatalf("no Opus packet in %s", clip)
	}
	base := c.frames[0].DTS
	for _, f := range c.frames {
		f.DTS -= base
		f.PTS = f.DTS
	}
	return track, c.frames
}

// fakeVideo is 2 s of 25 fps frames of a codec MPEG-TS does not carry.
func fakeVideo(codec media.Codec) (*media.Track, []*media.Frame) {
	tr := &media.Track{Codec: codec, Width: 320, Height: 240}
	var frames []*media.Frame
	for i := range 50 {
		ts := time.Duration(i) * 40 * time.Millisecond
		frames = append(frames, &media.Frame{Track: tr, DTS: ts, PTS: ts, Key: i%25 == 0, Payload: []byte{0x12, 0, 0x32, 1, 0}})
	}
	return tr, frames
}

// interleave merges frame lists in DTS order (stable: video first on ties).
func interleave(lists ...[]*media.Frame) []*media.Frame {
	var out []*media.Frame
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.SortStableFunc(out, func(a, b *media.Frame) int { return int(a.DTS - b.DTS) })
	return out
}

// TestTSMuxerAudioMatchesMediacommon: MP3 (MPEG-1 rates) and Opus come out
// byte for byte as mediacommon's writer writes them, with and without
// video, PCR on the video or on the audio.
func TestTSMuxerAudioMatchesMediacommon(t *testing.T) {
	vt, video := clipVideo(t, "h264_mp3.flv")
	mt, mp3 := clipMP3(t, "h264_mp3.flv")
	ot, opus := clipOpus(t, "av1_opus.mp4")
	if mt.SampleRate != 44100 {
		t.Fatalf("MP3 rate %d, want 44100", mt.SampleRate)
	}
	tests := []struct {
		name   string
		video  bool
		audio  []*media.Frame
		codec  media.Codec
		mcCode codecs.Codec
	}{
		{"h264+mp3", true, mp3, media.CodecMP3, &codecs.MPEG1Audio{}},
		{"mp3", false, mp3, media.CodecMP3, &codecs.MPEG1Audio{}},
		{"h264+opus", true, opus, media.CodecOpus, &codecs.Opus{ChannelCount: 2}}, //nolint:staticcheck // what our muxer writes
		{"opus", false, opus, media.CodecOpus, &codecs.Opus{ChannelCount: 2}},     //nolint:staticcheck
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			frames := tc.audio
			if tc.video {
				frames = interleave(video, tc.audio)
			}
			var want, got bytes.Buffer
			mc := mcmpegts.Writer{W: &want}
			var mv, ma *mcmpegts.Track
			if tc.video {
				mv = &mcmpegts.Track{Codec: &codecs.H264{}}
				mc.Tracks = append(mc.Tracks, mv)
			}
			ma = &mcmpegts.Track{Codec: tc.mcCode}
			mc.Tracks = append(mc.Tracks, ma)
			if err := mc.Initialize(); err != nil {
				t.Fatal(err)
			}
			m := newTSMuxer(&got)
			var nv, na *tsTrack
			var err error
			if tc.video {
				if nv, err = m.addTrack(media.CodecH264, nil); err != nil {
					t.Fatal(err)
				}
			}
			if tc.codec == media.CodecMP3 {
				na = m.addMP3Track(mt.SampleRate)
			} else if na, err = m.addOpusTrack(ot.Channels); err != nil {
				t.Fatal(err)
			}
			started := !tc.video
			for _, f := range frames {
				pts, dts := ticks(f.PTS), ticks(f.DTS)
				if f.Track == vt {
					if !started && !f.Key {
						continue
					}
					started = true
					au, _ := media.AppendAccessUnit([][]byte{media.AccessUnitDelimiter(media.CodecH264)}, f)
					if err := mc.WriteH264(mv, pts, dts, au); err != nil {
						t.Fatal(err)
					}
					if err := m.writeH264(nv, pts, dts, au); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if !started {
					continue
				}
				if tc.codec == media.CodecMP3 {
					err = mc.WriteMPEG1Audio(ma, pts, [][]byte{f.Payload})
					if err == nil {
						err = m.writeMP3(na, pts, [][]byte{f.Payload})
					}
				} else {
					err = mc.WriteOpus(ma, pts, [][]byte{f.Payload})
					if err == nil {
						err = m.writeOpus(na, pts, [][]byte{f.Payload})
					}
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("%d bytes, mediacommon %d: %s", got.Len(), want.Len(), firstDiff(got.Bytes(), want.Bytes()))
			}
			checkTSPackets(t, got.Bytes())
		})
	}
}

// TestSegmenterCodecsFFprobe: each clip's frames through the segmenter;
// ffprobe reads the segments back to back as one transport stream and
// finds the carried tracks whole and the dropped one absent, reported
// once.
func TestSegmenterCodecsFFprobe(t *testing.T) {
	testutil.RequireFFmpeg(t)
	type want struct {
		codec  string
		frames int
	}
	tests := []struct {
		name    string
		frames  func(t *testing.T) ([]*media.Track, []*media.Frame)
		video   *want
		audio   *want
		dropped []media.Codec
	}{
		{"h264+mp3", func(t *testing.T) ([]*media.Track, []*media.Frame) {
			vt, v := clipVideo(t, "h264_mp3.flv")
			at, a := clipMP3(t, "h264_mp3.flv")
			return []*media.Track{vt, at}, interleave(v, a)
		}, &want{"h264", 50}, &want{"mp3", 78}, nil},
		{"av1+opus", func(t *testing.T) ([]*media.Track, []*media.Frame) {
			vt, v := fakeVideo(media.CodecAV1)
			at, a := clipOpus(t, "av1_opus.mp4")
			return []*media.Track{vt, at}, interleave(v, a)
		}, nil, &want{"opus", 101}, []media.Codec{media.CodecAV1}},
		{"vp9+opus", func(t *testing.T) ([]*media.Track, []*media.Frame) {
			vt, v := fakeVideo(media.CodecVP9)
			at, a := clipOpus(t, "vp9_opus.mp4")
			return []*media.Track{vt, at}, interleave(v, a)
		}, nil, &want{"opus", 101}, []media.Codec{media.CodecVP9}},
		{"h264+pcma", func(t *testing.T) ([]*media.Track, []*media.Frame) {
			return clipframes.Read(t, "h264_pcma.flv")
		}, &want{"h264", 50}, nil, []media.Codec{media.CodecG711A}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tracks, frames := tc.frames(t)
			var ts []byte
			var dropped []media.Codec
			seg, err := NewStreamSegmenter(tracks, time.Second, func(s *Segment) { ts = append(ts, s.Data...) },
				func(tr *media.Track) { dropped = append(dropped, tr.Codec) })
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range frames {
				if err := seg.WriteFrame(f, tracks); err != nil {
					t.Fatal(err)
				}
			}
			seg.Flush()
			if !slices.Equal(dropped, tc.dropped) {
				t.Errorf("dropped %v, want %v once each", dropped, tc.dropped)
			}
			checkTSPackets(t, ts)
			path := filepath.Join(t.TempDir(), "out.ts")
			if err := os.WriteFile(path, ts, 0o644); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			p, err := testutil.FFprobe(ctx, t, path)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, w := range []struct {
				kind string
				want *want
				got  *testutil.ProbeStream
			}{{"video", tc.video, p.Video()}, {"audio", tc.audio, p.Audio()}} {
				if w.want == nil {
					if w.got != nil {
						t.Errorf("%s %s present, want it dropped", w.kind, w.got.CodecName)
					}
					continue
				}
				n++
				if w.got == nil {
					t.Fatalf("no %s stream (%+v)", w.kind, p.Streams)
				}
				if w.got.CodecName != w.want.codec || w.got.NbReadFrames != w.want.frames {
					t.Errorf("%s: %s with %d frames, want %s with %d", w.kind, w.got.CodecName, w.got.NbReadFrames, w.want.codec, w.want.frames)
				}
			}
			if len(p.Streams) != n {
				t.Errorf("%d streams, want %d: %+v", len(p.Streams), n, p.Streams)
			}
			if d := p.Format.Duration; d < 1.9 || d > 2.2 {
				t.Errorf("duration %.3f s, want 2 s", d)
			}
		})
	}
}

// unitCollector keeps what the demuxer hands out, as frames of one
// track per codec.
type unitCollector struct {
	units []demuxedUnit
}

type demuxedUnit struct {
	codec media.Codec
	pts   time.Duration
	data  []byte
}

func (c *unitCollector) Video(codec media.Codec, pts, _ time.Duration, annexB []byte) error {
	c.units = append(c.units, demuxedUnit{codec, pts, bytes.Clone(annexB)})
	return nil
}
func (c *unitCollector) AAC(pts time.Duration, _, au []byte) error {
	c.units = append(c.units, demuxedUnit{media.CodecAAC, pts, bytes.Clone(au)})
	return nil
}
func (c *unitCollector) Opus(pts time.Duration, p []byte) error {
	c.units = append(c.units, demuxedUnit{media.CodecOpus, pts, bytes.Clone(p)})
	return nil
}
func (c *unitCollector) MP3(pts time.Duration, f []byte) error {
	c.units = append(c.units, demuxedUnit{media.CodecMP3, pts, bytes.Clone(f)})
	return nil
}

// TestSegmenterAudioRoundTrip: MP3 (MPEG-1 and MPEG-2 rates) and Opus
// muxed by the segmenter come back from our demuxer frame for frame, with
// their payloads and timestamps; the streams are named by their codec.
func TestSegmenterAudioRoundTrip(t *testing.T) {
	vt, video := clipVideo(t, "h264_mp3.flv")
	mt, mp3 := clipMP3(t, "h264_mp3.flv")
	ot, opus := clipOpus(t, "av1_opus.mp4")
	lt, low := mp3Frames(t, ffmpegCopy(t, "h264_mp3.flv", "-vn", "-c:a", "libmp3lame", "-ar", "22050",
		"-f", "mp3", "-write_xing", "0", "-id3v2_version", "0"))
	if lt.SampleRate != 22050 {
		t.Fatalf("MP3 rate %d", lt.SampleRate)
	}
	for _, tc := range []struct {
		name   string
		tracks []*media.Track
		frames []*media.Frame
		codec  media.Codec
	}{
		{"h264+mp3", []*media.Track{vt, mt}, interleave(video, mp3), media.CodecMP3},
		{"h264+mp3 22.05 kHz", []*media.Track{vt, lt}, interleave(video, low), media.CodecMP3},
		{"h264+opus", []*media.Track{vt, ot}, interleave(video, opus), media.CodecOpus},
	} {
		t.Run(tc.name, func(t *testing.T) {
			segs, _ := segmentAll(t, tc.tracks, tc.frames, time.Second)
			var ts []byte
			for _, s := range segs {
				ts = append(ts, s.Data...)
			}
			d, err := mpegts.NewDemuxer(bytes.NewReader(ts))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range d.Streams() {
				names = append(names, s.Codec.String())
			}
			if want := []string{"h264", tc.codec.String()}; !slices.Equal(names, want) {
				t.Fatalf("streams %v, want %v", names, want)
			}
			c := &unitCollector{}
			if err := d.Run(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			var in []*media.Frame
			for _, f := range tc.frames {
				if f.Track.Codec == tc.codec {
					in = append(in, f)
				}
			}
			var out []demuxedUnit
			nv := 0
			for _, u := range c.units {
				if u.codec == tc.codec {
					out = append(out, u)
				} else {
					nv++
				}
			}
			if nv != 50 || len(out) != len(in) {
				t.Fatalf("%d video units, %d %s units, want 50 and %d", nv, len(out), tc.codec, len(in))
			}
			for i, f := range in {
				at := out[i].pts - TimestampOffset
				if !bytes.Equal(out[i].data, f.Payload) || (at-f.PTS).Abs() > time.Millisecond/10 {
					t.Fatalf("%s frame %d: %d bytes at %v, want %d at %v", tc.codec, i, len(out[i].data), at, len(f.Payload), f.PTS)
				}
			}
		})
	}
}

// TestADTSHeaderHEAAC: HE-AAC (SBR, and SBR+PS) configurations give ADTS
// headers of their core: AAC LC at the core sample rate, as ISO 14496-3
// 1.A.2.2.1 asks (ADTS has no object type for SBR); decoders find SBR in
// the stream.
func TestADTSHeaderHEAAC(t *testing.T) {
	for _, tc := range []struct {
		name string
		asc  []byte
		want [3]byte // bytes 0 to 2 of the header
		ch   byte
	}{
		// AOT 5, 24 kHz core, stereo, 48 kHz extension, core AOT 2.
		{"HE-AAC v1", []byte{0x2b, 0x11, 0x88, 0x00}, [3]byte{0xff, 0xf1, 0x40 | 6<<2}, 2},
		// AOT 29 (PS), 24 kHz core, mono, 48 kHz extension, core AOT 2.
		{"HE-AAC v2", []byte{0xeb, 0x09, 0x88, 0x00}, [3]byte{0xff, 0xf1, 0x40 | 6<<2}, 1},
		{"LC 44.1 kHz stereo", []byte{0x12, 0x10}, [3]byte{0xff, 0xf1, 0x40 | 4<<2}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := media.NewAACTrack(tc.asc)
			if err != nil {
				t.Fatal(err)
			}
			s, err := NewSegmenter([]*media.Track{tr}, time.Second, func(*Segment) {})
			if err != nil {
				t.Fatal(err)
			}
			h := s.audio.ts.adts
			if s.audio.ts.adtsErr != nil {
				t.Fatal(s.audio.ts.adtsErr)
			}
			if [3]byte(h[:3]) != tc.want || (h[2]&1)<<2|h[3]>>6 != tc.ch {
				t.Errorf("ADTS header % x, want % x with %d channels", h, tc.want, tc.ch)
			}
		})
	}
}
