package source

import (
	"context"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
)

// TestMP4Codecs reads the AV1, VP9, Opus, MP3 and H.265 (hev1) tracks of progressive
// and fragmented MP4 files and checks what the source emits against
// ffprobe: codec, frame count, keyframes, timestamps.
func TestMP4Codecs(t *testing.T) {
	testutil.RequireFFmpeg(t)
	t.Parallel()
	frag := []string{"-movflags", "frag_keyframe+empty_moov"}
	for _, tc := range []struct {
		name, clip string
		args       []string // nil: the clip itself
	}{
		{"av1 opus", "av1_opus.mp4", nil},
		{"vp9 opus", "vp9_opus.mp4", nil},
		{"fmp4 av1 opus", "av1_opus.mp4", frag},
		{"fmp4 vp9 opus", "vp9_opus.mp4", frag},
		{"mp4 h264 mp3", "h264_mp3.flv", []string{"-f", "mp4"}},
		// hev1: parameter sets in the stream, not the sample entry.
		{"mp4 h265 hev1", "h265_aac.mp4", []string{"-tag:v", "hev1", "-f", "mp4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := testutil.Clip(t, tc.clip)
			if tc.args != nil {
				path = remux(t, tc.clip, t.TempDir(), "a.mp4", tc.args...)
			}
			want := probe(t, path)
			sink := &recSink{}
			if err := mustOpen(t, path, Options{}).Run(context.Background(), sink); err != nil {
				t.Fatal(err)
			}
			matchProbe(t, sink, want, 1)
			for _, f := range sink.ofKind(media.KindVideo) {
				if f.Key != media.IsRandomAccess(f.Track.Codec, f.Payload) && f.Track.Codec != media.CodecH264 {
					t.Errorf("%s frame at %v: Key %v, payload says otherwise", f.Track.Codec, f.DTS, f.Key)
					break
				}
			}
		})
	}
}

// TestMP4G711 reads QuickTime's 'ulaw' and 'alaw' tracks, stored a byte
// per sample, as 20 ms frames that hold every sample.
func TestMP4G711(t *testing.T) {
	testutil.RequireFFmpeg(t)
	t.Parallel()
	for _, tc := range []struct {
		name, clip string
		codec      media.Codec
	}{
		{"ulaw", "h264_pcmu.mov", media.CodecG711U},
		{"alaw", "h264_pcma.flv", media.CodecG711A},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := remux(t, tc.clip, t.TempDir(), "a.mov")
			want := probe(t, path)
			sink := &recSink{}
			if err := mustOpen(t, path, Options{}).Run(context.Background(), sink); err != nil {
				t.Fatal(err)
			}
			if v := len(sink.ofKind(media.KindVideo)); v != len(want.keys[media.KindVideo]) {
				t.Errorf("%d video frames, want %d", v, len(want.keys[media.KindVideo]))
			}
			audio := sink.ofKind(media.KindAudio)
			if len(audio) == 0 {
				t.Fatal("no audio")
			}
			tr := audio[0].Track
			if tr.Codec != tc.codec || tr.SampleRate != 8000 || tr.Channels != 1 {
				t.Fatalf("track %v, want %s 8000 Hz mono", tr, tc.codec)
			}
			var samples int
			for i, f := range audio {
				samples += len(f.Payload)
				if len(f.Payload) > 160 {
					t.Fatalf("frame %d of %d bytes, want at most 20 ms", i, len(f.Payload))
				}
				if i > 0 {
					// Each frame starts where the previous one's samples end.
					want := audio[i-1].DTS + time.Duration(len(audio[i-1].Payload))*time.Second/8000
					if (f.DTS - want).Abs() > time.Millisecond {
						t.Fatalf("frame %d at %v, want %v", i, f.DTS, want)
					}
				}
			}
			// 2 s of 8 kHz: what ffmpeg stored (it may pad to its
			// packet size).
			if samples < 16000 || samples > 16000+1024 {
				t.Errorf("%d samples, want about 16000", samples)
			}
		})
	}
}
