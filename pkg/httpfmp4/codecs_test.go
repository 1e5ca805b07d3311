package httpfmp4

import (
	"bytes"
	"sync/atomic"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/mediakit/mediakit/pkg/media"
)

// AV1, VP9 and MP3 get their sample entries (av01 + av1C, vp09 + vpcC,
// mp4a with MPEG-1 audio) in their timescales; G.711 is left out.
func TestInitSegmentCodecs(t *testing.T) {
	// The sequence header OBU of testdata/clips/av1_opus.mp4 (320x240).
	av1, err := media.NewAV1Track([]byte{0x0a, 0x0b, 0x00, 0x00, 0x00, 0x04, 0x3c, 0xff, 0xbc, 0x02, 0xf8, 0x00, 0x40})
	if err != nil {
		t.Fatal(err)
	}
	vp9, err := media.NewVP9Track(320, 240, media.VP9Params{BitDepth: 8, ChromaSubsampling: 1})
	if err != nil {
		t.Fatal(err)
	}
	mp3 := &media.Track{Codec: media.CodecMP3, SampleRate: 44100, Channels: 2}
	opus, _ := media.NewOpusTrack(2)
	g711, _ := media.NewG711Track(media.CodecG711U, 8000, 1)
	var seq atomic.Uint32
	for _, tc := range []struct {
		name         string
		tracks       []*media.Track
		entries      []string
		audioScale   uint32
		check        func(v, a codecs.Codec) bool
		ignoredCodec media.Codec
	}{
		{"av1 mp3 g711", []*media.Track{av1, g711, mp3}, []string{"av01", "av1C", "mp4a"}, 44100, func(v, a codecs.Codec) bool {
			c, ok := v.(*codecs.AV1)
			m, ok2 := a.(*codecs.MPEG1Audio)
			return ok && ok2 && len(c.SequenceHeader) > 0 && m.SampleRate == 44100 && m.ChannelCount == 2
		}, media.CodecG711U},
		{"vp9 opus", []*media.Track{vp9, opus}, []string{"vp09", "vpcC", "Opus", "dOps"}, 48000, func(v, a codecs.Codec) bool {
			c, ok := v.(*codecs.VP9)
			_, ok2 := a.(*codecs.Opus)
			return ok && ok2 && c.Width == 320 && c.Height == 240 && c.BitDepth == 8
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := newStreamMux(tc.tracks, &seq, discard)
			if err != nil {
				t.Fatal(err)
			}
			init := parseInit(t, m.init)
			if len(init.Tracks) != 2 || init.Tracks[0].TimeScale != 90000 || init.Tracks[1].TimeScale != tc.audioScale {
				t.Fatalf("tracks %+v", init.Tracks)
			}
			if !tc.check(init.Tracks[0].Codec, init.Tracks[1].Codec) {
				t.Errorf("codecs %+v %+v", init.Tracks[0].Codec, init.Tracks[1].Codec)
			}
			for _, e := range tc.entries {
				if !bytes.Contains(m.init, []byte(e)) {
					t.Errorf("no %s box", e)
				}
			}
			if tc.ignoredCodec != 0 {
				if len(m.ignored) != 1 || m.ignored[0].Codec != tc.ignoredCodec {
					t.Errorf("ignored %v", m.ignored)
				}
			}
		})
	}
}
