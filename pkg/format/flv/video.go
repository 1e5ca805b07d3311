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
	fourCCAV1  = [4]byte{'a', 'v', '0', '1'}
	fourCCVP9  = [4]byte{'v', 'p', '0', '9'}
)

// Enhanced RTMP v2 multitrack types (video and audio alike).
const (
	multitrackOneTrack             = 0
	multitrackManyTracks           = 1
	multitrackManyTracksManyCodecs = 2
)

// VideoPacketType tells what a video body holds.
type VideoPacketType uint8

// Video packet types.
const (
	VideoSequenceHeader VideoPacketType = iota + 1 // codec configuration record
	VideoFrame                                     // one access unit in the codec's payload form
	VideoEndOfSequence
	VideoIgnored // metadata, command frames, unknown packet types: nothing to forward
)

// ErrUnsupportedCodec marks a body whose codec mediakit does not carry.
var ErrUnsupportedCodec = errors.New("unsupported codec")

// VideoPacket is a decoded video tag body, or one track of a multitrack
// body. Data aliases the body.
type VideoPacket struct {
	Type  VideoPacketType
	Codec media.Codec
	Key   bool
	CTS   time.Duration
	Data  []byte // configuration record, or the frame: AVCC NAL units (H.264/H.265), OBUs (AV1), a VP9 frame
	// TrackID is the track's id in a multitrack body; 0, the default
	// track, otherwise.
	TrackID uint8
	// Unsupported names the codec ("FourCC vvc1", "codec id 4") when
	// mediakit does not carry it; Codec is then CodecUnknown.
	Unsupported string
}

// ParseVideo decodes a video tag body, legacy or enhanced. Of a multitrack
// body it returns the first track's packet. A codec mediakit does not carry
// is an error wrapping ErrUnsupportedCodec.
func ParseVideo(body []byte) (VideoPacket, error) {
	var first VideoPacket
	found := false
	err := EachVideoPacket(body, func(p VideoPacket) error {
		if !found {
			first, found = p, true
		}
		return nil
	})
	if err != nil {
		return VideoPacket{}, err
	}
	if first.Unsupported != "" {
		return VideoPacket{}, fmt.Errorf("flv: video %s: %w", first.Unsupported, ErrUnsupportedCodec)
	}
	return first, nil
}

// EachVideoPacket decodes a video tag body, legacy or enhanced (Enhanced
// RTMP v2: ModEx prefixes, multitrack bodies), and calls fn with each
// track's packet: once for a single-track body, once per track for a
// multitrack one. A track whose codec mediakit does not carry is passed
// with Unsupported set, so the caller can drop it and keep the others.
// Only a malformed body is an error.
func EachVideoPacket(body []byte, fn func(VideoPacket) error) error {
	if len(body) < 1 {
		return fmt.Errorf("flv: video body: empty")
	}
	if body[0]&0x80 != 0 {
		return eachExVideo(body, fn)
	}
	frameType := body[0] >> 4
	var p VideoPacket
	switch id := body[0] & 0x0f; id {
	case videoCodecAVC:
		p.Codec = media.CodecH264
	case videoCodecHEVC:
		p.Codec = media.CodecH265
	default:
		return fn(VideoPacket{Type: VideoIgnored, Unsupported: fmt.Sprintf("codec id %d", id)})
	}
	if frameType == 5 { // video info/command frame
		return fn(VideoPacket{Type: VideoIgnored, Codec: p.Codec})
	}
	if len(body) < 5 {
		return fmt.Errorf("flv: video body: %d bytes is too short", len(body))
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
		return fmt.Errorf("flv: video packet type %d is invalid", body[1])
	}
	return fn(p)
}

// skipModEx skips the ModEx prefixes of an enhanced body (audio and video
// alike): each carries modifier data (a sub-millisecond timestamp offset,
// which mediakit does not need) and is followed by the real packet type.
// b starts after the first byte; it returns the packet type and the rest.
func skipModEx(packetType uint8, b []byte, modEx uint8) (uint8, []byte, error) {
	for packetType == modEx {
		if len(b) < 1 {
			return 0, nil, errors.New("flv: enhanced body: ModEx size missing")
		}
		size := int(b[0]) + 1
		b = b[1:]
		if size == 256 {
			if len(b) < 2 {
				return 0, nil, errors.New("flv: enhanced body: ModEx size missing")
			}
			size = int(binary.BigEndian.Uint16(b)) + 1
			b = b[2:]
		}
		if len(b) < size+1 {
			return 0, nil, fmt.Errorf("flv: enhanced body: ModEx data of %d bytes is cut", size)
		}
		packetType = b[size] & 0x0f
		b = b[size+1:]
	}
	return packetType, b, nil
}

// multitrackHeader is the part of a multitrack body before its tracks.
type multitrackHeader struct {
	kind       uint8   // multitrackOneTrack, ...
	packetType uint8   // the packet type of every track
	fourCC     [4]byte // every track's codec, unless ManyTracksManyCodecs
}

func parseMultitrackHeader(b []byte) (multitrackHeader, []byte, error) {
	if len(b) < 1 {
		return multitrackHeader{}, nil, errors.New("flv: multitrack body: header missing")
	}
	h := multitrackHeader{kind: b[0] >> 4, packetType: b[0] & 0x0f}
	b = b[1:]
	if h.kind > multitrackManyTracksManyCodecs {
		return h, b, nil
	}
	if h.kind != multitrackManyTracksManyCodecs {
		if len(b) < 4 {
			return multitrackHeader{}, nil, errors.New("flv: multitrack body: FourCC cut")
		}
		h.fourCC = [4]byte(b[:4])
		b = b[4:]
	}
	return h, b, nil
}

// eachTrack splits the track part of a multitrack body and calls fn with
// each track's FourCC, id and body.
func (h multitrackHeader) eachTrack(b []byte, fn func(fourCC [4]byte, id uint8, body []byte) error) error {
	for {
		fourCC := h.fourCC
		if h.kind == multitrackManyTracksManyCodecs {
			if len(b) < 4 {
				return errors.New("flv: multitrack body: track FourCC cut")
			}
			fourCC = [4]byte(b[:4])
			b = b[4:]
		}
		if len(b) < 1 {
			return errors.New("flv: multitrack body: track id missing")
		}
		id := b[0]
		b = b[1:]
		track := b
		if h.kind != multitrackOneTrack {
			if len(b) < 3 {
				return errors.New("flv: multitrack body: track size missing")
			}
			n := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
			b = b[3:]
			if n > len(b) {
				return fmt.Errorf("flv: multitrack body: track of %d bytes is cut at %d", n, len(b))
			}
			track, b = b[:n], b[n:]
		}
		if err := fn(fourCC, id, track); err != nil {
			return err
		}
		if h.kind == multitrackOneTrack || len(b) == 0 {
			return nil
		}
	}
}

func eachExVideo(body []byte, fn func(VideoPacket) error) error {
	frameType := (body[0] >> 4) & 0x07
	packetType, b, err := skipModEx(body[0]&0x0f, body[1:], exVideoModEx)
	if err != nil {
		return err
	}
	if frameType == 5 && packetType != exVideoMetadata {
		// A command frame: one command byte, no FourCC, nothing to forward.
		return fn(VideoPacket{Type: VideoIgnored})
	}
	if packetType != exVideoMultitrack {
		if len(b) < 4 {
			return fmt.Errorf("flv: enhanced video body: %d bytes is too short", len(body))
		}
		return fn(exVideoPacket(frameType, packetType, [4]byte(b[:4]), b[4:]))
	}
	h, b, err := parseMultitrackHeader(b)
	if err != nil {
		return err
	}
	if h.kind > multitrackManyTracksManyCodecs || h.packetType == exVideoMultitrack || h.packetType == exVideoModEx {
		return fn(VideoPacket{Type: VideoIgnored}) // not defined by the spec
	}
	return h.eachTrack(b, func(fourCC [4]byte, id uint8, track []byte) error {
		p := exVideoPacket(frameType, h.packetType, fourCC, track)
		p.TrackID = id
		return fn(p)
	})
}

// exVideoPacket decodes one track's enhanced video body (after the FourCC).
// A body too short for its composition time is an ignored packet rather
// than an error, so one broken track of a multitrack body spares the others.
func exVideoPacket(frameType, packetType uint8, fourCC [4]byte, data []byte) VideoPacket {
	p := VideoPacket{Key: frameType == 1}
	switch fourCC {
	case fourCCAVC:
		p.Codec = media.CodecH264
	case fourCCHEVC:
		p.Codec = media.CodecH265
	case fourCCAV1:
		p.Codec = media.CodecAV1
	case fourCCVP9:
		p.Codec = media.CodecVP9
	default:
		return VideoPacket{Type: VideoIgnored, Unsupported: fourCCName(fourCC)}
	}
	switch packetType {
	case exVideoSequenceStart:
		p.Type = VideoSequenceHeader
	case exVideoCodedFrames:
		if p.Codec == media.CodecH264 || p.Codec == media.CodecH265 {
			if len(data) < 3 {
				return VideoPacket{Type: VideoIgnored, Codec: p.Codec, TrackID: p.TrackID}
			}
			p.CTS = si24(data)
			data = data[3:]
		}
		p.Type = VideoFrame
	case exVideoCodedFramesX:
		p.Type = VideoFrame
	case exVideoSequenceEnd:
		p.Type = VideoEndOfSequence
	default: // metadata (colour info), MPEG-2 TS sequence start, types to come
		p.Type = VideoIgnored
	}
	p.Data = data
	return p
}

// fourCCName is how a FourCC is named in logs: printable, bounded.
func fourCCName(cc [4]byte) string {
	b := make([]byte, 0, 4)
	for _, c := range cc {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		b = append(b, c)
	}
	return "FourCC " + string(b)
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
// configuration: legacy AVC for H.264, Enhanced RTMP SequenceStart for
// H.265 (hvcC), AV1 (av1C) and VP9 (vpcC). It is built once per track.
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
	case media.CodecAV1:
		b := make([]byte, 0, 16+len(t.AV1SequenceHeader))
		b = append(b, 0x80|1<<4|exVideoSequenceStart)
		b = append(b, fourCCAV1[:]...)
		return appendAV1Config(b, t.AV1SequenceHeader)
	case media.CodecVP9:
		b := make([]byte, 0, 5+vpcCLen)
		b = append(b, 0x80|1<<4|exVideoSequenceStart)
		b = append(b, fourCCVP9[:]...)
		return appendVP9Config(b, t.VP9)
	}
	return nil
}

// av1TemporalDelimiter opens every AV1 coded frame mediakit sends: the
// payload form has none, and ffmpeg's FLV reader wants one.
var av1TemporalDelimiter = []byte{0x12, 0x00}

// videoBodyHeaderLen is the bytes before the payload of a coded frame body.
func videoBodyHeaderLen(c media.Codec) int {
	switch c {
	case media.CodecH265:
		return 8 // ex header byte, FourCC, SI24 CTS
	case media.CodecAV1:
		return 5 + len(av1TemporalDelimiter)
	case media.CodecVP9:
		return 5 // ex header byte, FourCC
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
	case media.CodecAV1:
		// AV1 and VP9 CodedFrames have no composition time.
		dst = append(dst, 0x80|frameType<<4|exVideoCodedFrames)
		dst = append(dst, fourCCAV1[:]...)
		return append(dst, av1TemporalDelimiter...)
	case media.CodecVP9:
		dst = append(dst, 0x80|frameType<<4|exVideoCodedFrames)
		return append(dst, fourCCVP9[:]...)
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
