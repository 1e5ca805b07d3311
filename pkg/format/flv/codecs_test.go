package flv_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

// streamFLV writes tracks and frames as a live FLV output does: the
// start (header, onMetaData, sequence headers), then each frame's shared
// tag.
func streamFLV(tracks []*media.Track, frames []*media.Frame) []byte {
	b, _, _ := flv.AppendStart(nil, tracks, nil, frames[0].DTS)
	for _, f := range frames {
		b = append(b, flv.FrameTag(f)...)
	}
	return b
}

// readFLV reads FLV bytes back through flv.Reader and an Ingest.
func readFLV(t *testing.T, data []byte) ([]*media.Track, []*media.Frame, *flv.Ingest) {
	t.Helper()
	sink := &clipframes.FrameCollector{}
	in := flv.NewIngest(sink)
	if err := flv.IngestAll(bytes.NewReader(data), in); err != nil {
		t.Fatal(err)
	}
	return sink.Tracks, sink.Frames, in
}

func countKinds(frames []*media.Frame) (video, audio int) {
	for _, f := range frames {
		if f.Track.Kind() == media.KindVideo {
			video++
		} else {
			audio++
		}
	}
	return video, audio
}

// TestEnhancedFLVRoundTrip writes AV1, VP9 and Opus clips as Enhanced FLV
// and reads them back: same codecs, sizes, frames, keyframes and times.
// (ffprobe 5.1 cannot read Enhanced FLV, so mediakit's reader judges.)
func TestEnhancedFLVRoundTrip(t *testing.T) {
	for _, clip := range []string{"av1_opus.mp4", "vp9_opus.mp4"} {
		t.Run(clip, func(t *testing.T) {
			tracks, frames := clipframes.ReadMP4(t, clip)
			data := streamFLV(tracks, frames)
			got, gotFrames, in := readFLV(t, data)
			if len(got) != 2 {
				t.Fatalf("tracks %v, want 2", got)
			}
			for i, tr := range got {
				want := tracks[i]
				if tr.Codec != want.Codec || tr.Width != want.Width || tr.Height != want.Height || tr.Channels != want.Channels {
					t.Errorf("track %v, want %v", tr, want)
				}
			}
			if in.Dropped != 0 || in.LeftOut != 0 {
				t.Errorf("dropped %d, left out %d", in.Dropped, in.LeftOut)
			}
			v, a := countKinds(gotFrames)
			if v != 50 || a != 101 {
				t.Errorf("%d video, %d audio frames; want 50, 101", v, a)
			}
			if len(gotFrames) != len(frames) {
				t.Fatalf("%d frames, want %d", len(gotFrames), len(frames))
			}
			// The ingest holds frames until both tracks are known, then
			// keeps their order.
			for i, f := range gotFrames {
				w := frames[i]
				if f.Track.Codec != w.Track.Codec || f.Key != w.Key || f.DTS != w.DTS.Truncate(1e6) || !bytes.Equal(f.Payload, w.Payload) {
					t.Fatalf("frame %d: %v key=%v dts=%v %d bytes; want %v key=%v dts=%v %d bytes",
						i, f.Track.Codec, f.Key, f.DTS, len(f.Payload), w.Track.Codec, w.Key, w.DTS, len(w.Payload))
				}
			}
		})
	}
}

// TestLegacyCodecsFFprobe reads the MP3 and G.711 clips, writes them back
// as live FLV, and lets ffprobe judge: codec, frames, duration, times.
func TestLegacyCodecsFFprobe(t *testing.T) {
	testutil.RequireFFmpeg(t)
	tests := []struct {
		clip        string
		codec       media.Codec
		probeName   string
		rate, ch    int
		audioFrames int // 0: not checked (G.711 frames depend on the muxer)
	}{
		{"h264_mp3.flv", media.CodecMP3, "mp3", 44100, 2, 78},
		{"h264_pcma.flv", media.CodecG711A, "pcm_alaw", 8000, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.clip, func(t *testing.T) {
			t.Parallel()
			tracks, frames := clipframes.Read(t, tt.clip)
			if len(tracks) != 2 || tracks[1].Codec != tt.codec || tracks[1].SampleRate != tt.rate || tracks[1].Channels != tt.ch {
				t.Fatalf("tracks %v", tracks)
			}
			v, a := countKinds(frames)
			if v != 50 || (tt.audioFrames > 0 && a != tt.audioFrames) {
				t.Errorf("%d video, %d audio frames", v, a)
			}
			out := filepath.Join(t.TempDir(), "out.flv")
			if err := os.WriteFile(out, streamFLV(tracks, frames), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			probe, err := testutil.FFprobe(ctx, t, out)
			if err != nil {
				t.Fatal(err)
			}
			vs, as := probe.Video(), probe.Audio()
			if vs == nil || as == nil {
				t.Fatalf("streams: video %v audio %v", vs, as)
			}
			if vs.CodecName != "h264" || vs.NbReadFrames != 50 {
				t.Errorf("video %s %d frames", vs.CodecName, vs.NbReadFrames)
			}
			if as.CodecName != tt.probeName || as.SampleRate != tt.rate || as.Channels != tt.ch || (tt.audioFrames > 0 && as.NbReadFrames != tt.audioFrames) {
				t.Errorf("audio %s %d Hz %d ch %d frames", as.CodecName, as.SampleRate, as.Channels, as.NbReadFrames)
			}
			if probe.Format.Duration < 1.9 || probe.Format.Duration > 2.2 {
				t.Errorf("duration %.3f s", probe.Format.Duration)
			}
			want, err := testutil.FramePackets(ctx, t, testutil.Clip(t, tt.clip))
			if err != nil {
				t.Fatal(err)
			}
			got, err := testutil.FramePackets(ctx, t, out)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d packets, original has %d", len(got), len(want))
			}
		})
	}
}
