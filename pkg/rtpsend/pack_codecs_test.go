package rtpsend

import (
	"bytes"
	"testing"

	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/format/ps"
	"github.com/mediakit/mediakit/pkg/media"
)

// TestPSCodecs: MP3 goes into PS as MPEG-1 audio (stream type 0x03,
// 0x04 for the MPEG-2 rates) and Opus as 0x9C, ZLMediaKit's type, each
// frame as it is; AV1 and VP9 have no PS stream type: the packer leaves
// them out, dropReason says why, and the audio goes on alone.
func TestPSCodecs(t *testing.T) {
	for _, tc := range []struct {
		clip    string
		mp4     bool
		typ     ps.StreamType
		dropped media.Codec
	}{
		{clip: "h264_mp3.flv", typ: ps.StreamMPEG1Audio},
		{clip: "vp9_opus.mp4", mp4: true, typ: ps.StreamOpus, dropped: media.CodecVP9},
		{clip: "av1_opus.mp4", mp4: true, typ: ps.StreamOpus, dropped: media.CodecAV1},
	} {
		t.Run(tc.clip, func(t *testing.T) {
			var tracks []*media.Track
			var frames []*media.Frame
			if tc.mp4 {
				tracks, frames = clipframes.ReadMP4(t, tc.clip)
			} else {
				tracks, frames = clipframes.Read(t, tc.clip)
			}
			o := Options{Format: FormatPS, PayloadType: 96}
			_, left, err := newPacker(o, 1, tracks)
			if err != nil {
				t.Fatal(err)
			}
			if tc.dropped != 0 {
				if len(left) != 1 || left[0].Codec != tc.dropped || dropReason(o, left[0]) == "" {
					t.Fatalf("left out %v, want the %s track with a reason", left, tc.dropped)
				}
			} else if len(left) != 0 {
				t.Fatalf("left out %v", left)
			}
			video, audio := demuxPS(t, packAll(t, o, tracks, frames))
			var inV, inA []*media.Frame
			for _, f := range frames {
				if f.Track.Kind() == media.KindVideo {
					inV = append(inV, f)
				} else {
					inA = append(inA, f)
				}
			}
			if tc.dropped != 0 {
				inV = nil
			}
			if len(video) != len(inV) || len(audio) != len(inA) {
				t.Fatalf("%d video and %d audio frames, want %d and %d", len(video), len(audio), len(inV), len(inA))
			}
			for i, f := range audio {
				want := inA[i]
				if f.Type != tc.typ || !bytes.Equal(f.Data, want.Payload) || f.PTS != clock90k(want.PTS) {
					t.Fatalf("audio frame %d: %s pts %d (%d bytes), want %s pts %d (%d bytes)", i, f.Type, f.PTS,
						len(f.Data), tc.typ, clock90k(want.PTS), len(want.Payload))
				}
			}
		})
	}
	// MP3 at an MPEG-2 rate is declared as MPEG-2 audio.
	low := &media.Track{Codec: media.CodecMP3, SampleRate: 22050, Channels: 1}
	if got := psTypeOf(low); got != ps.StreamMPEG2Audio {
		t.Errorf("22.05 kHz MP3: %s", got)
	}
	if dropReason(Options{Format: FormatES}, &media.Track{Codec: media.CodecVP9}) == "" ||
		dropReason(Options{Format: FormatPS}, &media.Track{Codec: media.CodecMP3}) != "" {
		t.Error("dropReason")
	}
}
