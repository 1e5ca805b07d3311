package flv

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mediakit/mediakit/pkg/media"
)

// Legacy FLV SoundFormat values.
const (
	soundMP3      = 2
	soundG711A    = 7
	soundG711U    = 8
	soundAAC      = 10
	soundExHeader = 9  // Enhanced RTMP audio
	soundMP38k    = 14 // MP3 at 8 kHz
)

// Enhanced RTMP audio packet types.
const (
	exAudioSequenceStart      = 0
	exAudioCodedFrames        = 1
	exAudioSequenceEnd        = 2
	exAudioMultichannelConfig = 4
	exAudioMultitrack         = 5
	exAudioModEx              = 7
)

var (
	fourCCMP4A = [4]byte{'m', 'p', '4', 'a'}
	fourCCOpus = [4]byte{'O', 'p', 'u', 's'}
	fourCCMP3  = [4]byte{'.', 'm', 'p', '3'}
)

// AudioPacket is a decoded audio tag body, or one track of a multitrack
// body. Data aliases the body.
type AudioPacket struct {
	Codec          media.Codec
	SequenceHeader bool   // Data is the configuration: AudioSpecificConfig, OpusHead (empty for MP3)
	Ignored        bool   // nothing to forward (sequence end, multichannel config, unknown types)
	Data           []byte // one raw codec frame, or the config
	// From the legacy header, for codecs without a configuration record.
	SampleRate int
	Channels   int
	// TrackID is the track's id in a multitrack body; 0, the default
	// track, otherwise.
	TrackID uint8
	// Unsupported names the codec ("FourCC fLaC", "sound format 11")
	// when mediakit does not carry it; Codec is then CodecUnknown.
	Unsupported string
}

// ParseAudio decodes an audio tag body, legacy or enhanced. Of a multitrack
// body it returns the first track's packet. A codec mediakit does not carry
// is an error wrapping ErrUnsupportedCodec.
func ParseAudio(body []byte) (AudioPacket, error) {
	var first AudioPacket
	found := false
	err := EachAudioPacket(body, func(p AudioPacket) error {
		if !found {
			first, found = p, true
		}
		return nil
	})
	if err != nil {
		return AudioPacket{}, err
	}
	if first.Unsupported != "" {
		return AudioPacket{}, fmt.Errorf("flv: audio %s: %w", first.Unsupported, ErrUnsupportedCodec)
	}
	return first, nil
}

// EachAudioPacket decodes an audio tag body, legacy or enhanced (Enhanced
// RTMP v2: ModEx prefixes, multitrack bodies), and calls fn with each
// track's packet, like EachVideoPacket.
func EachAudioPacket(body []byte, fn func(AudioPacket) error) error {
	if len(body) < 1 {
		return fmt.Errorf("flv: audio body: empty")
	}
	format := body[0] >> 4
	p := AudioPacket{Channels: 1}
	if body[0]&0x01 != 0 {
		p.Channels = 2
	}
	switch format {
	case soundAAC:
		if len(body) < 2 {
			return fmt.Errorf("flv: AAC body: %d bytes is too short", len(body))
		}
		p.Codec = media.CodecAAC
		switch body[1] {
		case 0:
			p.SequenceHeader = true
		case 1:
		default:
			return fmt.Errorf("flv: AAC packet type %d is invalid", body[1])
		}
		p.Data = body[2:]
		return fn(p)
	case soundG711A, soundG711U:
		p.Codec = media.CodecG711A
		if format == soundG711U {
			p.Codec = media.CodecG711U
		}
		p.SampleRate = 8000
		p.Data = body[1:]
		return fn(p)
	case soundMP3, soundMP38k:
		// Rate and channels come from the frame header.
		p.Codec = media.CodecMP3
		p.Data = body[1:]
		return fn(p)
	case soundExHeader:
		return eachExAudio(body, fn)
	}
	return fn(AudioPacket{Ignored: true, Unsupported: fmt.Sprintf("sound format %d", format)})
}

func eachExAudio(body []byte, fn func(AudioPacket) error) error {
	packetType, b, err := skipModEx(body[0]&0x0f, body[1:], exAudioModEx)
	if err != nil {
		return err
	}
	if packetType != exAudioMultitrack {
		if len(b) < 4 {
			return fmt.Errorf("flv: enhanced audio body: %d bytes is too short", len(body))
		}
		return fn(exAudioPacket(packetType, [4]byte(b[:4]), b[4:]))
	}
	h, b, err := parseMultitrackHeader(b)
	if err != nil {
		return err
	}
	if h.kind > multitrackManyTracksManyCodecs || h.packetType == exAudioMultitrack || h.packetType == exAudioModEx {
		return fn(AudioPacket{Ignored: true}) // not defined by the spec
	}
	return h.eachTrack(b, func(fourCC [4]byte, id uint8, track []byte) error {
		p := exAudioPacket(h.packetType, fourCC, track)
		p.TrackID = id
		return fn(p)
	})
}

// exAudioPacket decodes one track's enhanced audio body (after the FourCC).
func exAudioPacket(packetType uint8, fourCC [4]byte, data []byte) AudioPacket {
	var p AudioPacket
	switch fourCC {
	case fourCCMP4A:
		p.Codec = media.CodecAAC
	case fourCCOpus:
		p.Codec = media.CodecOpus
	case fourCCMP3:
		p.Codec = media.CodecMP3
	default:
		return AudioPacket{Ignored: true, Unsupported: fourCCName(fourCC)}
	}
	p.Data = data
	switch packetType {
	case exAudioSequenceStart:
		p.SequenceHeader = true
	case exAudioCodedFrames:
	default: // sequence end, multichannel config, types to come
		p.Ignored = true
	}
	return p
}

// opusHeadChannels returns the channel count of an OpusHead (RFC 7845).
func opusHeadChannels(head []byte) (int, error) {
	if len(head) < 19 || string(head[:8]) != "OpusHead" {
		return 0, errors.New("flv: Opus sequence start: not an OpusHead")
	}
	return int(head[9]), nil
}

// appendOpusHead appends the OpusHead of t (RFC 7845 section 5.1; little
// endian). mediakit does not keep the encoder's pre-skip, so it is 0.
func appendOpusHead(dst []byte, t *media.Track) []byte {
	dst = append(dst, "OpusHead"...)
	dst = append(dst, 1, byte(t.Channels), 0, 0)
	dst = binary.LittleEndian.AppendUint32(dst, 48000)
	return append(dst, 0, 0, 0) // output gain, channel mapping family 0
}

// flvRateIndex is the legacy SoundRate field for rate: FLV knows 5.5, 11,
// 22 and 44 kHz only; readers take MP3's real rate from its frame header,
// and ffmpeg too writes 44 kHz for 48 kHz MP3.
func flvRateIndex(rate int) byte {
	switch {
	case rate >= 44100:
		return 3
	case rate >= 22050:
		return 2
	case rate >= 11025:
		return 1
	}
	return 0
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
	case media.CodecMP3:
		return soundMP3<<4 | flvRateIndex(t.SampleRate)<<2 | 1<<1 | stereo
	}
	return 0
}

// AudioSequenceHeaderBody returns the tag body carrying t's configuration,
// or nil for codecs that have none (G.711, MP3). Built once per track.
func AudioSequenceHeaderBody(t *media.Track) []byte {
	switch t.Codec {
	case media.CodecAAC:
		return t.Cached(media.EncodingFLV, func(t *media.Track) []byte {
			b := make([]byte, 0, 2+len(t.AACConfig))
			b = append(b, audioHeaderByte(t), 0)
			return append(b, t.AACConfig...)
		})
	case media.CodecOpus:
		return t.Cached(media.EncodingFLV, func(t *media.Track) []byte {
			b := make([]byte, 0, 5+19)
			b = append(b, soundExHeader<<4|exAudioSequenceStart)
			b = append(b, fourCCOpus[:]...)
			return appendOpusHead(b, t)
		})
	}
	return nil
}

func audioBodyHeaderLen(c media.Codec) int {
	switch c {
	case media.CodecAAC:
		return 2
	case media.CodecOpus:
		return 5 // ex header byte, FourCC
	}
	return 1
}

// AppendAudioBody appends the tag body of audio frame f.
func AppendAudioBody(dst []byte, f *media.Frame) []byte {
	return append(appendAudioBodyHeader(dst, f.Track), f.Payload...)
}

// appendAudioBodyHeader appends what precedes the payload of a frame of t.
func appendAudioBodyHeader(dst []byte, t *media.Track) []byte {
	switch t.Codec {
	case media.CodecAAC:
		return append(dst, audioHeaderByte(t), 1)
	case media.CodecOpus:
		dst = append(dst, soundExHeader<<4|exAudioCodedFrames)
		return append(dst, fourCCOpus[:]...)
	}
	return append(dst, audioHeaderByte(t))
}

// SupportsCodec reports whether FLV (legacy or enhanced) can carry c:
// H.264, AAC, G.711 and MP3 in legacy FLV; H.265, AV1, VP9 and Opus in
// Enhanced FLV.
func SupportsCodec(c media.Codec) bool {
	return c.Kind() != 0 // every codec mediakit has
}
