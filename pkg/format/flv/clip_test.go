package flv

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
)

var clipTests = []struct {
	clip          string
	video, audio  int // frames
	keyframes     int
	bframes       bool // some video PTS != DTS
	firstVideoDTS int  // ms
	firstAudioDTS int  // ms
}{
	{clip: "h264_aac.flv", video: 150, audio: 260, keyframes: 6, firstVideoDTS: 23, firstAudioDTS: 0},
	{clip: "h264_bframes_aac.flv", video: 150, audio: 260, keyframes: 6, bframes: true, firstVideoDTS: 0, firstAudioDTS: 57},
	{clip: "h264_only.flv", video: 100, keyframes: 4},
	{clip: "aac_only.flv", audio: 174},
}

func TestIngestClips(t *testing.T) {
	for _, tt := range clipTests {
		t.Run(tt.clip, func(t *testing.T) {
			sink, in := ingestFile(t, testutil.Clip(t, tt.clip))
			if in.Dropped != 0 {
				t.Errorf("Dropped = %d, want 0", in.Dropped)
			}
			if len(sink.metadata) != 1 {
				t.Errorf("SetMetadata called %d times, want 1", len(sink.metadata))
			}
			// Tracks declared once, before the first frame.
			if len(sink.declared) != 1 {
				t.Fatalf("SetTracks called %d times, want 1", len(sink.declared))
			}
			for i, c := range sink.calls {
				if c == "frame" {
					t.Fatalf("frame before SetTracks (call %d: %v)", i, sink.calls[:i+1])
				}
				if c == "tracks" {
					break
				}
			}
			var video, audio *media.Track
			for _, tr := range sink.declared[0] {
				switch tr.Kind() {
				case media.KindVideo:
					video = tr
				case media.KindAudio:
					audio = tr
				}
			}
			if (video != nil) != (tt.video > 0) || (audio != nil) != (tt.audio > 0) {
				t.Fatalf("declared %v", sink.declared[0])
			}
			if video != nil {
				if video.Codec != media.CodecH264 || video.Width != 320 || video.Height != 240 || video.FPS != 25 {
					t.Errorf("video track = %v @%v fps, want h264 320x240 @25", video, video.FPS)
				}
			}
			if audio != nil {
				if audio.Codec != media.CodecAAC || audio.SampleRate != 44100 || audio.Channels != 2 {
					t.Errorf("audio track = %v, want aac 44100Hz 2ch", audio)
				}
			}

			vf, af := sink.framesOf(media.KindVideo), sink.framesOf(media.KindAudio)
			if len(vf) != tt.video || len(af) != tt.audio {
				t.Errorf("frames: %d video, %d audio; want %d, %d", len(vf), len(af), tt.video, tt.audio)
			}
			keys, ptsNeDTS := 0, 0
			for i, f := range vf {
				if f.Key {
					keys++
				}
				if want := i%25 == 0; f.Key != want {
					t.Errorf("video frame %d: Key = %v, want %v", i, f.Key, want)
				}
				if f.PTS < f.DTS {
					t.Errorf("video frame %d: PTS %v < DTS %v", i, f.PTS, f.DTS)
				}
				if f.PTS != f.DTS {
					ptsNeDTS++
				}
				if i > 0 && f.DTS <= vf[i-1].DTS {
					t.Errorf("video frame %d: DTS %v after %v", i, f.DTS, vf[i-1].DTS)
				}
				// The payload is whole AVCC with a slice in it.
				n, size := 0, 0
				f.NALUs(func(nalu []byte) bool {
					n++
					size += 4 + len(nalu)
					return true
				})
				if n == 0 || size != len(f.Payload) {
					t.Errorf("video frame %d: %d NAL units covering %d of %d bytes", i, n, size, len(f.Payload))
				}
			}
			if keys != tt.keyframes {
				t.Errorf("keyframes = %d, want %d", keys, tt.keyframes)
			}
			if len(vf) > 0 && !vf[0].Key {
				t.Error("first video frame is not a keyframe")
			}
			if tt.bframes && ptsNeDTS == 0 {
				t.Error("no video frame with PTS != DTS")
			}
			if !tt.bframes && ptsNeDTS != 0 {
				t.Errorf("%d video frames with PTS != DTS, want 0", ptsNeDTS)
			}
			if len(vf) > 0 && vf[0].DTS != ms(tt.firstVideoDTS) {
				t.Errorf("first video DTS = %v, want %v", vf[0].DTS, ms(tt.firstVideoDTS))
			}
			for i, f := range af {
				if !f.Key || f.PTS != f.DTS {
					t.Errorf("audio frame %d: Key %v, PTS %v DTS %v", i, f.Key, f.PTS, f.DTS)
				}
				if i > 0 && f.DTS <= af[i-1].DTS {
					t.Errorf("audio frame %d: DTS %v after %v", i, f.DTS, af[i-1].DTS)
				}
			}
			if len(af) > 0 && af[0].DTS != ms(tt.firstAudioDTS) {
				t.Errorf("first audio DTS = %v, want %v", af[0].DTS, ms(tt.firstAudioDTS))
			}
		})
	}
}

// writeFLV writes tracks and frames as an FLV file the way an HTTP-FLV
// reader starts a stream: header, onMetaData, sequence headers, frames.
func writeFLV(t testing.TB, path string, tracks []*media.Track, md media.Metadata, frames []*media.Frame) {
	t.Helper()
	var hasAudio, hasVideo bool
	for _, tr := range tracks {
		hasAudio = hasAudio || tr.Kind() == media.KindAudio
		hasVideo = hasVideo || tr.Kind() == media.KindVideo
	}
	b := AppendHeader(nil, hasAudio, hasVideo)
	mdBody := MetadataBody(tracks, md)
	if mdBody == nil {
		t.Fatal("MetadataBody returned nil")
	}
	b = AppendTag(b, TagScript, 0, mdBody)
	for _, tr := range tracks {
		b = AppendSequenceHeaderTag(b, tr, 0)
	}
	for _, f := range frames {
		b = append(b, FrameTag(f)...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestIngestWriteBackFFprobe ingests a clip, writes what came out back as
// FLV, and lets ffprobe compare it with the original.
func TestIngestWriteBackFFprobe(t *testing.T) {
	testutil.RequireFFmpeg(t)
	for _, tt := range clipTests {
		t.Run(tt.clip, func(t *testing.T) {
			t.Parallel()
			orig := testutil.Clip(t, tt.clip)
			sink, _ := ingestFile(t, orig)
			out := filepath.Join(t.TempDir(), "out.flv")
			writeFLV(t, out, sink.declared[0], sink.metadata[0], sink.frames)

			ctx := context.Background()
			probe, err := testutil.FFprobe(ctx, t, out)
			if err != nil {
				t.Fatal(err)
			}
			if probe.Format.FormatName != "flv" {
				t.Errorf("format %q", probe.Format.FormatName)
			}
			if v := probe.Video(); tt.video > 0 {
				if v == nil {
					t.Fatal("no video stream")
				}
				if v.CodecName != "h264" || v.Width != 320 || v.Height != 240 || v.NbReadFrames != tt.video {
					t.Errorf("video: %s %dx%d, %d frames; want h264 320x240, %d", v.CodecName, v.Width, v.Height, v.NbReadFrames, tt.video)
				}
			} else if v != nil {
				t.Errorf("unexpected video stream %+v", v)
			}
			if a := probe.Audio(); tt.audio > 0 {
				if a == nil {
					t.Fatal("no audio stream")
				}
				if a.CodecName != "aac" || a.SampleRate != 44100 || a.Channels != 2 || a.NbReadFrames != tt.audio {
					t.Errorf("audio: %s %d Hz %d ch, %d frames; want aac 44100 Hz 2 ch, %d", a.CodecName, a.SampleRate, a.Channels, a.NbReadFrames, tt.audio)
				}
			} else if a != nil {
				t.Errorf("unexpected audio stream %+v", a)
			}

			want, err := testutil.FramePackets(ctx, t, orig)
			if err != nil {
				t.Fatal(err)
			}
			got, err := testutil.FramePackets(ctx, t, out)
			if err != nil {
				t.Fatal(err)
			}
			for _, kind := range []string{"video", "audio"} {
				w, g := packetsOf(want, kind), packetsOf(got, kind)
				if len(g) != len(w) {
					t.Errorf("%s: %d packets, original has %d", kind, len(g), len(w))
					continue
				}
				for i := range w {
					if g[i].DTS != w[i].DTS || g[i].PTS != w[i].PTS || g[i].Keyframe() != w[i].Keyframe() {
						t.Errorf("%s packet %d: DTS %d PTS %d key %v; original DTS %d PTS %d key %v",
							kind, i, g[i].DTS, g[i].PTS, g[i].Keyframe(), w[i].DTS, w[i].PTS, w[i].Keyframe())
						break
					}
				}
			}
		})
	}
}

func packetsOf(pkts []testutil.Packet, codecType string) []testutil.Packet {
	var out []testutil.Packet
	for _, p := range pkts {
		if p.CodecType == codecType {
			out = append(out, p)
		}
	}
	return out
}

// TestHEVCRoundTrip writes the H.265 clip as Enhanced RTMP FLV and reads it
// back through Reader and Ingest (ffmpeg 5.1 cannot judge H.265 in FLV).
func TestHEVCRoundTrip(t *testing.T) {
	aus := testutil.ClipAccessUnits(t, "h265.hevc", true)
	if len(aus) != 100 {
		t.Fatalf("%d access units in h265.hevc, want 100", len(aus))
	}
	track := hevcTrack(t)
	var frames []*media.Frame
	for i, au := range aus {
		key := false
		var vcl [][]byte
		for _, n := range au {
			typ := h265.NALUType((n[0] >> 1) & 0x3f)
			key = key || (typ >= h265.NALUType_BLA_W_LP && typ <= h265.NALUType_CRA_NUT)
			if typ < 32 || typ == h265.NALUType_PREFIX_SEI_NUT {
				vcl = append(vcl, n)
			}
		}
		dts := ms(40 * i)
		frames = append(frames, &media.Frame{Track: track, DTS: dts, PTS: dts + ms(40), Key: key, Payload: media.AppendAVCC(nil, vcl...)})
	}
	path := filepath.Join(t.TempDir(), "hevc.flv")
	writeFLV(t, path, []*media.Track{track}, nil, frames)

	sink, in := ingestFile(t, path)
	if in.Dropped != 0 || len(sink.declared) != 1 || len(sink.declared[0]) != 1 {
		t.Fatalf("Dropped %d, declared %v", in.Dropped, sink.declared)
	}
	got := sink.declared[0][0]
	if got.Codec != media.CodecH265 || !got.SameConfig(track) || got.Width != 320 || got.Height != 240 || got.FPS != 25 {
		t.Errorf("track %v @%v fps, want %v", got, got.FPS, track)
	}
	if len(sink.frames) != len(frames) {
		t.Fatalf("%d frames, want %d", len(sink.frames), len(frames))
	}
	keys := 0
	for i, f := range sink.frames {
		w := frames[i]
		if f.DTS != w.DTS || f.PTS != w.PTS || f.Key != w.Key || !bytes.Equal(f.Payload, w.Payload) || f.Track != got {
			t.Fatalf("frame %d: DTS %v PTS %v key %v %d bytes; want %v %v %v %d bytes", i, f.DTS, f.PTS, f.Key, len(f.Payload), w.DTS, w.PTS, w.Key, len(w.Payload))
		}
		if f.Key {
			keys++
		}
	}
	if keys != 4 || !sink.frames[0].Key {
		t.Errorf("%d keyframes (first %v), want 4 starting with the first frame", keys, sink.frames[0].Key)
	}
	md := sink.metadata[0]
	if id, _ := md.Number("videocodecid"); id != fourCCNumber(fourCCHEVC) {
		t.Errorf("videocodecid %v", id)
	}
}
