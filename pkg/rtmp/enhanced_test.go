package rtmp

import (
	"bytes"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

// TestEnhancedMessagesGortmplib judges the RTMP messages a player gets
// for AV1, VP9, Opus and MP3 with gortmplib's message parser, an
// independent Enhanced RTMP v2 implementation: sequence starts with the
// right FourCC and configuration, coded frames with the frame's bytes.
func TestEnhancedMessagesGortmplib(t *testing.T) {
	for _, clip := range []string{"av1_opus.mp4", "vp9_opus.mp4", "h264_mp3.flv"} {
		t.Run(clip, func(t *testing.T) {
			var tracks []*media.Track
			var frames []*media.Frame
			if clip == "h264_mp3.flv" {
				tracks, frames = clipframes.Read(t, clip)
			} else {
				tracks, frames = clipframes.ReadMP4(t, clip)
			}
			var stream []byte
			headers := 0
			for _, tr := range tracks {
				if body := flv.SequenceHeaderBody(tr); body != nil {
					headers++
					typ := MsgAudio
					if tr.Kind() == media.KindVideo {
						typ = MsgVideo
					}
					stream = AppendMessage(stream, csidVideo, typ, playStreamID, 0, body, 128)
				}
			}
			for _, f := range frames {
				typ := MsgAudio
				if f.Track.Kind() == media.KindVideo {
					typ = MsgVideo
				}
				stream = AppendMessage(stream, csidVideo, typ, playStreamID, f.DTS, flv.FrameBody(f), 128)
			}
			r := message.NewReader(bytes.NewReader(stream), bytecounter.NewReader(bytes.NewReader(nil)), nil)
			got := map[string]int{}
			i := 0 // next frame
			next := func() *media.Frame {
				f := frames[i]
				i++
				return f
			}
			for range len(frames) + headers {
				msg, err := r.Read()
				if err != nil {
					t.Fatalf("gortmplib after %v: %v", got, err)
				}
				switch m := msg.(type) {
				case *message.VideoExSequenceStart:
					switch {
					case m.FourCC == message.FourCCAV1 && m.AV1Config != nil && len(m.AV1Config.ConfigOBUs) > 0:
					case m.FourCC == message.FourCCVP9 && m.VP9Config != nil && m.VP9Config.BitDepth == 8:
					default:
						t.Fatalf("video sequence start %+v", m)
					}
					got["video config"]++
				case *message.AudioExSequenceStart:
					if m.FourCC != message.FourCCOpus || m.OpusConfig == nil || m.OpusConfig.ChannelCount != 2 {
						t.Fatalf("audio sequence start %+v", m)
					}
					got["audio config"]++
				case *message.Video:
					if m.Type == message.VideoTypeConfig {
						got["video config"]++
						continue
					}
					f := next()
					if !bytes.Equal(f.Payload, m.AU) || m.DTS != f.DTS {
						t.Fatalf("H.264 frame %d differs", i)
					}
					got["h264"]++
				case *message.VideoExCodedFrames:
					f := next()
					want := f.Payload
					if m.FourCC == message.FourCCAV1 {
						want = append([]byte{0x12, 0}, want...)
					}
					if !bytes.Equal(m.Payload, want) || m.DTS != f.DTS.Truncate(time.Millisecond) {
						t.Fatalf("%v frame %d differs", m.FourCC, i)
					}
					got[f.Track.Codec.String()]++
				case *message.AudioExCodedFrames:
					f := next()
					if m.FourCC != message.FourCCOpus || !bytes.Equal(m.Payload, f.Payload) {
						t.Fatalf("audio frame %d differs", i)
					}
					got["opus"]++
				case *message.Audio:
					f := next()
					if m.Codec != message.CodecMPEG1Audio || !bytes.Equal(m.AU, f.Payload) || m.Rate != message.AudioRate44100 || !m.IsStereo {
						t.Fatalf("MP3 frame %d: %+v", i, m)
					}
					got["mp3"]++
				default:
					t.Fatalf("message %T", msg)
				}
			}
			t.Log(got)
			if i != len(frames) {
				t.Errorf("%d of %d frames read", i, len(frames))
			}
		})
	}
}
