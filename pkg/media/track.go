package media

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg1audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"
)

// Track describes one elementary stream. A Track is immutable once built:
// when a publisher changes its codec configuration a new Track is made, and
// frames point to the Track they belong to, so a reader notices the change
// by comparing pointers.
type Track struct {
	Codec Codec

	// H.264: SPS, PPS. H.265: VPS, SPS, PPS. Without start codes.
	VPS, SPS, PPS []byte
	Width, Height int
	FPS           float64

	// AV1: the sequence header OBU, with its OBU header.
	AV1SequenceHeader []byte
	// VP9: profile and colour format, from a VPCodecConfigurationRecord
	// or the first keyframe's header.
	VP9 VP9Params

	// AAC: the AudioSpecificConfig bytes.
	AACConfig  []byte
	SampleRate int
	Channels   int

	cache encodedCache
}

// Kind is the kind of the track's codec.
func (t *Track) Kind() Kind { return t.Codec.Kind() }

// SameConfig reports whether two tracks carry the same codec configuration,
// so that a returning publisher with unchanged parameters keeps its Track.
func (t *Track) SameConfig(o *Track) bool {
	if t == nil || o == nil {
		return t == o
	}
	return t.Codec == o.Codec &&
		bytes.Equal(t.VPS, o.VPS) && bytes.Equal(t.SPS, o.SPS) && bytes.Equal(t.PPS, o.PPS) &&
		bytes.Equal(t.AV1SequenceHeader, o.AV1SequenceHeader) && t.VP9 == o.VP9 &&
		bytes.Equal(t.AACConfig, o.AACConfig) &&
		t.SampleRate == o.SampleRate && t.Channels == o.Channels
}

// Cached returns the bytes of this track in encoding enc (a sequence header,
// say), building them with build on first use. Safe for concurrent use.
func (t *Track) Cached(enc Encoding, build func(*Track) []byte) []byte {
	return t.cache.get(enc, func() []byte { return build(t) }, nil)
}

func (t *Track) String() string {
	switch t.Kind() {
	case KindVideo:
		return fmt.Sprintf("%s %dx%d", t.Codec, t.Width, t.Height)
	case KindAudio:
		return fmt.Sprintf("%s %dHz %dch", t.Codec, t.SampleRate, t.Channels)
	}
	return t.Codec.String()
}

// NewH264Track builds an H.264 track from its parameter sets.
func NewH264Track(sps, pps []byte) (*Track, error) {
	if len(sps) == 0 || len(pps) == 0 {
		return nil, fmt.Errorf("h264: missing SPS or PPS")
	}
	var s h264.SPS
	if err := s.Unmarshal(sps); err != nil {
		return nil, fmt.Errorf("h264: parse SPS: %w", err)
	}
	return &Track{
		Codec:  CodecH264,
		SPS:    clone(sps),
		PPS:    clone(pps),
		Width:  s.Width(),
		Height: s.Height(),
		FPS:    s.FPS(),
	}, nil
}

// NewH265Track builds an H.265 track from its parameter sets.
func NewH265Track(vps, sps, pps []byte) (*Track, error) {
	if len(vps) == 0 || len(sps) == 0 || len(pps) == 0 {
		return nil, fmt.Errorf("h265: missing VPS, SPS or PPS")
	}
	var s h265.SPS
	if err := s.Unmarshal(sps); err != nil {
		return nil, fmt.Errorf("h265: parse SPS: %w", err)
	}
	return &Track{
		Codec:  CodecH265,
		VPS:    clone(vps),
		SPS:    clone(sps),
		PPS:    clone(pps),
		Width:  s.Width(),
		Height: s.Height(),
		FPS:    s.FPS(),
	}, nil
}

// NewAACTrack builds an AAC track from its AudioSpecificConfig: what
// mediacommon reads (the codecs it takes: AAC LC, and HE-AAC v1/v2 over
// an LC core), with the channels of a program config element and the
// rate of SBR, signalled explicitly or by the sync extension.
func NewAACTrack(asc []byte) (*Track, error) {
	var c mpeg4audio.AudioSpecificConfig
	if err := c.Unmarshal(asc); err != nil {
		return nil, fmt.Errorf("aac: parse AudioSpecificConfig: %w", err)
	}
	conf, err := ParseAACConfig(asc)
	if err != nil {
		return nil, err
	}
	return &Track{
		Codec:      CodecAAC,
		AACConfig:  clone(asc),
		SampleRate: conf.SampleRate,
		Channels:   conf.Channels,
	}, nil
}

// NewG711Track builds a G.711 track (A-law or mu-law).
func NewG711Track(codec Codec, sampleRate, channels int) (*Track, error) {
	if codec != CodecG711A && codec != CodecG711U {
		return nil, fmt.Errorf("g711: not a G.711 codec: %s", codec)
	}
	if sampleRate <= 0 || channels <= 0 {
		return nil, fmt.Errorf("g711: invalid rate %d or channels %d", sampleRate, channels)
	}
	return &Track{Codec: codec, SampleRate: sampleRate, Channels: channels}, nil
}

// NewOpusTrack builds an Opus track. Opus is always timed at 48 kHz,
// whatever rate the encoder ran at (RFC 7587); channels is 1 or 2.
func NewOpusTrack(channels int) (*Track, error) {
	if channels != 1 && channels != 2 {
		return nil, fmt.Errorf("opus: invalid channel count %d", channels)
	}
	return &Track{Codec: CodecOpus, SampleRate: 48000, Channels: channels}, nil
}

// VP9Params is what a VP9 sample entry (vpcC) declares beyond the
// frame size.
type VP9Params struct {
	Profile           uint8
	BitDepth          uint8 // 8, 10 or 12
	ChromaSubsampling uint8 // vpcC's chromaSubsampling: 1 is 4:2:0 colocated
	FullRange         bool
}

// NewAV1Track builds an AV1 track from its sequence header OBU.
func NewAV1Track(sequenceHeader []byte) (*Track, error) {
	var h av1.SequenceHeader
	if err := h.Unmarshal(sequenceHeader); err != nil {
		return nil, fmt.Errorf("av1: parse sequence header: %w", err)
	}
	t := &Track{
		Codec:             CodecAV1,
		AV1SequenceHeader: clone(sequenceHeader),
		Width:             h.Width(),
		Height:            h.Height(),
	}
	if ti := h.TimingInfo; ti != nil && ti.NumUnitsInDisplayTick > 0 {
		t.FPS = float64(ti.TimeScale) / float64(ti.NumUnitsInDisplayTick)
	}
	return t, nil
}

// NewVP9Track builds a VP9 track from the frame size and parameters.
func NewVP9Track(width, height int, p VP9Params) (*Track, error) {
	if width <= 0 || height <= 0 {
		return nil, fmt.Errorf("vp9: invalid size %dx%d", width, height)
	}
	if p.BitDepth == 0 {
		p.BitDepth = 8
	}
	return &Track{Codec: CodecVP9, Width: width, Height: height, VP9: p}, nil
}

// NewVP9TrackFromKeyframe builds a VP9 track from a keyframe's
// uncompressed header, for containers that declare nothing else.
func NewVP9TrackFromKeyframe(frame []byte) (*Track, error) {
	var h vp9.Header
	if err := h.Unmarshal(frame); err != nil {
		return nil, fmt.Errorf("vp9: parse frame header: %w", err)
	}
	if h.NonKeyFrame || h.FrameSize == nil {
		return nil, errors.New("vp9: not a keyframe")
	}
	p := VP9Params{Profile: h.Profile, BitDepth: 8, ChromaSubsampling: h.ChromaSubsampling()}
	if c := h.ColorConfig; c != nil {
		p.BitDepth = c.BitDepth
		p.FullRange = c.ColorRange
	}
	return NewVP9Track(h.Width(), h.Height(), p)
}

// NewMP3Track builds an MP3 (MPEG-1/2 audio layer III) track from the
// header of one of its frames.
func NewMP3Track(frame []byte) (*Track, error) {
	var h mpeg1audio.FrameHeader
	if err := h.Unmarshal(frame); err != nil {
		return nil, fmt.Errorf("mp3: parse frame header: %w", err)
	}
	channels := 2
	if h.ChannelMode == mpeg1audio.ChannelModeMono {
		channels = 1
	}
	return &Track{Codec: CodecMP3, SampleRate: h.SampleRate, Channels: channels}, nil
}

// MP3FrameDuration is the playing time of one MP3 frame: 1152 samples
// for MPEG-1, 576 for MPEG-2 and 2.5, 0 if frame has no valid header.
func MP3FrameDuration(frame []byte) time.Duration {
	var h mpeg1audio.FrameHeader
	if h.Unmarshal(frame) != nil || h.SampleRate <= 0 {
		return 0
	}
	return time.Duration(h.SampleCount()) * time.Second / time.Duration(h.SampleRate)
}

// MP3FrameLen is the length of an MPEG audio frame, header included, 0
// for a header without a sample rate. mediacommon's FrameHeader.FrameLen
// (v2.9.5) assumes 1152 samples a frame, twice the real length of MPEG-2
// and 2.5 layer III frames (576 samples).
func MP3FrameLen(h *mpeg1audio.FrameHeader) int {
	if h.SampleRate <= 0 {
		return 0
	}
	n := h.SampleCount() / 8 * h.Bitrate / h.SampleRate
	if h.Padding {
		if h.Layer == 1 {
			return n + 4 // layer I pads with a 4-byte slot
		}
		n++
	}
	return n
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// encodedCache holds a per-object byte encoding per Encoding, built once.
type encodedCache [numEncodings]atomic.Pointer[[]byte]

// get returns the encoding enc, building it on first use. own, when not
// nil, is a field of the object that holds the bytes build may return
// (a frame's TagRoom, filled in as its FLV tag): the cache then points
// at that field instead of a slice header of its own, an allocation per
// frame less.
func (c *encodedCache) get(enc Encoding, build func() []byte, own *[]byte) []byte {
	if p := c[enc].Load(); p != nil {
		return *p
	}
	b := build()
	var p *[]byte
	if own != nil && len(b) > 0 && len(b) == len(*own) && cap(b) == cap(*own) && &b[0] == &(*own)[0] {
		p = own
	} else {
		p = boxed(b)
	}
	// Two readers may build at once; the first to store wins and both use
	// its bytes, so every reader writes identical data.
	if c[enc].CompareAndSwap(nil, p) {
		return b
	}
	return *c[enc].Load()
}

// boxed moves b to the heap, so that only the calls that need a box of
// their own allocate one.
func boxed(b []byte) *[]byte { return &b }
