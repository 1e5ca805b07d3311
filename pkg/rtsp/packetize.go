package rtsp

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpav1"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtplpcm"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg1audio"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpsimpleaudio"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpvp9"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/mediakit/mediakit/pkg/media"
)

// rtpPayloadMax is the largest RTP payload a player is sent: a packet
// with its 12-byte header fits gortsplib's UDP packet size (1472) with
// room to spare, and FU-A/FU fragments stay below Ethernet's MTU.
const rtpPayloadMax = 1400

// AAC-hbr (RFC 3640) AU header sizes of the SDP mediakit sends, the
// values every encoder uses.
const (
	aacSizeLength       = 13
	aacIndexLength      = 3
	aacIndexDeltaLength = 3
)

// packetRecord is the layout of one packet in a frame's EncodingRTP
// bytes: flags (bit 0: marker), the timestamp offset from the frame's
// (G.711 frames longer than a packet span several timestamps), the
// payload length, then the payload.
const packetRecordHeader = 1 + 4 + 2

// FramePackets returns f's RTP payloads in mediakit's packet-list form,
// built once per frame and shared by every RTSP player (see
// media.Frame.Cached): per player only the 12-byte RTP headers (and the
// 4-byte interleaved frame headers) differ. Walk it with EachPacket.
func FramePackets(f *media.Frame) []byte {
	return f.Cached(media.EncodingRTP, buildFramePackets)
}

// EachPacket calls fn for every packet of a FramePackets list until fn
// returns false. A list cut short ends the walk.
func EachPacket(list []byte, fn func(marker bool, tsOffset uint32, payload []byte) bool) {
	for len(list) >= packetRecordHeader {
		n := int(binary.BigEndian.Uint16(list[5:]))
		if len(list) < packetRecordHeader+n {
			return
		}
		if !fn(list[0]&1 != 0, binary.BigEndian.Uint32(list[1:]), list[packetRecordHeader:packetRecordHeader+n]) {
			return
		}
		list = list[packetRecordHeader+n:]
	}
}

// PacketCount is the number of packets of a FramePackets list.
func PacketCount(list []byte) int {
	n := 0
	for len(list) >= packetRecordHeader {
		size := packetRecordHeader + int(binary.BigEndian.Uint16(list[5:]))
		if len(list) < size {
			break
		}
		n++
		list = list[size:]
	}
	return n
}

// buildFramePackets packetizes f. It must stay pure (it runs at most a
// few times per frame, concurrently, and any result is kept): a frame
// that cannot be packetized gives no packets.
func buildFramePackets(f *media.Frame) []byte {
	pkts, err := packetize(f)
	if err != nil || len(pkts) == 0 {
		return nil
	}
	size := 0
	for _, p := range pkts {
		size += packetRecordHeader + len(p.Payload)
	}
	out := make([]byte, 0, size)
	for _, p := range pkts {
		var flags byte
		if p.Marker {
			flags = 1
		}
		out = append(out, flags)
		out = binary.BigEndian.AppendUint32(out, p.Timestamp)
		out = binary.BigEndian.AppendUint16(out, uint16(len(p.Payload)))
		out = append(out, p.Payload...)
	}
	return out
}

// Encoders get fixed numbering: only payloads, markers and timestamp
// offsets are kept, each player numbers its own packets. A fixed SSRC
// also spares Init a read of crypto/rand per frame.
var zero32 uint32

func fixedNumbering() (*uint32, *uint16) {
	seq := uint16(0)
	return &zero32, &seq
}

// packetize turns one frame into RTP packets (timestamps relative to the
// frame's) with gortsplib's encoders.
func packetize(f *media.Frame) ([]*rtp.Packet, error) {
	if f == nil || f.Track == nil || len(f.Payload) == 0 {
		return nil, nil
	}
	ssrc, seq := fixedNumbering()
	t := f.Track
	switch t.Codec {
	case media.CodecH264:
		nalus := accessUnit(f, t, media.CodecH264)
		if len(nalus) == 0 {
			return nil, nil
		}
		e := &rtph264.Encoder{PayloadMaxSize: rtpPayloadMax, PacketizationMode: 1, SSRC: ssrc, InitialSequenceNumber: seq}
		if err := e.Init(); err != nil {
			return nil, err
		}
		return e.Encode(nalus)
	case media.CodecH265:
		nalus := accessUnit(f, t, media.CodecH265)
		if len(nalus) == 0 {
			return nil, nil
		}
		e := &rtph265.Encoder{PayloadMaxSize: rtpPayloadMax, SSRC: ssrc, InitialSequenceNumber: seq}
		if err := e.Init(); err != nil {
			return nil, err
		}
		return e.Encode(nalus)
	case media.CodecAV1:
		obus, err := media.AV1OBUs(f.Payload)
		if err != nil || len(obus) == 0 {
			return nil, err
		}
		e := &rtpav1.Encoder{PayloadMaxSize: rtpPayloadMax, SSRC: ssrc, InitialSequenceNumber: seq}
		if err := e.Init(); err != nil {
			return nil, err
		}
		return e.Encode(obus)
	case media.CodecVP9:
		// The picture ID must change from frame to frame; frames are
		// packetized independently, so it comes from the PTS (in ms,
		// 15 bits, unique at any realistic frame rate).
		pid := uint16(f.PTS.Milliseconds()) & 0x7fff
		e := &rtpvp9.Encoder{PayloadMaxSize: rtpPayloadMax, SSRC: ssrc, InitialSequenceNumber: seq, InitialPictureID: &pid}
		if err := e.Init(); err != nil {
			return nil, err
		}
		return e.Encode(f.Payload)
	case media.CodecAAC:
		e := &rtpmpeg4audio.Encoder{PayloadMaxSize: rtpPayloadMax, SizeLength: aacSizeLength, IndexLength: aacIndexLength,
			IndexDeltaLength: aacIndexDeltaLength, SSRC: ssrc, InitialSequenceNumber: seq}
		if err := e.Init(); err != nil {
			return nil, err
		}
		return e.Encode([][]byte{f.Payload})
	case media.CodecOpus:
		e := &rtpsimpleaudio.Encoder{PayloadMaxSize: rtpPayloadMax, SSRC: ssrc, InitialSequenceNumber: seq}
		if err := e.Init(); err != nil {
			return nil, err
		}
		if len(f.Payload) > rtpPayloadMax {
			return nil, fmt.Errorf("rtsp: opus frame of %d bytes exceeds a packet", len(f.Payload))
		}
		p, err := e.Encode(f.Payload)
		if err != nil {
			return nil, err
		}
		p.Marker = true
		return []*rtp.Packet{p}, nil
	case media.CodecG711A, media.CodecG711U:
		channels := max(t.Channels, 1)
		e := &rtplpcm.Encoder{PayloadMaxSize: rtpPayloadMax - rtpPayloadMax%channels, BitDepth: 8, ChannelCount: channels,
			SSRC: ssrc, InitialSequenceNumber: seq}
		if err := e.Init(); err != nil {
			return nil, err
		}
		return e.Encode(f.Payload)
	case media.CodecMP3:
		e := &rtpmpeg1audio.Encoder{PayloadMaxSize: rtpPayloadMax, SSRC: ssrc, InitialSequenceNumber: seq}
		if err := e.Init(); err != nil {
			return nil, err
		}
		return e.Encode([][]byte{f.Payload})
	}
	return nil, fmt.Errorf("rtsp: no RTP packetization for %s", t.Codec)
}

// accessUnit returns the NAL units of a video frame. A keyframe that
// does not carry its parameter sets gets the track's in front: players
// then decode a keyframe whatever SDP they were given (the publisher may
// have changed them since), as MediaMTX does.
func accessUnit(f *media.Frame, t *media.Track, codec media.Codec) [][]byte {
	nalus := make([][]byte, 0, 8)
	var have [3]bool // VPS, SPS, PPS
	f.NALUs(func(n []byte) bool {
		if len(n) == 0 {
			return true
		}
		switch codec {
		case media.CodecH264:
			switch n[0] & 0x1f {
			case 7:
				have[1] = true
			case 8:
				have[2] = true
			}
		case media.CodecH265:
			switch (n[0] >> 1) & 0x3f {
			case 32:
				have[0] = true
			case 33:
				have[1] = true
			case 34:
				have[2] = true
			}
		}
		nalus = append(nalus, n)
		return true
	})
	if len(nalus) == 0 || !f.Key {
		return nalus
	}
	var params [][]byte
	switch codec {
	case media.CodecH264:
		if !have[1] && !have[2] && len(t.SPS) > 0 && len(t.PPS) > 0 {
			params = [][]byte{t.SPS, t.PPS}
		}
	case media.CodecH265:
		if !have[0] && !have[1] && !have[2] && len(t.VPS) > 0 && len(t.SPS) > 0 && len(t.PPS) > 0 {
			params = [][]byte{t.VPS, t.SPS, t.PPS}
		}
	}
	if params == nil {
		return nalus
	}
	return append(params, nalus...)
}

// payloadTypes of the SDP: the static G.711 types where they apply,
// otherwise dynamic ones.
const (
	ptVideo = 96
	ptAudio = 97
)

// Carries reports whether RTSP players are sent tracks of codec c: every
// codec mediakit knows (H.264, H.265, AV1, VP9, AAC, MP3, Opus, G.711).
func Carries(c media.Codec) bool {
	return c.Kind() != 0 // every codec mediakit has
}

// FormatForTrack returns the gortsplib format that describes t in an
// SDP, or an error for a codec RTSP players are not sent.
func FormatForTrack(t *media.Track) (format.Format, error) {
	switch t.Codec {
	case media.CodecH264:
		if len(t.SPS) == 0 || len(t.PPS) == 0 {
			return nil, fmt.Errorf("rtsp: H.264 track without SPS/PPS")
		}
		return &format.H264{PayloadTyp: ptVideo, SPS: t.SPS, PPS: t.PPS, PacketizationMode: 1}, nil
	case media.CodecH265:
		if len(t.VPS) == 0 || len(t.SPS) == 0 || len(t.PPS) == 0 {
			return nil, fmt.Errorf("rtsp: H.265 track without VPS/SPS/PPS")
		}
		return &format.H265{PayloadTyp: ptVideo, VPS: t.VPS, SPS: t.SPS, PPS: t.PPS}, nil
	case media.CodecAV1:
		return &format.AV1{PayloadTyp: ptVideo}, nil
	case media.CodecVP9:
		return &format.VP9{PayloadTyp: ptVideo}, nil
	case media.CodecAAC:
		return aacFormat(t)
	case media.CodecOpus:
		channels := t.Channels
		if channels != 1 && channels != 2 {
			channels = 2
		}
		return &format.Opus{PayloadTyp: ptAudio, ChannelCount: channels}, nil
	case media.CodecG711A, media.CodecG711U:
		rate, channels := t.SampleRate, t.Channels
		if rate <= 0 {
			rate = 8000
		}
		if channels <= 0 {
			channels = 1
		}
		mu := t.Codec == media.CodecG711U
		pt := uint8(ptAudio)
		if rate == 8000 && channels == 1 {
			pt = 8 // PCMA
			if mu {
				pt = 0 // PCMU
			}
		}
		return &format.G711{PayloadTyp: pt, MULaw: mu, SampleRate: rate, ChannelCount: channels}, nil
	case media.CodecMP3:
		return &format.MPEG1Audio{}, nil
	}
	return nil, fmt.Errorf("rtsp: %s is not sent to RTSP players", t.Codec)
}

// aacFormat describes an AAC track as RFC 3640's mpeg4-generic AAC-hbr
// with config= the AudioSpecificConfig as the track has it: gortsplib's
// MPEG4Audio writes mediacommon's rebuilding of it, which has no program
// config element (a 6.1 layout, say) nor the sync extension of implicit
// HE-AAC. The clock, and the rtpmap's rate, are the core's: gortsplib's
// reader takes that whatever the rtpmap says, ffmpeg takes the rtpmap's
// (gortsplib's MPEG4Audio declares the SBR rate of explicit HE-AAC while
// stamping in the core's).
func aacFormat(t *media.Track) (format.Format, error) {
	var cfg mpeg4audio.AudioSpecificConfig
	if err := cfg.Unmarshal(t.AACConfig); err != nil {
		return nil, fmt.Errorf("rtsp: AAC config %x: %w", t.AACConfig, err)
	}
	if cfg.SampleRate <= 0 {
		return nil, fmt.Errorf("rtsp: AAC config %x: no sample rate", t.AACConfig)
	}
	channels := max(t.Channels, 1)
	f := &format.Generic{
		PayloadTyp: ptAudio,
		RTPMa:      "mpeg4-generic/" + strconv.Itoa(cfg.SampleRate) + "/" + strconv.Itoa(channels),
		FMT: map[string]string{
			"streamtype":       "5",
			"mode":             "AAC-hbr",
			"profile-level-id": "1",
			"sizelength":       strconv.Itoa(aacSizeLength),
			"indexlength":      strconv.Itoa(aacIndexLength),
			"indexdeltalength": strconv.Itoa(aacIndexDeltaLength),
			"config":           hex.EncodeToString(t.AACConfig),
		},
	}
	if err := f.Init(); err != nil {
		return nil, fmt.Errorf("rtsp: AAC format: %w", err)
	}
	return f, nil
}
