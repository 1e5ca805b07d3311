package flv

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/amf0"

	"github.com/mediakit/mediakit/pkg/media"
)

// av1SeqHdr is a sequence header OBU (with its size field), the one
// gortmplib announces for AV1.
var av1SeqHdr = []byte{0x0a, 0x0b, 0x00, 0x00, 0x00, 0x42, 0xab, 0xbf, 0xc3, 0x70, 0x0b, 0xe0, 0x01}

// multitrackVideo builds a multitrack video body: every track of kind
// ManyTracks or ManyTracksManyCodecs gets its size; OneTrack takes one.
func multitrackVideo(kind, packetType byte, frameType byte, tracks ...mtTrack) []byte {
	b := []byte{0x80 | frameType<<4 | exVideoMultitrack, kind<<4 | packetType}
	if kind != multitrackManyTracksManyCodecs {
		b = append(b, tracks[0].fourCC...)
	}
	for _, t := range tracks {
		if kind == multitrackManyTracksManyCodecs {
			b = append(b, t.fourCC...)
		}
		b = append(b, t.id)
		if kind != multitrackOneTrack {
			n := len(t.body)
			b = append(b, byte(n>>16), byte(n>>8), byte(n))
		}
		b = append(b, t.body...)
	}
	return b
}

func multitrackAudio(kind, packetType byte, tracks ...mtTrack) []byte {
	b := multitrackVideo(kind, packetType, 0, tracks...)
	b[0] = soundExHeader<<4 | exAudioMultitrack
	return b
}

type mtTrack struct {
	fourCC string
	id     byte
	body   []byte
}

// logBuffer is a slog text logger into a buffer.
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, nil)), &buf
}

func TestIngestEnhanced(t *testing.T) {
	fx := newIngestFixture(t)
	avcc := media.AppendAVCConfig(nil, fx.avc.SPS, fx.avc.PPS)
	avcc2 := media.AppendAVCConfig(nil, fx.avc2.SPS, fx.avc2.PPS)
	nalus := media.AppendAVCC(nil, []byte{0x65, 0x88, 0x80, 0x40})
	withCTS := append([]byte{0, 0, 0}, nalus...)
	av1C := appendAV1Config(nil, av1SeqHdr)
	// A temporal unit: temporal delimiter, sequence header, a frame OBU.
	tu := append(append([]byte{0x12, 0x00}, av1SeqHdr...), 0x32, 2, 0x10, 0x00)
	opusHead := appendOpusHead(nil, &media.Track{Channels: 2})
	mp3Frame := append([]byte{0xff, 0xfb, 0x90, 0x64}, make([]byte, 413)...) // MPEG-1 L3 128k 44.1k stereo
	exVideo := func(frameType, packetType byte, fourCC string, body []byte) []byte {
		return append(append([]byte{0x80 | frameType<<4 | packetType}, fourCC...), body...)
	}
	exAudio := func(packetType byte, fourCC string, body []byte) []byte {
		return append(append([]byte{soundExHeader<<4 | packetType}, fourCC...), body...)
	}
	type in struct {
		video bool
		body  []byte
	}
	tests := []struct {
		name       string
		bodies     []in
		wantTracks [][]media.Codec // per SetTracks
		wantFrames int
		wantLeft   int
		wantWarn   []string // each logged exactly once
	}{
		{
			name: "AV1 and Opus",
			bodies: []in{
				{true, exVideo(1, exVideoSequenceStart, "av01", av1C)},
				{false, exAudio(exAudioSequenceStart, "Opus", opusHead)},
				{true, exVideo(1, exVideoCodedFramesX, "av01", tu)},
				{false, exAudio(exAudioCodedFrames, "Opus", []byte{0xfc, 1, 2})},
			},
			wantTracks: [][]media.Codec{{media.CodecAV1, media.CodecOpus}},
			wantFrames: 2,
		},
		{
			name: "MP3 legacy and enhanced",
			bodies: []in{
				{true, exVideo(1, exVideoSequenceStart, "avc1", avcc)},
				{false, append([]byte{0x2f}, mp3Frame...)},
				{true, exVideo(1, exVideoCodedFrames, "avc1", withCTS)},
				{false, exAudio(exAudioSequenceStart, ".mp3", nil)},
				{false, exAudio(exAudioCodedFrames, ".mp3", mp3Frame)},
			},
			wantTracks: [][]media.Codec{{media.CodecH264, media.CodecMP3}},
			wantFrames: 3,
		},
		{
			name: "multitrack OneTrack id 1 left out",
			bodies: []in{
				{true, VideoSequenceHeaderBody(fx.avc)},
				{false, AudioSequenceHeaderBody(fx.aac)},
				{true, multitrackVideo(multitrackOneTrack, exVideoSequenceStart, 1, mtTrack{"avc1", 1, avcc2})},
				{true, videoBody(fx.avc, true, 0)},
				{true, multitrackVideo(multitrackOneTrack, exVideoCodedFrames, 1, mtTrack{"avc1", 1, withCTS})},
				{false, audioBody(fx.aac)},
				{false, multitrackAudio(multitrackOneTrack, exAudioCodedFrames, mtTrack{"mp4a", 1, []byte{1, 2}})},
			},
			wantTracks: [][]media.Codec{{media.CodecH264, media.CodecAAC}},
			wantFrames: 2,
			wantLeft:   3,
			wantWarn:   []string{"video multitrack", "audio multitrack"},
		},
		{
			name: "multitrack ManyTracks keeps track 0",
			bodies: []in{
				{true, multitrackVideo(multitrackManyTracks, exVideoSequenceStart, 1, mtTrack{"avc1", 0, avcc}, mtTrack{"avc1", 1, avcc2})},
				{true, multitrackVideo(multitrackManyTracks, exVideoCodedFrames, 1, mtTrack{"avc1", 0, withCTS}, mtTrack{"avc1", 1, withCTS})},
				{true, multitrackVideo(multitrackManyTracks, exVideoCodedFrames, 2, mtTrack{"avc1", 0, withCTS}, mtTrack{"avc1", 1, withCTS})},
			},
			wantTracks: [][]media.Codec{{media.CodecH264}},
			wantFrames: 2,
			wantLeft:   3,
			wantWarn:   []string{"video multitrack"},
		},
		{
			name: "multitrack ManyTracksManyCodecs with an unknown codec",
			bodies: []in{
				{true, multitrackVideo(multitrackManyTracksManyCodecs, exVideoSequenceStart, 1, mtTrack{"vvc1", 1, []byte{1}}, mtTrack{"av01", 0, av1C})},
				{true, multitrackVideo(multitrackManyTracksManyCodecs, exVideoCodedFramesX, 1, mtTrack{"av01", 0, tu}, mtTrack{"vvc1", 1, []byte{1}})},
				{false, multitrackAudio(multitrackManyTracksManyCodecs, exAudioSequenceStart, mtTrack{"Opus", 0, opusHead}, mtTrack{"fLaC", 1, []byte{1}})},
				{false, multitrackAudio(multitrackManyTracksManyCodecs, exAudioCodedFrames, mtTrack{"Opus", 0, []byte{0xfc}}, mtTrack{"fLaC", 1, []byte{1}})},
			},
			wantTracks: [][]media.Codec{{media.CodecAV1, media.CodecOpus}},
			wantFrames: 2,
			wantLeft:   4,
			wantWarn:   []string{"video multitrack", "audio multitrack"},
		},
		{
			name: "unsupported codecs left out, session goes on",
			bodies: []in{
				{true, []byte{0x14, 0, 0, 0, 0}}, // VP6
				{false, AudioSequenceHeaderBody(fx.aac)},
				{true, exVideo(1, exVideoCodedFrames, "vvc1", []byte{1})},
				{false, audioBody(fx.aac)},
				{true, []byte{0x24, 0, 0, 0, 0}},
				{false, []byte{0xb2, 1}}, // Speex: another codec, audio kept
			},
			wantTracks: [][]media.Codec{{media.CodecAAC}},
			wantFrames: 1,
			wantLeft:   4,
			wantWarn:   []string{"video codec id 4", "video FourCC vvc1", "audio sound format 11"},
		},
		{
			name: "AAC Main left out, video goes on",
			bodies: []in{
				{false, []byte{0xaf, 0, 0x0a, 0x10}}, // object type 1
				{true, VideoSequenceHeaderBody(fx.avc)},
				{true, videoBody(fx.avc, true, 0)},
			},
			wantTracks: [][]media.Codec{{media.CodecH264}},
			wantFrames: 1,
			wantLeft:   1,
			wantWarn:   []string{"audio AAC object type 1"},
		},
		{
			name: "codec change mid-stream",
			bodies: []in{
				{true, VideoSequenceHeaderBody(fx.avc)},
				{false, AudioSequenceHeaderBody(fx.aac)},
				{true, videoBody(fx.avc, true, 0)},
				{false, audioBody(fx.aac)},
				{true, exVideo(1, exVideoSequenceStart, "av01", av1C)},
				{true, videoBody(fx.avc, false, 0)}, // old codec after the change: dropped
				{true, exVideo(1, exVideoCodedFrames, "av01", tu)},
				{false, exAudio(exAudioSequenceStart, "Opus", opusHead)},
				{false, exAudio(exAudioCodedFrames, "Opus", []byte{0xfc})},
				{false, append([]byte{0x2f}, mp3Frame...)}, // then MP3, from its frame
			},
			wantTracks: [][]media.Codec{{media.CodecH264, media.CodecAAC}, {media.CodecAV1, media.CodecAAC},
				{media.CodecAV1, media.CodecOpus}, {media.CodecAV1, media.CodecMP3}},
			wantFrames: 5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &recSink{}
			ing := NewIngest(sink)
			log, logs := logBuffer()
			ing.Log = log
			for i, b := range tt.bodies {
				ts := time.Duration(i) * 20 * time.Millisecond
				var err error
				if b.video {
					err = ing.Video(ts, b.body)
				} else {
					err = ing.Audio(ts, b.body)
				}
				if err != nil {
					t.Fatalf("body %d: %v", i, err)
				}
			}
			if err := ing.Flush(); err != nil {
				t.Fatal(err)
			}
			sink.check(t)
			var got [][]media.Codec
			for _, tracks := range sink.declared {
				var cs []media.Codec
				for _, tr := range tracks {
					cs = append(cs, tr.Codec)
				}
				got = append(got, cs)
			}
			if len(got) != len(tt.wantTracks) {
				t.Fatalf("SetTracks %v, want %v", got, tt.wantTracks)
			}
			for i := range got {
				if !slicesEqual(got[i], tt.wantTracks[i]) {
					t.Fatalf("SetTracks %v, want %v", got, tt.wantTracks)
				}
			}
			if len(sink.frames) != tt.wantFrames {
				t.Errorf("%d frames, want %d", len(sink.frames), tt.wantFrames)
			}
			if ing.LeftOut != tt.wantLeft {
				t.Errorf("LeftOut %d, want %d", ing.LeftOut, tt.wantLeft)
			}
			if n := strings.Count(logs.String(), "level=WARN"); n != len(tt.wantWarn) {
				t.Errorf("%d warnings, want %d:\n%s", n, len(tt.wantWarn), logs)
			}
			for _, w := range tt.wantWarn {
				if strings.Count(logs.String(), `media="`+w+`"`) != 1 {
					t.Errorf("warning %q not logged exactly once:\n%s", w, logs)
				}
			}
			for _, f := range sink.frames {
				if f.Track.Codec == media.CodecAV1 {
					if bytes.Contains(f.Payload[:2], []byte{0x12, 0x00}) {
						t.Errorf("AV1 frame keeps its temporal delimiter: % x", f.Payload)
					}
					if !f.Key {
						t.Error("AV1 keyframe not marked key")
					}
				}
			}
		})
	}
}

type amf0Entry struct {
	key   string
	value float64
}

func toAMF(entries []amf0Entry) []amf0.ObjectEntry {
	out := make([]amf0.ObjectEntry, len(entries))
	for i, e := range entries {
		out[i] = amf0.ObjectEntry{Key: e.key, Value: e.value}
	}
	return out
}

func slicesEqual(a, b []media.Codec) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAACConfigs checks the AAC tracks of HE-AAC and of an
// AudioSpecificConfig whose channels come from a program config element.
func TestAACConfigs(t *testing.T) {
	tests := []struct {
		name     string
		bits     string // the AudioSpecificConfig, bit by bit
		rate, ch int
	}{
		{"LC 44.1k stereo", "00010" + "0100" + "0010" + "000", 44100, 2},
		{"HE v1 (SBR) 24k core", "00101" + "0110" + "0010" + "0011" + "00010" + "000", 48000, 2},
		{"HE v2 (PS) mono core", "11101" + "0110" + "0001" + "0011" + "00010" + "000", 48000, 2},
		{"PCE 5.1", "00010" + "0011" + "0000" + "000" +
			// PCE: tag, object type, rate, 2 front, 0 side, 1 back, 1 LFE, 0 assoc, 0 cc, no mixdowns
			"0000" + "01" + "0011" + "0010" + "0000" + "0001" + "01" + "000" + "0000" + "0" + "0" + "0" +
			"00000" + "10000" + "10001" + "0000", 48000, 6},
		{"PCE cut: 2 channels", "00010" + "0011" + "0000" + "000" + "0000" + "01", 48000, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			asc := bitsToBytes(tt.bits)
			sink := &recSink{}
			ing := NewIngest(sink)
			if err := ing.Audio(0, append([]byte{0xaf, 0}, asc...)); err != nil {
				t.Fatal(err)
			}
			if err := ing.Flush(); err != nil {
				t.Fatal(err)
			}
			tr := ing.Tracks()[0]
			if tr.SampleRate != tt.rate || tr.Channels != tt.ch {
				t.Errorf("%d Hz %d channels, want %d Hz %d channels", tr.SampleRate, tr.Channels, tt.rate, tt.ch)
			}
		})
	}
}

func bitsToBytes(s string) []byte {
	for len(s)%8 != 0 {
		s += "0"
	}
	out := make([]byte, len(s)/8)
	for i, c := range s {
		if c == '1' {
			out[i/8] |= 0x80 >> (i % 8)
		}
	}
	return out
}

// TestIngestVP9SizeFromMetadata: a VP9 sequence start has no frame size;
// with onMetaData's width and height the track is declared at once,
// without them it waits for a keyframe.
func TestIngestVP9SizeFromMetadata(t *testing.T) {
	vpcC := appendVP9Config(nil, media.VP9Params{BitDepth: 8, ChromaSubsampling: 1})
	seq := append(append([]byte{0x80 | 1<<4 | exVideoSequenceStart}, "vp09"...), vpcC...)
	inter := append([]byte{0x80 | 2<<4 | exVideoCodedFrames}, "vp09\x86\x00"...)
	for _, withSize := range []bool{true, false} {
		sink := &recSink{}
		in := NewIngest(sink)
		entries := []amf0Entry{{"videocodecid", fourCCNumber(fourCCVP9)}}
		if withSize {
			entries = append(entries, amf0Entry{"width", 640}, amf0Entry{"height", 360})
		}
		if err := in.Script(metadataPayload(t, true, toAMF(entries)...)); err != nil {
			t.Fatal(err)
		}
		for i, body := range [][]byte{seq, inter} {
			if err := in.Video(time.Duration(i)*40*time.Millisecond, body); err != nil {
				t.Fatal(err)
			}
		}
		sink.check(t)
		switch {
		case withSize && (len(sink.declared) != 1 || sink.declared[0][0].Width != 640 || len(sink.frames) != 1):
			t.Errorf("with size: declared %v, %d frames", sink.declared, len(sink.frames))
		case !withSize && (len(sink.declared) != 0 || in.Dropped != 1):
			t.Errorf("without size: declared %v, dropped %d", sink.declared, in.Dropped)
		}
	}
}
