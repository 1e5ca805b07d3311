package rtpserver

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	pionrtp "github.com/pion/rtp"

	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/format/ps"
	"github.com/mediakit/mediakit/pkg/media"
)

// psOf muxes the frames of a clip as GB28181 PS (Annex-B video from
// media.AppendAccessUnit, audio as it is, Opus with the MPEG-TS control
// header when withControl) and splits it into RTP payloads of 1400 bytes.
func psOf(t *testing.T, tracks []*media.Track, frames []*media.Frame, audioType ps.StreamType, withControl bool) [][]byte {
	t.Helper()
	streams := []ps.Stream{{ID: 0xC0, Type: audioType}}
	for _, tr := range tracks {
		if tr.Codec == media.CodecH264 {
			streams = append(streams, ps.Stream{ID: 0xE0, Type: ps.StreamH264})
		}
	}
	m := ps.NewMuxer(streams)
	var out []byte
	for _, f := range frames {
		pts := int64(f.PTS * 90000 / 1e9)
		dts := int64(f.DTS * 90000 / 1e9)
		switch f.Track.Codec {
		case media.CodecH264:
			nalus, _ := media.AppendAccessUnit(nil, f)
			out = m.AppendFrame(out, ps.Frame{StreamID: 0xE0, PTS: pts, DTS: dts, Data: media.AppendAnnexB(nil, nalus)}, f.Key)
		case media.CodecMP3, media.CodecOpus:
			data := f.Payload
			if withControl {
				size := len(data)
				data = []byte{0x7f, 0xe0}
				for ; size >= 255; size -= 255 {
					data = append(data, 0xff)
				}
				data = append(append(data, byte(size)), f.Payload...)
			}
			out = m.AppendFrame(out, ps.Frame{StreamID: 0xC0, PTS: pts, DTS: dts, Data: data}, false)
		}
	}
	var pkts [][]byte
	for len(out) > 0 {
		n := min(len(out), 1400)
		pkts = append(pkts, out[:n])
		out = out[n:]
	}
	return pkts
}

// TestPSAudioCodecs: PS over RTP with MP3 (stream type 0x03) beside
// H.264, and with Opus (0x9C, with or without the MPEG-TS control header
// before each packet), gives every audio frame of the clip as it was,
// on an MP3 or Opus track.
func TestPSAudioCodecs(t *testing.T) {
	for _, tc := range []struct {
		clip        string
		typ         ps.StreamType
		codec       media.Codec
		withControl bool
	}{
		{"h264_mp3.flv", ps.StreamMPEG1Audio, media.CodecMP3, false},
		{"vp9_opus.mp4", ps.StreamOpus, media.CodecOpus, false},
		{"vp9_opus.mp4", ps.StreamOpus, media.CodecOpus, true},
	} {
		t.Run(fmt.Sprintf("%s/control=%v", tc.clip, tc.withControl), func(t *testing.T) {
			var tracks []*media.Track
			var frames []*media.Frame
			if filepath.Ext(tc.clip) == ".mp4" {
				tracks, frames = clipframes.ReadMP4(t, tc.clip)
			} else {
				tracks, frames = clipframes.Read(t, tc.clip)
			}
			var audio []*media.Frame
			for _, f := range frames {
				if f.Track.Kind() == media.KindAudio {
					audio = append(audio, f)
				}
			}
			sink := &frameSink{}
			p := newMediaPipeline(PipelineOptions{Sink: sink, Payload: "ps"})
			for i, payload := range psOf(t, tracks, frames, tc.typ, tc.withControl) {
				p.Packet(&pionrtp.Packet{Header: pionrtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i)},
					Payload: payload}, 0)
			}
			p.Close()
			var got []*media.Frame
			video := 0
			for _, f := range sink.frames {
				if f.Track.Kind() == media.KindAudio {
					got = append(got, f)
				} else {
					video++
				}
			}
			if len(got) != len(audio) {
				t.Fatalf("%d audio frames, want %d", len(got), len(audio))
			}
			for i, f := range got {
				if f.Track.Codec != tc.codec || !bytes.Equal(f.Payload, audio[i].Payload) ||
					(f.PTS-got[0].PTS-(audio[i].PTS-audio[0].PTS)).Abs() > 20_000 {
					t.Fatalf("audio frame %d: %s at %v (%d bytes), want %s at %v (%d bytes)", i, f.Track.Codec,
						f.PTS-got[0].PTS, len(f.Payload), tc.codec, audio[i].PTS-audio[0].PTS, len(audio[i].Payload))
				}
			}
			if tr := got[0].Track; tr.SampleRate != audio[0].Track.SampleRate || tr.Channels != audio[0].Track.Channels {
				t.Errorf("track %v, want %v", tr, audio[0].Track)
			}
			if tc.codec == media.CodecMP3 && video != 50 {
				t.Errorf("%d video frames, want 50", video)
			}
			if kind, codecs := p.Describe(); kind != "ps" || !bytes.Contains([]byte(fmt.Sprint(codecs)), []byte(tc.codec.String())) {
				t.Errorf("Describe: %s %v", kind, codecs)
			}
			if os.Getenv("MEDIAKIT_WRITE_SEEDS") != "" { // regenerates the FuzzPipeline seeds
				var seed []byte
				for _, payload := range psOf(t, tracks, frames[:12], tc.typ, tc.withControl) {
					seed = append(seed, payload...)
				}
				s := fmt.Sprintf("go test fuzz v1\nbyte('\\x60')\n[]byte(%q)\nbyte('\\x3f')\n", seed)
				name := fmt.Sprintf("testdata/fuzz/FuzzPipeline/ps_%s_%v", tc.codec, tc.withControl)
				if err := os.WriteFile(name, []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestOpusOverRTP: an Opus elementary stream over RTP (payload "opus",
// no SDP) gives one frame per packet on a 48 kHz stereo Opus track.
func TestOpusOverRTP(t *testing.T) {
	_, frames := clipframes.ReadMP4(t, "vp9_opus.mp4")
	sink := &frameSink{}
	p := newMediaPipeline(PipelineOptions{Sink: sink, Payload: "opus"})
	n := 0
	for _, f := range frames {
		if f.Track.Codec != media.CodecOpus {
			continue
		}
		p.Packet(&pionrtp.Packet{Header: pionrtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(n),
			Timestamp: uint32(f.PTS * 48000 / 1e9), Marker: true}, Payload: f.Payload}, 0)
		n++
	}
	p.Close()
	if len(sink.frames) != n || n != 101 {
		t.Fatalf("%d frames of %d packets, want 101", len(sink.frames), n)
	}
	last := sink.frames[n-1]
	if tr := last.Track; tr.Codec != media.CodecOpus || tr.SampleRate != 48000 || tr.Channels != 2 ||
		(last.PTS-sink.frames[0].PTS).Milliseconds() != 2000 {
		t.Errorf("last frame %v at %v", tr, last.PTS-sink.frames[0].PTS)
	}
}
