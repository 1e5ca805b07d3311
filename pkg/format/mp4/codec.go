package mp4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/mediakit/mediakit/pkg/media"
)

// FragmentedCarries reports whether fragmented MP4 as mediakit writes it
// (HTTP-fMP4, WS-fMP4, `mediakit remux --format fmp4`) carries codec c:
// every codec mediacommon's fMP4 writer has a sample entry for. G.711 is
// not among them (mediacommon writes no 'alaw'/'ulaw' entry, and the
// browsers' Media Source Extensions, which fMP4 streams are for, do not
// play it), so fMP4 outputs drop it.
func FragmentedCarries(c media.Codec) bool {
	switch c {
	case media.CodecH264, media.CodecH265, media.CodecAV1, media.CodecVP9,
		media.CodecAAC, media.CodecOpus, media.CodecMP3:
		return true
	}
	return false
}

// Carries reports whether an MP4 file (recording, `mediakit remux
// --format mp4`) carries codec c: what fragmented MP4 carries, and G.711
// in QuickTime's 'alaw'/'ulaw' sample entries.
func Carries(c media.Codec) bool {
	return FragmentedCarries(c) || c == media.CodecG711A || c == media.CodecG711U
}

// NotCarriedReason says why an MP4 output leaves a codec out, for
// DropTrack.
func NotCarriedReason(c media.Codec, fragmented bool) string {
	if fragmented && (c == media.CodecG711A || c == media.CodecG711U) {
		return "fMP4 has no G.711 sample entry here (mediacommon writes none; browsers' MSE does not play it)"
	}
	return "MP4 has no sample entry for " + c.String() + " here"
}

// SampleEntryCodec returns the mediacommon description of t's MP4 sample
// entry: avc1, hvc1 (the parameter sets in the entry, as Safari needs),
// av01 with av1C, vp09 with vpcC, mp4a (AAC, or MP3 with
// objectTypeIndication 0x6B) and Opus with dOps. It fails for codecs
// FragmentedCarries does not carry and for tracks without their
// configuration.
func SampleEntryCodec(t *media.Track) (codecs.Codec, error) {
	switch t.Codec {
	case media.CodecH264:
		if len(t.SPS) == 0 || len(t.PPS) == 0 {
			return nil, errors.New("mp4: H.264 track without SPS or PPS")
		}
		return &codecs.H264{SPS: t.SPS, PPS: t.PPS}, nil
	case media.CodecH265:
		if len(t.VPS) == 0 || len(t.SPS) == 0 || len(t.PPS) == 0 {
			return nil, errors.New("mp4: H.265 track without VPS, SPS or PPS")
		}
		return &codecs.H265{VPS: t.VPS, SPS: t.SPS, PPS: t.PPS}, nil
	case media.CodecAV1:
		if len(t.AV1SequenceHeader) == 0 {
			return nil, errors.New("mp4: AV1 track without a sequence header")
		}
		return &codecs.AV1{SequenceHeader: t.AV1SequenceHeader}, nil
	case media.CodecVP9:
		if t.Width <= 0 || t.Height <= 0 || t.Width > math.MaxUint16 || t.Height > math.MaxUint16 {
			return nil, fmt.Errorf("mp4: VP9 track of size %dx%d", t.Width, t.Height)
		}
		depth := t.VP9.BitDepth
		if depth == 0 {
			depth = 8
		}
		return &codecs.VP9{
			Width: t.Width, Height: t.Height, Profile: t.VP9.Profile, BitDepth: depth,
			ChromaSubsampling: t.VP9.ChromaSubsampling, ColorRange: t.VP9.FullRange,
		}, nil
	case media.CodecAAC:
		var conf mpeg4audio.AudioSpecificConfig
		if err := conf.Unmarshal(t.AACConfig); err != nil {
			return nil, fmt.Errorf("mp4: AAC AudioSpecificConfig %x: %w", t.AACConfig, err)
		}
		if conf.SampleRate <= 0 {
			return nil, fmt.Errorf("mp4: AAC AudioSpecificConfig %x: no sample rate", t.AACConfig)
		}
		return &codecs.MPEG4Audio{Config: conf}, nil
	case media.CodecOpus:
		return &codecs.Opus{ChannelCount: channelsOr2(t.Channels)}, nil
	case media.CodecMP3:
		if t.SampleRate <= 0 || t.SampleRate > math.MaxUint16 {
			return nil, fmt.Errorf("mp4: MP3 track of %d Hz", t.SampleRate)
		}
		return &codecs.MPEG1Audio{SampleRate: t.SampleRate, ChannelCount: channelsOr2(t.Channels)}, nil
	}
	return nil, fmt.Errorf("mp4: no fMP4 sample entry for %s", t.Codec)
}

func channelsOr2(n int) int {
	if n <= 0 || n > 8 {
		return 2
	}
	return n
}

// Timescale is the media timescale MP4 outputs use for t: 90 kHz for
// video, the sample rate for audio (48 kHz for Opus; AAC's core rate,
// as its frames count 1024 samples of it).
func Timescale(t *media.Track) uint32 {
	switch t.Codec {
	case media.CodecH264, media.CodecH265, media.CodecAV1, media.CodecVP9:
		return videoTimescale
	case media.CodecOpus:
		return 48000
	case media.CodecAAC:
		var conf mpeg4audio.AudioSpecificConfig
		if conf.Unmarshal(t.AACConfig) == nil && conf.SampleRate > 0 {
			return uint32(conf.SampleRate)
		}
	}
	if t.SampleRate > 0 {
		return uint32(t.SampleRate)
	}
	return 48000
}

// sampleEntry returns the bytes of c's sample entry box (with its
// configuration child boxes) as mediacommon writes it: it marshals a
// one-track init segment and takes the entry out of its stsd, so that
// the progressive writer and the fMP4 outputs describe a codec alike.
func sampleEntry(c codecs.Codec, id uint32, scale uint32) ([]byte, error) {
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: int(id), TimeScale: scale, Codec: c}}}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		return nil, fmt.Errorf("mp4: sample entry: %w", err)
	}
	b := buf.Bytes()
	for _, typ := range []string{"moov", "trak", "mdia", "minf", "stbl", "stsd"} {
		b = childBox(b, typ)
		if b == nil {
			return nil, fmt.Errorf("mp4: sample entry: no %s in mediacommon's init segment", typ)
		}
	}
	// stsd: version and flags, entry_count, then the entry.
	if len(b) < 16 {
		return nil, errors.New("mp4: sample entry: empty stsd")
	}
	b = b[8:]
	n := binary.BigEndian.Uint32(b)
	if n < 8 || int(n) > len(b) {
		return nil, errors.New("mp4: sample entry: bad size")
	}
	return append([]byte(nil), b[:n]...), nil
}

// childBox returns the payload of the first box of type typ in b, a
// sequence of boxes, or nil.
func childBox(b []byte, typ string) []byte {
	for len(b) >= 8 {
		n := binary.BigEndian.Uint32(b)
		if n < 8 || int(n) > len(b) {
			return nil
		}
		if string(b[4:8]) == typ {
			return b[8:n]
		}
		b = b[n:]
	}
	return nil
}
