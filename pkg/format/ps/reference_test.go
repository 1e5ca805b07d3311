package ps

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
)

// ffmpegPS makes a program stream of a repo clip with ffmpeg: the video
// copied as Annex-B, the audio as MP2 (ffmpeg's PS muxers take no AAC).
// format "mpeg" writes MPEG-1 packs and PES headers, "vob" MPEG-2 ones with
// DVD navigation packets (private stream 2) and padding. Neither writes a
// PSM, so the demuxer has to guess the codecs.
func ffmpegPS(t *testing.T, clip, format, bsf string, audio bool) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out."+format)
	args := []string{"-i", testutil.Clip(t, clip), "-map", "0:v", "-c:v", "copy", "-bsf:v", bsf}
	if audio {
		args = append(args, "-map", "0:a", "-c:a", "mp2", "-b:a", "64k")
	}
	args = append(args, "-f", format, out)
	if err := testutil.StartFFmpeg(t, args...).Wait(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	return out
}

// ffmpegRaw extracts the video of a clip as an Annex-B elementary stream.
func ffmpegRaw(t *testing.T, clip, bsf, format string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "raw."+format)
	if err := testutil.StartFFmpeg(t, "-i", testutil.Clip(t, clip), "-map", "0:v", "-c:v", "copy", "-bsf:v", bsf, "-f", format, out).Wait(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFFmpegReference demuxes ffmpeg-made program streams of the repo clips
// and checks the video frames against ffprobe (count, keyframes, PTS) and
// against the clip's elementary stream (every byte, and every access unit
// where the repo has the raw stream).
func TestFFmpegReference(t *testing.T) {
	testutil.RequireFFmpeg(t)
	cases := []struct {
		clip, format string
		hevc, audio  bool
		raw          string // clip with the same video as raw Annex-B, if any
		frames       int
		typ          StreamType
	}{
		{"h264_aac.flv", "mpeg", false, true, "h264.h264", 150, StreamH264},
		{"h264_aac.flv", "vob", false, true, "h264.h264", 150, StreamH264},
		{"h264_bframes_aac.flv", "vob", false, true, "", 150, StreamH264},
		{"h264_only.flv", "mpeg", false, false, "", 100, StreamH264},
		{"h265_aac.mp4", "vob", true, true, "h265.hevc", 100, StreamH265},
	}
	for _, tc := range cases {
		t.Run(tc.clip+"/"+tc.format, func(t *testing.T) {
			t.Parallel()
			bsf, rawFormat := "h264_mp4toannexb", "h264"
			if tc.hevc {
				bsf, rawFormat = "hevc_mp4toannexb", "hevc"
			}
			path := ffmpegPS(t, tc.clip, tc.format, bsf, tc.audio)
			ps, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			d := NewDemuxer()
			frames := byStream(demuxPieces(t, d, ps, 1400))
			st := d.Stats()
			t.Logf("%d bytes: %+v", len(ps), st)
			if st.Garbage != 0 || st.Dropped != 0 || st.Resyncs != 0 {
				t.Errorf("clean input, but %+v", st)
			}
			var video, audio []Frame
			for id, f := range frames {
				switch {
				case IsVideoID(id):
					video = append(video, f...)
				case IsAudioID(id):
					audio = append(audio, f...)
				}
			}
			if len(video) != tc.frames {
				t.Fatalf("%d video frames, want %d", len(video), tc.frames)
			}
			if tc.audio && (len(audio) == 0 || audio[0].Type != StreamMPEG1Audio) {
				t.Errorf("audio: %d frames, want MP2", len(audio))
			}

			pkts, err := testutil.FramePackets(t.Context(), t, path, "-select_streams", "v")
			if err != nil {
				t.Fatal(err)
			}
			if len(pkts) != len(video) {
				t.Fatalf("%d video frames, ffprobe has %d", len(video), len(pkts))
			}
			withPTS := 0
			var all []byte
			for i, f := range video {
				all = append(all, f.Data...)
				if f.Type != tc.typ {
					t.Fatalf("frame %d: type %v, want %v", i, f.Type, tc.typ)
				}
				if f.Key != pkts[i].Keyframe() {
					t.Errorf("frame %d: key %v, ffprobe says %v", i, f.Key, pkts[i].Keyframe())
				}
				if f.PTS < 0 {
					continue
				}
				withPTS++
				if ms := float64(f.PTS) / 90; math.Abs(ms-pkts[i].PTSTime*1000) > 1 {
					t.Errorf("frame %d: PTS %.1f ms, ffprobe says %.1f", i, ms, pkts[i].PTSTime*1000)
				}
				if ms := float64(f.DTS) / 90; !math.IsNaN(pkts[i].DTSTime) && math.Abs(ms-pkts[i].DTSTime*1000) > 1 {
					t.Errorf("frame %d: DTS %.1f ms, ffprobe says %.1f", i, ms, pkts[i].DTSTime*1000)
				}
			}
			// ffmpeg cuts 2 KiB packets regardless of frames; a frame that
			// starts in the same packet as the one before has no PTS.
			t.Logf("%d of %d video frames have a PTS", withPTS, len(video))
			if withPTS < len(video)/2 {
				t.Errorf("only %d of %d video frames have a PTS", withPTS, len(video))
			}
			if raw := ffmpegRaw(t, tc.clip, bsf, rawFormat); !bytes.Equal(all, raw) {
				t.Errorf("video frames hold %d bytes, the elementary stream %d", len(all), len(raw))
			}
			if tc.raw == "" {
				return
			}
			aus := testutil.ClipAccessUnits(t, tc.raw, tc.hevc)
			if len(aus) != len(video) {
				t.Fatalf("%d frames, %s has %d access units", len(video), tc.raw, len(aus))
			}
			for i, f := range video {
				nalus := testutil.SplitAnnexB(t, f.Data)
				if len(nalus) != len(aus[i]) {
					t.Fatalf("frame %d: %d NAL units, want %d", i, len(nalus), len(aus[i]))
				}
				for j := range nalus {
					if !bytes.Equal(nalus[j], aus[i][j]) {
						t.Fatalf("frame %d NAL unit %d differs", i, j)
					}
				}
			}
		})
	}
}

// splitADTS splits an ADTS stream into its frames.
func splitADTS(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 7 || !isADTS(b) {
			t.Fatalf("no ADTS frame at %x", head(b))
		}
		n := int(b[3]&3)<<11 | int(b[4])<<3 | int(b[5])>>5
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// TestMuxerFFprobe muxes the repo clips' real H.264/H.265 and AAC with our
// Muxer and has ffprobe read the result: every frame counted and decoded,
// keyframes where they were, timestamps as written.
func TestMuxerFFprobe(t *testing.T) {
	testutil.RequireFFmpeg(t)
	for _, tc := range []struct {
		clip, raw string
		hevc      bool
		typ       StreamType
		frames    int
		audio     int
	}{
		{"h264_aac.flv", "h264.h264", false, StreamH264, 150, 260},
		{"h265_aac.mp4", "h265.hevc", true, StreamH265, 100, 174},
	} {
		t.Run(tc.clip, func(t *testing.T) {
			t.Parallel()
			aacPath := filepath.Join(t.TempDir(), "a.aac")
			if err := testutil.StartFFmpeg(t, "-i", testutil.Clip(t, tc.clip), "-map", "0:a", "-c", "copy", "-f", "adts", aacPath).Wait(time.Minute); err != nil {
				t.Fatal(err)
			}
			aacRaw, err := os.ReadFile(aacPath)
			if err != nil {
				t.Fatal(err)
			}
			audio := splitADTS(t, aacRaw)
			var frames []Frame
			a := 0
			for i, au := range testutil.ClipAccessUnits(t, tc.raw, tc.hevc) {
				var data []byte
				for _, n := range au {
					data = append(append(data, 0, 0, 0, 1), n...)
				}
				pts := int64(90000 + i*3600)
				frames = append(frames, Frame{StreamID: 0xE0, Type: tc.typ, PTS: pts, DTS: pts, Key: i%25 == 0, Data: data})
				for ; a < len(audio) && int64(a)*1024*90000/44100 <= int64(i)*3600; a++ {
					pts := int64(90000 + a*1024*90000/44100)
					frames = append(frames, Frame{StreamID: 0xC0, Type: StreamAAC, PTS: pts, DTS: pts, Key: true, Data: audio[a]})
				}
			}
			for ; a < len(audio); a++ {
				pts := int64(90000 + a*1024*90000/44100)
				frames = append(frames, Frame{StreamID: 0xC0, Type: StreamAAC, PTS: pts, DTS: pts, Key: true, Data: audio[a]})
			}
			m := NewMuxer([]Stream{{0xE0, tc.typ}, {0xC0, StreamAAC}})
			ps := muxAll(m, frames)
			path := filepath.Join(t.TempDir(), "out.ps")
			if err := os.WriteFile(path, ps, 0o644); err != nil {
				t.Fatal(err)
			}
			// Our demuxer gives back what went in.
			if diff := diffFrames(demuxPieces(t, NewDemuxer(), ps, 1400), frames); diff != "" {
				t.Fatal(diff)
			}
			probe, err := testutil.FFprobe(t.Context(), t, path)
			if err != nil {
				t.Fatal(err)
			}
			v, au := probe.Video(), probe.Audio()
			if v == nil || au == nil {
				t.Fatalf("ffprobe found %+v", probe.Streams)
			}
			if v.NbReadFrames != tc.frames || au.NbReadFrames != tc.audio || au.CodecName != "aac" {
				t.Errorf("ffprobe: video %s %d frames, audio %s %d frames; want %d and %d", v.CodecName, v.NbReadFrames, au.CodecName, au.NbReadFrames, tc.frames, tc.audio)
			}
			pkts, err := testutil.FramePackets(t.Context(), t, path, "-select_streams", "v")
			if err != nil {
				t.Fatal(err)
			}
			if len(pkts) != tc.frames {
				t.Fatalf("ffprobe: %d video packets, want %d", len(pkts), tc.frames)
			}
			for i, p := range pkts {
				if p.Keyframe() != (i%25 == 0) || math.Abs(p.PTSTime-float64(90000+i*3600)/90000) > 0.001 {
					t.Errorf("packet %d: key %v at %.3f s", i, p.Keyframe(), p.PTSTime)
				}
			}
		})
	}
}
