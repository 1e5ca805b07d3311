package flv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/mediakit/mediakit/pkg/media"
)

// Legacy FLV video codec ids. 12 is the de-facto HEVC id used by Chinese
// CDNs, OBS forks, SRS and ZLMediaKit before Enhanced RTMP existed.
const (
	videoCodecAVC  = 7
	videoCodecHEVC = 12
)

// Enhanced RTMP video packet types (veovera enhanced-rtmp v1/v2).
const (
	exVideoSequenceStart = 0
	exVideoCodedFrames   = 1
	exVideoSequenceEnd   = 2
	exVideoCodedFramesX  = 3
	exVideoMetadata      = 4
	exVideoMPEG2TSStart  = 5
	exVideoMultitrack    = 6
	exVideoModEx         = 7
)

var (
	fourCCAVC  = [4]byte{'a', 'v', 'c', '1'}
	fourCCHEVC = [4]byte{'h', 'v', 'c', '1'}
)

// VideoPacketType tells what a video body holds.
type VideoPacketType uint8

// Video packet types.
const (
	VideoSequenceHeader VideoPacketType = iota + 1 // codec configuration record
	VideoFrame                                     // NAL units in AVCC form
	VideoEndOfSequence
	VideoIgnored // metadata, command frames: nothing to forward
)

// ErrUnsupportedCodec marks a body whose codec mediakit does not carry.
var ErrUnsupportedCodec = errors.New("unsupported codec")

// VideoPacket is a decoded video tag body. Data aliases the body.
type VideoPacket struct {
	Type  VideoPacketType
	Codec media.Codec
	Key   bool
	CTS   time.Duration
	Data  []byte // configuration record or AVCC NAL units
}

// ParseVideo decodes a video tag body, legacy or enhanced.
func ParseVideo(body []byte) (VideoPacket, error) {
	if len(body) < 1 {
		return VideoPacket{}, fmt.Errorf("flv: video body: empty")
	}
	if body[0]&0x80 != 0 {
		return parseExVideo(body)
	}
	frameType := body[0] >> 4
	var p VideoPacket
	switch body[0] & 0x0f {
	case videoCodecAVC:
		p.Codec = media.CodecH264
	case videoCodecHEVC:
		p.Codec = media.CodecH265
	default:
		return VideoPacket{}, fmt.Errorf("flv: video codec id %d: %w", body[0]&0x0f, ErrUnsupportedCodec)
	}
	if frameType == 5 { // video info/command frame
		return VideoPacket{Type: VideoIgnored, Codec: p.Codec}, nil
	}
	if len(body) < 5 {
		return VideoPacket{}, fmt.Errorf("flv: video body: %d bytes is too short", len(body))
	}
	p.Key = frameType == 1
	p.CTS = si24(body[2:5])
	p.Data = body[5:]
	switch body[1] {
	case 0:
		p.Type = VideoSequenceHeader
	case 1:
		p.Type = VideoFrame
	case 2:
		p.Type = VideoEndOfSequence
	default:
		return VideoPacket{}, fmt.Errorf("flv: video packet type %d is invalid", body[1])
	}
	return p, nil
}

func parseExVideo(body []byte) (VideoPacket, error) {
	packetType := body[0] & 0x0f
	frameType := (body[0] >> 4) & 0x07
	if packetType == exVideoMultitrack || packetType == exVideoModEx {
		return VideoPacket{}, fmt.Errorf("flv: enhanced video packet type %d: %w", packetType, ErrUnsupportedCodec)
	}
	if len(body) < 5 {
		return VideoPacket{}, fmt.Errorf("flv: enhanced video body: %d bytes is too short", len(body))
	}
	var p VideoPacket
	switch [4]byte(body[1:5]) {
	case fourCCAVC:
		p.Codec = media.CodecH264
	case fourCCHEVC:
		p.Codec = media.CodecH265
	default:
		return VideoPacket{}, fmt.Errorf("flv: video FourCC %q: %w", body[1:5], ErrUnsupportedCodec)
	}
	if frameType == 5 && packetType != exVideoSequenceStart && packetType != exVideoSequenceEnd {
		return VideoPacket{Type: VideoIgnored, Codec: p.Codec}, nil
	}
	p.Key = frameType == 1
	data := body[5:]
	switch packetType {
	case exVideoSequenceStart:
		p.Type = VideoSequenceHeader
	case exVideoCodedFrames:
		if len(data) < 3 {
			return VideoPacket{}, fmt.Errorf("flv: enhanced video body: missing composition time")
		}
		p.CTS = si24(data)
		data = data[3:]
		p.Type = VideoFrame
	case exVideoCodedFramesX:
		p.Type = VideoFrame
	case exVideoSequenceEnd:
		p.Type = VideoEndOfSequence
	case exVideoMetadata, exVideoMPEG2TSStart:
		p.Type = VideoIgnored
	default:
		return VideoPacket{}, fmt.Errorf("flv: enhanced video packet type %d is invalid", packetType)
	}
	p.Data = data
	return p, nil
}

func si24(b []byte) time.Duration {
	v := int32(uint32(b[0])<<16|uint32(b[1])<<8|uint32(b[2])) << 8 >> 8
	return time.Duration(v) * time.Millisecond
}

func appendSI24(dst []byte, d time.Duration) []byte {
	v := int32(d / time.Millisecond)
	return append(dst, byte(v>>16), byte(v>>8), byte(v))
}

// VideoSequenceHeaderBody returns the tag body that carries track's codec
// configuration: legacy AVC for H.264, Enhanced RTMP for H.265. It is built
// once per track.
func VideoSequenceHeaderBody(t *media.Track) []byte {
	return t.Cached(media.EncodingFLV, buildVideoSequenceHeader)
}

func buildVideoSequenceHeader(t *media.Track) []byte {
	switch t.Codec {
	case media.CodecH264:
		b := append(make([]byte, 0, 16+len(t.SPS)+len(t.PPS)), 0x10|videoCodecAVC, 0, 0, 0, 0)
		return media.AppendAVCConfig(b, t.SPS, t.PPS)
	case media.CodecH265:
		b := make([]byte, 0, 48+len(t.VPS)+len(t.SPS)+len(t.PPS))
		b = append(b, 0x80|1<<4|exVideoSequenceStart)
		b = append(b, fourCCHEVC[:]...)
		return media.AppendHEVCConfig(b, t.VPS, t.SPS, t.PPS)
	}
	return nil
}

// videoBodyHeaderLen is the bytes before the NAL units of a coded frame body.
func videoBodyHeaderLen(c media.Codec) int {
	if c == media.CodecH265 {
		return 8 // ex header byte, FourCC, SI24 CTS
	}
	return 5 // frame type/codec, packet type, SI24 CTS
}

// appendVideoBodyHeader appends what precedes the payload of frame f.
func appendVideoBodyHeader(dst []byte, f *media.Frame) []byte {
	frameType := byte(2)
	if f.Key {
		frameType = 1
	}
	switch f.Track.Codec {
	case media.CodecH265:
		dst = append(dst, 0x80|frameType<<4|exVideoCodedFrames)
		dst = append(dst, fourCCHEVC[:]...)
	default:
		dst = append(dst, frameType<<4|videoCodecAVC, 1)
	}
	return appendSI24(dst, f.CTS())
}

// AppendVideoBody appends the tag body of video frame f.
func AppendVideoBody(dst []byte, f *media.Frame) []byte {
	dst = appendVideoBodyHeader(dst, f)
	return append(dst, f.Payload...)
}

// ConvertLengthSize rewrites NAL units with lengthSize-byte prefixes into
// 4-byte prefixes, the form media.Frame carries.
func ConvertLengthSize(data []byte, lengthSize int) ([]byte, error) {
	switch lengthSize {
	case 4:
		return data, nil
	case 1, 2:
	default:
		return nil, fmt.Errorf("flv: NAL unit length size %d is invalid", lengthSize)
	}
	out := make([]byte, 0, len(data)+len(data)/8+16)
	for len(data) > 0 {
		if len(data) < lengthSize {
			return nil, fmt.Errorf("flv: truncated NAL unit length")
		}
		n := int(data[0])
		if lengthSize == 2 {
			n = int(binary.BigEndian.Uint16(data))
		}
		data = data[lengthSize:]
		if n > len(data) {
			return nil, fmt.Errorf("flv: truncated NAL unit")
		}
		out = media.AppendAVCC(out, data[:n])
		data = data[n:]
	}
	return out, nil
}
