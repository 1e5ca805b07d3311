package mp4_test

import (
	"context"
	"math"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/format/mp4"
	"github.com/mediakit/mediakit/pkg/media"
)

// g711Case is a recording with a G.711 track.
type g711Case struct {
	name  string
	codec media.Codec
	video bool   // with the 4 s of h264_only.flv
	entry string // sample entry
	probe string // ffprobe codec_name
}

var g711Cases = []g711Case{
	{name: "h264+alaw", codec: media.CodecG711A, video: true, entry: "alaw", probe: "pcm_alaw"},
	{name: "h264+ulaw", codec: media.CodecG711U, video: true, entry: "ulaw", probe: "pcm_mulaw"},
	{name: "alaw only", codec: media.CodecG711A, entry: "alaw", probe: "pcm_alaw"},
}

// g711Samples is 4 s of G.711 in 20 ms frames, as RTP and MPEG-PS carry it.
const (
	g711Frames   = 200
	g711FrameLen = 160
)

// g711Stream returns the tracks and frames of c in DTS order: 200 frames
// of 160 samples (8000 Hz mono), with the clip's 100 video frames.
func g711Stream(t testing.TB, c g711Case) ([]*media.Track, []*media.Frame) {
	t.Helper()
	audio, err := media.NewG711Track(c.codec, 8000, 1)
	if err != nil {
		t.Fatal(err)
	}
	var tracks []*media.Track
	var frames []*media.Frame
	if c.video {
		tracks, frames = flvFrames(t, "h264_only.flv")
	}
	tracks = append(tracks, audio)
	for i := range g711Frames {
		payload := make([]byte, g711FrameLen)
		for j := range payload {
			payload[j] = byte(0x55 ^ (i + j)) // any byte is a valid G.711 sample
		}
		ts := time.Duration(i) * 20 * time.Millisecond
		frames = append(frames, &media.Frame{Track: audio, DTS: ts, PTS: ts, Key: true, Payload: payload})
	}
	slices.SortStableFunc(frames, func(a, b *media.Frame) int { return int(a.DTS - b.DTS) })
	return tracks, frames
}

// soundEntry returns the payload of the sound track's sample entry in a
// moov and its type.
func soundEntry(t testing.TB, moov *node) (string, []byte) {
	t.Helper()
	for _, trak := range moov.all("trak") {
		if _, p := fullPayload(trak.one(t, "mdia", "hdlr")); string(p[4:8]) == "soun" {
			e := trak.one(t, "mdia", "minf", "stbl", "stsd").children
			if len(e) != 1 {
				t.Fatalf("stsd with %d entries", len(e))
			}
			return e[0].typ, e[0].payload
		}
	}
	t.Fatal("no sound trak")
	return "", nil
}

// checkG711Entry checks an alaw/ulaw AudioSampleEntry: 8000 Hz mono,
// samplesize 16, and nothing after its fields (no decoder configuration).
func checkG711Entry(t testing.TB, moov *node, want string) {
	t.Helper()
	typ, p := soundEntry(t, moov)
	if typ != want {
		t.Fatalf("sample entry %q, want %q", typ, want)
	}
	if len(p) != 28 {
		t.Errorf("sample entry of %d bytes after its header, want 28 (no child box)", len(p))
	}
	if dri, ch, size, rate := u16(p[6:]), u16(p[16:]), u16(p[18:]), u32(p[24:]); dri != 1 || ch != 1 || size != 16 || rate != 8000<<16 {
		t.Errorf("data_reference_index %d channelcount %d samplesize %d samplerate %#x", dri, ch, size, rate)
	}
}

func u16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }

// TestG711Structure checks, without ffmpeg, the G.711 sample entry of
// the fragmented moov and of the final one, and the final sample table.
func TestG711Structure(t *testing.T) {
	for _, c := range g711Cases {
		t.Run(c.name, func(t *testing.T) {
			tracks, frames := g711Stream(t, c)

			// While writing (a killed writer leaves this): the first moov.
			path, w := record(t, tracks, frames, mp4.Options{}, false)
			w.Abort()
			boxes := topBoxes(t, path)
			if boxes[1].typ != "moov" {
				t.Fatalf("layout %q", layout(t, path))
			}
			checkG711Entry(t, parseTree(t, readBox(t, path, boxes[1])), c.entry)

			path, w = record(t, tracks, frames, mp4.Options{}, true)
			info := checkFinal(t, path, tracks, frames)
			boxes = topBoxes(t, path)
			checkG711Entry(t, parseTree(t, readBox(t, path, boxes[len(boxes)-1])), c.entry)
			a := info["soun"]
			if a.entry != c.entry || a.scale != 8000 || a.hasCtts || a.hasStss || len(a.samples) != g711Frames {
				t.Errorf("sound trak %+v", a)
			}
			// Every sample lasts its 160 PCM samples: 4 s in all.
			if a.mdhdDur != g711Frames*g711FrameLen {
				t.Errorf("mdhd duration %d, want %d", a.mdhdDur, g711Frames*g711FrameLen)
			}
			if w.Duration() != 4*time.Second {
				t.Errorf("Duration() = %v, want 4s", w.Duration())
			}
		})
	}
}

// TestG711LastSample: a track's last sample, whose duration no next frame
// tells, lasts as long as its PCM samples.
func TestG711LastSample(t *testing.T) {
	audio, err := media.NewG711Track(media.CodecG711U, 8000, 1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		sizes []int
		want  uint64 // mdhd duration
	}{
		{name: "one sample", sizes: []int{320}, want: 320},
		{name: "shorter last", sizes: []int{160, 160, 80}, want: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var frames []*media.Frame
			var ts time.Duration
			for _, n := range tt.sizes {
				frames = append(frames, &media.Frame{Track: audio, DTS: ts, PTS: ts, Key: true, Payload: make([]byte, n)})
				ts += time.Duration(n) * time.Second / 8000
			}
			path, _ := record(t, []*media.Track{audio}, frames, mp4.Options{}, true)
			boxes := topBoxes(t, path)
			moov := parseTree(t, readBox(t, path, boxes[len(boxes)-1]))
			if a := readTrak(t, moov.one(t, "trak")); a.mdhdDur != tt.want {
				t.Errorf("mdhd duration %d, want %d", a.mdhdDur, tt.want)
			}
		})
	}
}

// TestG711FFprobe: ffprobe reads the G.711 track of finalised and of
// killed (fragmented) recordings with the right codec, rate, channels,
// sample count and timestamps, and ffmpeg decodes the files without a
// complaint.
func TestG711FFprobe(t *testing.T) {
	testutil.RequireFFmpeg(t)
	for _, c := range g711Cases {
		for _, finish := range []bool{true, false} {
			name := c.name + " finalised"
			if !finish {
				name = c.name + " killed"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				tracks, frames := g711Stream(t, c)
				path, _ := record(t, tracks, frames, mp4.Options{}, finish)
				wantAudio, wantVideo := g711Frames, 0
				if c.video {
					wantVideo = 100
				}
				if !finish {
					// What the fragments written so far hold.
					wantAudio, wantVideo = 0, 0
					for _, fr := range fragments(t, path, topBoxes(t, path)) {
						if c.video {
							wantVideo += fr.samples[1]
							wantAudio += fr.samples[2]
						} else {
							wantAudio += fr.samples[1]
						}
					}
					if wantAudio == 0 || wantAudio >= g711Frames {
						t.Fatalf("fragments hold %d audio samples", wantAudio)
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				p, err := testutil.FFprobe(ctx, t, path)
				if err != nil {
					t.Fatal(err)
				}
				a, v := p.Audio(), p.Video()
				if a == nil || a.CodecName != c.probe || a.SampleRate != 8000 || a.Channels != 1 || a.NbReadFrames != wantAudio {
					t.Fatalf("audio stream %+v, want %s 8000 Hz mono, %d frames", a, c.probe, wantAudio)
				}
				if (v != nil) != c.video || v != nil && v.NbReadFrames != wantVideo {
					t.Errorf("video stream %+v, want %d frames", v, wantVideo)
				}
				if want := float64(wantAudio) * 0.02; math.Abs(a.Duration-want) > 0.001 {
					t.Errorf("audio duration %.3f s, want %.3f s", a.Duration, want)
				}
				if finish && math.Abs(p.Format.Duration-4) > 0.05 {
					t.Errorf("duration %.3f s, want 4 s", p.Format.Duration)
				}
				pkts, err := testutil.FramePackets(ctx, t, path)
				if err != nil {
					t.Fatal(err)
				}
				for i, pkt := range ofType(pkts, "audio") {
					if pkt.DTS != int64(20*i) || pkt.PTS != pkt.DTS || pkt.Size != g711FrameLen {
						t.Fatalf("audio packet %d: dts %d pts %d size %d, want dts %d and %d bytes", i, pkt.DTS, pkt.PTS, pkt.Size, 20*i, g711FrameLen)
					}
				}

				// `ffmpeg -v error -i f.mp4 -f null -` prints nothing.
				out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
				if err != nil || len(out) != 0 {
					t.Errorf("ffmpeg decode: %v\n%s", err, out)
				}
			})
		}
	}
}
