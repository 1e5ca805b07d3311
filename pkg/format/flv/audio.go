package flv

import (
	"fmt"

	"github.com/mediakit/mediakit/pkg/media"
)

// Legacy FLV SoundFormat values.
const (
	soundMP3      = 2
	soundG711A    = 7
	soundG711U    = 8
	soundAAC      = 10
	soundExHeader = 9 // Enhanced RTMP audio
)

// Enhanced RTMP audio packet types.
const (
	exAudioSequenceStart = 0
	exAudioCodedFrames   = 1
	exAudioSequenceEnd   = 2
)

var fourCCMP4A = [4]byte{'m', 'p', '4', 'a'}

// AudioPacket is a decoded audio tag body. Data aliases the body.
type AudioPacket struct {
	Codec          media.Codec
	SequenceHeader bool   // Data is an AudioSpecificConfig
	Ignored        bool   // nothing to forward (sequence end)
	Data           []byte // one raw codec frame, or the config
	// From the legacy header, for codecs without a configuration record.
	SampleRate int
	Channels   int
}

// ParseAudio decodes an audio tag body, legacy or enhanced.
func ParseAudio(body []byte) (AudioPacket, error) {
	if len(body) < 1 {
		return AudioPacket{}, fmt.Errorf("flv: audio body: empty")
	}
	format := body[0] >> 4
	p := AudioPacket{Channels: 1}
	if body[0]&0x01 != 0 {
		p.Channels = 2
	}
	switch format {
	case soundAAC:
		if len(body) < 2 {
			return AudioPacket{}, fmt.Errorf("flv: AAC body: %d bytes is too short", len(body))
		}
		p.Codec = media.CodecAAC
		switch body[1] {
		case 0:
			p.SequenceHeader = true
		case 1:
		default:
			return AudioPacket{}, fmt.Errorf("flv: AAC packet type %d is invalid", body[1])
		}
		p.Data = body[2:]
		return p, nil
	case soundG711A, soundG711U:
		p.Codec = media.CodecG711A
		if format == soundG711U {
			p.Codec = media.CodecG711U
		}
		p.SampleRate = 8000
		p.Data = body[1:]
		return p, nil
	case soundExHeader:
		return parseExAudio(body)
	}
	return AudioPacket{}, fmt.Errorf("flv: sound format %d: %w", format, ErrUnsupportedCodec)
}

func parseExAudio(body []byte) (AudioPacket, error) {
	if len(body) < 5 {
		return AudioPacket{}, fmt.Errorf("flv: enhanced audio body: %d bytes is too short", len(body))
	}
	if [4]byte(body[1:5]) != fourCCMP4A {
		return AudioPacket{}, fmt.Errorf("flv: audio FourCC %q: %w", body[1:5], ErrUnsupportedCodec)
	}
	p := AudioPacket{Codec: media.CodecAAC, Data: body[5:]}
	switch body[0] & 0x0f {
	case exAudioSequenceStart:
		p.SequenceHeader = true
	case exAudioCodedFrames:
	case exAudioSequenceEnd:
		p.Ignored = true
	default:
		return AudioPacket{}, fmt.Errorf("flv: enhanced audio packet type %d: %w", body[0]&0x0f, ErrUnsupportedCodec)
	}
	return p, nil
}

// audioHeaderByte is the legacy SoundFormat/rate/size/type byte for t.
func audioHeaderByte(t *media.Track) byte {
	stereo := byte(0)
	if t.Channels > 1 {
		stereo = 1
	}
	switch t.Codec {
	case media.CodecAAC:
		// FLV readers take rate and channels from the AudioSpecificConfig;
		// the spec asks for 44 kHz, 16-bit, stereo here.
		return soundAAC<<4 | 3<<2 | 1<<1 | 1
	case media.CodecG711A:
		return soundG711A<<4 | 1<<1 | stereo
	case media.CodecG711U:
		return soundG711U<<4 | 1<<1 | stereo
	}
	return 0
}

// AudioSequenceHeaderBody returns the tag body carrying t's configuration,
// or nil for codecs that have none. Built once per track.
func AudioSequenceHeaderBody(t *media.Track) []byte {
	if t.Codec != media.CodecAAC {
		return nil
	}
	return t.Cached(media.EncodingFLV, func(t *media.Track) []byte {
		b := make([]byte, 0, 2+len(t.AACConfig))
		b = append(b, audioHeaderByte(t), 0)
		return append(b, t.AACConfig...)
	})
}

func audioBodyHeaderLen(c media.Codec) int {
	if c == media.CodecAAC {
		return 2
	}
	return 1
}

// AppendAudioBody appends the tag body of audio frame f.
func AppendAudioBody(dst []byte, f *media.Frame) []byte {
	dst = append(dst, audioHeaderByte(f.Track))
	if f.Track.Codec == media.CodecAAC {
		dst = append(dst, 1)
	}
	return append(dst, f.Payload...)
}

// SupportsCodec reports whether FLV (legacy or enhanced) can carry c.
func SupportsCodec(c media.Codec) bool {
	switch c {
	case media.CodecH264, media.CodecH265, media.CodecAAC, media.CodecG711A, media.CodecG711U:
		return true
	}
	return false
}
