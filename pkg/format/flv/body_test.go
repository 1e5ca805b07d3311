package flv

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

func TestVideoFrameBodyRoundTrip(t *testing.T) {
	h264Track := &media.Track{Codec: media.CodecH264}
	h265Track := &media.Track{Codec: media.CodecH265}
	payload := media.AppendAVCC(nil, []byte{0x65, 1, 2, 3}, []byte{0x06, 5})
	tests := []struct {
		name      string
		track     *media.Track
		key       bool
		dts, pts  time.Duration
		wantFirst byte // first body byte
	}{
		{"h264 key", h264Track, true, ms(40), ms(40), 0x17},
		{"h264 inter", h264Track, false, ms(80), ms(80), 0x27},
		{"h264 cts 80ms", h264Track, false, ms(80), ms(160), 0x27},
		{"h264 negative cts", h264Track, false, ms(200), ms(120), 0x27},
		{"h264 cts max SI24", h264Track, true, 0, ms(1<<23 - 1), 0x17},
		{"h264 cts min SI24", h264Track, true, ms(1 << 23), 0, 0x17},
		{"h265 key", h265Track, true, ms(40), ms(40), 0x80 | 1<<4 | exVideoCodedFrames},
		{"h265 inter cts", h265Track, false, ms(40), ms(120), 0x80 | 2<<4 | exVideoCodedFrames},
		{"h265 negative cts", h265Track, false, ms(120), ms(40), 0x80 | 2<<4 | exVideoCodedFrames},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &media.Frame{Track: tt.track, DTS: tt.dts, PTS: tt.pts, Key: tt.key, Payload: payload}
			body := AppendVideoBody([]byte{0xee}, f)
			if body[0] != 0xee {
				t.Fatal("AppendVideoBody did not append")
			}
			body = body[1:]
			if body[0] != tt.wantFirst {
				t.Errorf("first byte %#x, want %#x", body[0], tt.wantFirst)
			}
			if tt.track.Codec == media.CodecH265 && string(body[1:5]) != "hvc1" {
				t.Errorf("FourCC %q, want hvc1", body[1:5])
			}
			if len(body) != videoBodyHeaderLen(tt.track.Codec)+len(payload) {
				t.Errorf("body is %d bytes, want header %d + %d", len(body), videoBodyHeaderLen(tt.track.Codec), len(payload))
			}
			p, err := ParseVideo(body)
			if err != nil {
				t.Fatal(err)
			}
			if p.Type != VideoFrame || p.Codec != tt.track.Codec || p.Key != tt.key || p.CTS != tt.pts-tt.dts {
				t.Errorf("parsed %v %v key=%v cts=%v; want frame %v key=%v cts=%v", p.Type, p.Codec, p.Key, p.CTS, tt.track.Codec, tt.key, tt.pts-tt.dts)
			}
			if !bytes.Equal(p.Data, payload) {
				t.Errorf("data % x, want % x", p.Data, payload)
			}
			// The cached tag holds the same body.
			if got := FrameBody(f); !bytes.Equal(got, body) {
				t.Errorf("FrameBody differs from AppendVideoBody")
			}
			tag := FrameTag(f)
			if TagType(tag[0]) != TagVideo || len(tag) != TagHeaderLen+len(body)+PrevSizeLen {
				t.Errorf("tag type %d len %d", tag[0], len(tag))
			}
		})
	}
}

func TestVideoSequenceHeaderRoundTrip(t *testing.T) {
	avc, _ := clipTracks(t, "h264_aac.flv")
	hevc := hevcTrack(t)
	for _, tr := range []*media.Track{avc, hevc} {
		t.Run(tr.Codec.String(), func(t *testing.T) {
			body := VideoSequenceHeaderBody(tr)
			if again := SequenceHeaderBody(tr); &again[0] != &body[0] {
				t.Error("sequence header body is not cached")
			}
			if tr.Codec == media.CodecH265 && (body[0]&0x80 == 0 || string(body[1:5]) != "hvc1") {
				t.Errorf("H.265 header is not Enhanced RTMP hvc1: % x", body[:5])
			}
			if tr.Codec == media.CodecH264 && body[0] != 0x17 {
				t.Errorf("H.264 header starts %#x, want 0x17", body[0])
			}
			p, err := ParseVideo(body)
			if err != nil {
				t.Fatal(err)
			}
			if p.Type != VideoSequenceHeader || p.Codec != tr.Codec || !p.Key {
				t.Errorf("parsed %+v", p)
			}
			got, lengthSize, err := videoTrack(p)
			if err != nil {
				t.Fatal(err)
			}
			if lengthSize != 4 || !got.SameConfig(tr) || got.Width != 320 || got.Height != 240 {
				t.Errorf("track %v (length size %d) differs from %v", got, lengthSize, tr)
			}
		})
	}
}

// TestParseVideoHandBuilt covers bodies mediakit does not write itself.
func TestParseVideoHandBuilt(t *testing.T) {
	hevc := hevcTrack(t)
	hvcc := media.AppendHEVCConfig(nil, hevc.VPS, hevc.SPS, hevc.PPS)
	nalus := media.AppendAVCC(nil, []byte{0x26, 1, 0xaf})
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name    string
		body    []byte
		want    VideoPacket
		wantErr error // nil: success; errAny: some error
	}{
		{name: "legacy HEVC (codec id 12) key frame", body: cat([]byte{0x1c, 1, 0, 0, 40}, nalus),
			want: VideoPacket{Type: VideoFrame, Codec: media.CodecH265, Key: true, CTS: ms(40), Data: nalus}},
		{name: "legacy HEVC inter frame negative cts", body: cat([]byte{0x2c, 1, 0xff, 0xff, 0xd8}, nalus),
			want: VideoPacket{Type: VideoFrame, Codec: media.CodecH265, CTS: ms(-40), Data: nalus}},
		{name: "legacy HEVC sequence header", body: cat([]byte{0x1c, 0, 0, 0, 0}, hvcc),
			want: VideoPacket{Type: VideoSequenceHeader, Codec: media.CodecH265, Key: true, Data: hvcc}},
		{name: "legacy AVC end of sequence", body: []byte{0x17, 2, 0, 0, 0},
			want: VideoPacket{Type: VideoEndOfSequence, Codec: media.CodecH264, Key: true, Data: []byte{}}},
		{name: "legacy command frame", body: []byte{0x57, 0},
			want: VideoPacket{Type: VideoIgnored, Codec: media.CodecH264}},
		{name: "enhanced hvc1 CodedFramesX", body: cat([]byte{0x80 | 2<<4 | exVideoCodedFramesX}, []byte("hvc1"), nalus),
			want: VideoPacket{Type: VideoFrame, Codec: media.CodecH265, Data: nalus}},
		{name: "enhanced hvc1 CodedFramesX key", body: cat([]byte{0x80 | 1<<4 | exVideoCodedFramesX}, []byte("hvc1"), nalus),
			want: VideoPacket{Type: VideoFrame, Codec: media.CodecH265, Key: true, Data: nalus}},
		{name: "enhanced hvc1 CodedFrames", body: cat([]byte{0x80 | 2<<4 | exVideoCodedFrames}, []byte("hvc1"), []byte{0, 0, 80}, nalus),
			want: VideoPacket{Type: VideoFrame, Codec: media.CodecH265, CTS: ms(80), Data: nalus}},
		{name: "enhanced avc1 CodedFrames", body: cat([]byte{0x80 | 1<<4 | exVideoCodedFrames}, []byte("avc1"), []byte{0xff, 0xff, 0xff}, nalus),
			want: VideoPacket{Type: VideoFrame, Codec: media.CodecH264, Key: true, CTS: ms(-1), Data: nalus}},
		{name: "enhanced hvc1 sequence start", body: cat([]byte{0x80 | 1<<4 | exVideoSequenceStart}, []byte("hvc1"), hvcc),
			want: VideoPacket{Type: VideoSequenceHeader, Codec: media.CodecH265, Key: true, Data: hvcc}},
		{name: "enhanced sequence end", body: cat([]byte{0x80 | 1<<4 | exVideoSequenceEnd}, []byte("hvc1")),
			want: VideoPacket{Type: VideoEndOfSequence, Codec: media.CodecH265, Key: true, Data: []byte{}}},
		{name: "enhanced metadata", body: cat([]byte{0x80 | 1<<4 | exVideoMetadata}, []byte("hvc1"), []byte{2, 0, 1, 'x'}),
			want: VideoPacket{Type: VideoIgnored, Codec: media.CodecH265, Key: true, Data: []byte{2, 0, 1, 'x'}}},
		{name: "enhanced command frame", body: []byte{0x80 | 5<<4 | exVideoCodedFrames, 0},
			want: VideoPacket{Type: VideoIgnored}},
		{name: "enhanced av01 CodedFrames", body: cat([]byte{0x80 | 1<<4 | exVideoCodedFrames}, []byte("av01"), []byte{0x32, 1, 0}),
			want: VideoPacket{Type: VideoFrame, Codec: media.CodecAV1, Key: true, Data: []byte{0x32, 1, 0}}},
		{name: "enhanced vp09 CodedFramesX inter", body: cat([]byte{0x80 | 2<<4 | exVideoCodedFramesX}, []byte("vp09"), []byte{0x86, 0}),
			want: VideoPacket{Type: VideoFrame, Codec: media.CodecVP9, Data: []byte{0x86, 0}}},
		{name: "enhanced vp09 sequence start", body: cat([]byte{0x80 | 1<<4 | exVideoSequenceStart}, []byte("vp09"), appendVP9Config(nil, media.VP9Params{BitDepth: 8, ChromaSubsampling: 1})),
			want: VideoPacket{Type: VideoSequenceHeader, Codec: media.CodecVP9, Key: true, Data: appendVP9Config(nil, media.VP9Params{BitDepth: 8, ChromaSubsampling: 1})}},
		{name: "enhanced ModEx then CodedFrames", body: cat([]byte{0x80 | 1<<4 | exVideoModEx, 2, 0, 0, 1, 0<<4 | exVideoCodedFrames}, []byte("hvc1"), []byte{0, 0, 40}, nalus),
			want: VideoPacket{Type: VideoFrame, Codec: media.CodecH265, Key: true, CTS: ms(40), Data: nalus}},
		{name: "enhanced packet type 15 ignored", body: cat([]byte{0x80 | 1<<4 | 15}, []byte("hvc1")),
			want: VideoPacket{Type: VideoIgnored, Codec: media.CodecH265, Key: true, Data: []byte{}}},
		{name: "enhanced CodedFrames without cts ignored", body: cat([]byte{0x80 | 1<<4 | exVideoCodedFrames}, []byte("hvc1"), []byte{0, 0}),
			want: VideoPacket{Type: VideoIgnored, Codec: media.CodecH265}},
		{name: "multitrack type 6 ignored", body: cat([]byte{0x80 | 1<<4 | exVideoMultitrack}, []byte("hvc1")),
			want: VideoPacket{Type: VideoIgnored}},
		{name: "multitrack OneTrack default", body: cat([]byte{0x80 | 1<<4 | exVideoMultitrack, multitrackOneTrack<<4 | exVideoCodedFrames}, []byte("avc1"), []byte{0, 0, 0, 40}, nalus),
			want: VideoPacket{Type: VideoFrame, Codec: media.CodecH264, Key: true, CTS: ms(40), Data: nalus}},

		{name: "legacy Sorenson H.263", body: []byte{0x22, 0, 0, 0}, wantErr: ErrUnsupportedCodec},
		{name: "legacy VP6", body: []byte{0x14, 0, 0, 0, 0}, wantErr: ErrUnsupportedCodec},
		{name: "legacy codec id 13", body: []byte{0x1d, 1, 0, 0, 0}, wantErr: ErrUnsupportedCodec},
		{name: "enhanced vvc1", body: cat([]byte{0x80 | 1<<4 | exVideoCodedFrames}, []byte("vvc1"), []byte{0, 0, 0, 1}), wantErr: ErrUnsupportedCodec},
		{name: "multitrack of vvc1", body: cat([]byte{0x80 | 1<<4 | exVideoMultitrack, exVideoCodedFramesX}, []byte("vvc1"), []byte{0, 1}), wantErr: ErrUnsupportedCodec},

		{name: "empty", body: nil, wantErr: errAny},
		{name: "legacy AVC 1 byte", body: []byte{0x17}, wantErr: errAny},
		{name: "legacy AVC 4 bytes", body: []byte{0x17, 1, 0, 0}, wantErr: errAny},
		{name: "legacy AVC packet type 3", body: []byte{0x17, 3, 0, 0, 0}, wantErr: errAny},
		{name: "enhanced FourCC cut", body: []byte{0x80 | 1<<4, 'h', 'v', 'c'}, wantErr: errAny},
		{name: "enhanced ModEx without size", body: []byte{0x80 | 1<<4 | exVideoModEx}, wantErr: errAny},
		{name: "enhanced ModEx data cut", body: []byte{0x80 | 1<<4 | exVideoModEx, 5, 0, 0}, wantErr: errAny},
		{name: "multitrack header missing", body: []byte{0x80 | 1<<4 | exVideoMultitrack}, wantErr: errAny},
		{name: "multitrack ManyTracks size beyond body", body: cat([]byte{0x80 | 1<<4 | exVideoMultitrack, multitrackManyTracks<<4 | exVideoCodedFramesX}, []byte("av01"), []byte{0, 0, 0, 9, 1}), wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseVideo(tt.body)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatal(err)
			case tt.wantErr != nil && err == nil:
				t.Fatalf("got %+v, want an error", p)
			case tt.wantErr == ErrUnsupportedCodec && !errors.Is(err, ErrUnsupportedCodec):
				t.Fatalf("error %v does not wrap ErrUnsupportedCodec", err)
			case tt.wantErr == errAny && errors.Is(err, ErrUnsupportedCodec):
				t.Fatalf("malformed body reported as unsupported codec: %v", err)
			}
			if tt.wantErr != nil {
				return
			}
			if p.Type != tt.want.Type || p.Codec != tt.want.Codec || p.Key != tt.want.Key || p.CTS != tt.want.CTS ||
				!bytes.Equal(p.Data, tt.want.Data) || (p.Data == nil) != (tt.want.Data == nil) {
				t.Errorf("got  %+v\nwant %+v", p, tt.want)
			}
			if p.Type == VideoSequenceHeader && (p.Codec == media.CodecH264 || p.Codec == media.CodecH265) {
				if _, _, err := videoTrack(p); err != nil {
					t.Errorf("sequence header does not give a track: %v", err)
				}
			}
		})
	}
}

// errAny marks a test case that must fail with some error.
var errAny = errors.New("any error")

func TestAudioBodyRoundTrip(t *testing.T) {
	_, aac := clipTracks(t, "h264_aac.flv")
	g711a, err := media.NewG711Track(media.CodecG711A, 8000, 1)
	if err != nil {
		t.Fatal(err)
	}
	g711u, err := media.NewG711Track(media.CodecG711U, 8000, 2)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte{0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c}
	tests := []struct {
		name      string
		track     *media.Track
		wantFirst byte
		rate, ch  int // from the legacy header, for codecs without a config
	}{
		{"aac", aac, 0xaf, 0, 2},
		{"g711a mono", g711a, 0x72, 8000, 1},
		{"g711u stereo", g711u, 0x83, 8000, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &media.Frame{Track: tt.track, DTS: ms(23), PTS: ms(23), Key: true, Payload: payload}
			body := AppendAudioBody(nil, f)
			if body[0] != tt.wantFirst {
				t.Errorf("first byte %#x, want %#x", body[0], tt.wantFirst)
			}
			if len(body) != audioBodyHeaderLen(tt.track.Codec)+len(payload) {
				t.Errorf("body is %d bytes", len(body))
			}
			p, err := ParseAudio(body)
			if err != nil {
				t.Fatal(err)
			}
			if p.Codec != tt.track.Codec || p.SequenceHeader || p.Ignored || !bytes.Equal(p.Data, payload) {
				t.Errorf("parsed %+v", p)
			}
			if p.SampleRate != tt.rate || p.Channels != tt.ch {
				t.Errorf("rate %d channels %d, want %d %d", p.SampleRate, p.Channels, tt.rate, tt.ch)
			}
			if got := FrameBody(f); !bytes.Equal(got, body) {
				t.Error("FrameBody differs from AppendAudioBody")
			}
			if tag := FrameTag(f); TagType(tag[0]) != TagAudio {
				t.Errorf("tag type %d", tag[0])
			}

			sh := AudioSequenceHeaderBody(tt.track)
			if tt.track.Codec != media.CodecAAC {
				if sh != nil || AppendSequenceHeaderTag([]byte{1}, tt.track, 0)[0] != 1 || len(AppendSequenceHeaderTag(nil, tt.track, 0)) != 0 {
					t.Errorf("sequence header for %v: % x", tt.track.Codec, sh)
				}
				return
			}
			p, err = ParseAudio(sh)
			if err != nil {
				t.Fatal(err)
			}
			if !p.SequenceHeader || p.Codec != media.CodecAAC || !bytes.Equal(p.Data, tt.track.AACConfig) {
				t.Errorf("sequence header parsed %+v", p)
			}
			got, err := media.NewAACTrack(p.Data)
			if err != nil || !got.SameConfig(tt.track) {
				t.Errorf("track %v, %v; want %v", got, err, tt.track)
			}
		})
	}
}

func TestParseAudioHandBuilt(t *testing.T) {
	asc := []byte{0x12, 0x10}
	frame := []byte{0x21, 0x00, 0x49}
	opusHead := appendOpusHead(nil, &media.Track{Codec: media.CodecOpus, Channels: 2})
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	ex := func(packetType byte, fourCC string, rest ...byte) []byte {
		return cat([]byte{soundExHeader<<4 | packetType}, []byte(fourCC), rest)
	}
	tests := []struct {
		name    string
		body    []byte
		want    AudioPacket
		wantErr error
	}{
		{name: "legacy AAC sequence header", body: cat([]byte{0xaf, 0}, asc),
			want: AudioPacket{Codec: media.CodecAAC, SequenceHeader: true, Data: asc, Channels: 2}},
		{name: "legacy AAC mono flag", body: cat([]byte{0xae, 1}, frame),
			want: AudioPacket{Codec: media.CodecAAC, Data: frame, Channels: 1}},
		{name: "enhanced mp4a sequence start", body: ex(exAudioSequenceStart, "mp4a", asc...),
			want: AudioPacket{Codec: media.CodecAAC, SequenceHeader: true, Data: asc}},
		{name: "enhanced mp4a coded frames", body: ex(exAudioCodedFrames, "mp4a", frame...),
			want: AudioPacket{Codec: media.CodecAAC, Data: frame}},
		{name: "enhanced mp4a sequence end", body: ex(exAudioSequenceEnd, "mp4a"),
			want: AudioPacket{Codec: media.CodecAAC, Ignored: true, Data: []byte{}}},
		{name: "legacy G.711 A-law empty", body: []byte{0x72},
			want: AudioPacket{Codec: media.CodecG711A, Data: []byte{}, SampleRate: 8000, Channels: 1}},

		{name: "legacy MP3", body: []byte{0x2f, 0xff, 0xfb},
			want: AudioPacket{Codec: media.CodecMP3, Data: []byte{0xff, 0xfb}, Channels: 2}},
		{name: "legacy MP3 8 kHz", body: []byte{0xe2, 0xff, 0xf3},
			want: AudioPacket{Codec: media.CodecMP3, Data: []byte{0xff, 0xf3}, Channels: 1}},
		{name: "enhanced Opus", body: ex(exAudioCodedFrames, "Opus", 1),
			want: AudioPacket{Codec: media.CodecOpus, Data: []byte{1}}},
		{name: "enhanced Opus sequence start", body: ex(exAudioSequenceStart, "Opus", opusHead...),
			want: AudioPacket{Codec: media.CodecOpus, SequenceHeader: true, Data: opusHead}},
		{name: "enhanced .mp3", body: ex(exAudioCodedFrames, ".mp3", 1),
			want: AudioPacket{Codec: media.CodecMP3, Data: []byte{1}}},
		{name: "enhanced ModEx then Opus", body: cat([]byte{soundExHeader<<4 | exAudioModEx, 0, 9, exAudioCodedFrames}, []byte("Opus"), []byte{7}),
			want: AudioPacket{Codec: media.CodecOpus, Data: []byte{7}}},
		{name: "enhanced multichannel config ignored", body: ex(exAudioMultichannelConfig, "Opus", 1, 2),
			want: AudioPacket{Codec: media.CodecOpus, Ignored: true, Data: []byte{1, 2}}},
		{name: "enhanced multitrack type 6 ignored", body: ex(exAudioMultitrack, "mp4a", 1),
			want: AudioPacket{Ignored: true}},
		{name: "multitrack OneTrack default Opus", body: cat([]byte{soundExHeader<<4 | exAudioMultitrack, exAudioCodedFrames}, []byte("Opus"), []byte{0, 9}),
			want: AudioPacket{Codec: media.CodecOpus, Data: []byte{9}}},
		{name: "enhanced fLaC", body: ex(exAudioCodedFrames, "fLaC", 1), wantErr: ErrUnsupportedCodec},
		{name: "legacy Speex", body: []byte{0xb2, 0}, wantErr: ErrUnsupportedCodec},
		{name: "legacy Nellymoser", body: []byte{0x62, 0}, wantErr: ErrUnsupportedCodec},
		{name: "multitrack ManyTracks cut", body: cat([]byte{soundExHeader<<4 | exAudioMultitrack, multitrackManyTracks<<4 | exAudioCodedFrames}, []byte("Opus"), []byte{0, 0, 0}), wantErr: errAny},

		{name: "empty", body: nil, wantErr: errAny},
		{name: "AAC header byte only", body: []byte{0xaf}, wantErr: errAny},
		{name: "AAC packet type 2", body: []byte{0xaf, 2, 1}, wantErr: errAny},
		{name: "enhanced FourCC cut", body: []byte{0x90, 'm', 'p'}, wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseAudio(tt.body)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatal(err)
			case tt.wantErr != nil && err == nil:
				t.Fatalf("got %+v, want an error", p)
			case tt.wantErr == ErrUnsupportedCodec && !errors.Is(err, ErrUnsupportedCodec):
				t.Fatalf("error %v does not wrap ErrUnsupportedCodec", err)
			case tt.wantErr == errAny && errors.Is(err, ErrUnsupportedCodec):
				t.Fatalf("malformed body reported as unsupported codec: %v", err)
			}
			if tt.wantErr != nil {
				return
			}
			if p.Codec != tt.want.Codec || p.SequenceHeader != tt.want.SequenceHeader || p.Ignored != tt.want.Ignored ||
				!bytes.Equal(p.Data, tt.want.Data) || p.SampleRate != tt.want.SampleRate || p.Channels != tt.want.Channels {
				t.Errorf("got  %+v\nwant %+v", p, tt.want)
			}
		})
	}
}

// TestTruncatedBodies cuts real bodies at every length: parsing must fail
// or succeed, never panic, and never return data beyond the cut.
func TestTruncatedBodies(t *testing.T) {
	avc, aac := clipTracks(t, "h264_aac.flv")
	hevc := hevcTrack(t)
	payload := media.AppendAVCC(nil, []byte{0x65, 0x88, 0x84}, []byte{0x06, 5, 1})
	bodies := [][]byte{
		VideoSequenceHeaderBody(avc),
		VideoSequenceHeaderBody(hevc),
		AppendVideoBody(nil, &media.Frame{Track: avc, Key: true, PTS: ms(40), Payload: payload}),
		AppendVideoBody(nil, &media.Frame{Track: hevc, Key: true, PTS: ms(40), Payload: payload}),
		AudioSequenceHeaderBody(aac),
		AppendAudioBody(nil, &media.Frame{Track: aac, Payload: []byte{1, 2, 3}}),
		{soundExHeader<<4 | exAudioSequenceStart, 'm', 'p', '4', 'a', 0x12, 0x10},
	}
	for i, full := range bodies {
		for n := 0; n < len(full); n++ {
			body := full[:n:n]
			if full[0]&0xf0 == soundAAC<<4 || full[0]&0xf0 == soundExHeader<<4 {
				if p, err := ParseAudio(body); err == nil && len(p.Data) > n {
					t.Errorf("body %d cut at %d: %d data bytes", i, n, len(p.Data))
				}
				continue
			}
			p, err := ParseVideo(body)
			if err != nil {
				if n >= 5 && errors.Is(err, ErrUnsupportedCodec) {
					t.Errorf("body %d cut at %d: %v", i, n, err)
				}
				continue
			}
			if p.Type == VideoSequenceHeader {
				if _, _, err := videoTrack(p); err == nil {
					t.Errorf("body %d cut at %d of %d: sequence header still gives a track", i, n, len(full))
				}
			}
		}
	}
}

func TestConvertLengthSize(t *testing.T) {
	a, b := []byte{0x65, 1, 2}, []byte{0x06}
	long := bytes.Repeat([]byte{0x41}, 300)
	want := media.AppendAVCC(nil, a, b)
	tests := []struct {
		name       string
		in         []byte
		lengthSize int
		want       []byte
		wantErr    bool
	}{
		{"1-byte lengths", []byte{3, 0x65, 1, 2, 1, 0x06}, 1, want, false},
		{"2-byte lengths", []byte{0, 3, 0x65, 1, 2, 0, 1, 0x06}, 2, want, false},
		{"2-byte long unit", append([]byte{1, 44}, long...), 2, media.AppendAVCC(nil, long), false},
		{"4-byte lengths unchanged", want, 4, want, false},
		{"zero-length unit", []byte{0, 1, 0x06}, 1, media.AppendAVCC(nil, nil, b), false},
		{"empty", nil, 2, []byte{}, false},

		{"1-byte unit cut", []byte{3, 0x65, 1}, 1, nil, true},
		{"2-byte length cut", []byte{0, 1, 0x06, 0}, 2, nil, true},
		{"2-byte unit cut", []byte{0, 3, 0x65}, 2, nil, true},
		{"length size 3", []byte{0, 0, 1, 0x06}, 3, nil, true},
		{"length size 3 empty", nil, 3, nil, true},
		{"length size 0", []byte{1, 0x06}, 0, nil, true},
		{"length size 8", []byte{0, 0, 0, 0, 0, 0, 0, 1, 0x06}, 8, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConvertLengthSize(tt.in, tt.lengthSize)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got % x, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("got % x, want % x", got, tt.want)
			}
		})
	}
}
