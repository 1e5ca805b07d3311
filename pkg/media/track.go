package media

import (
	"bytes"
	"fmt"
	"sync/atomic"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
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
		bytes.Equal(t.AACConfig, o.AACConfig) &&
		t.SampleRate == o.SampleRate && t.Channels == o.Channels
}

// Cached returns the bytes of this track in encoding enc (a sequence header,
// say), building them with build on first use. Safe for concurrent use.
func (t *Track) Cached(enc Encoding, build func(*Track) []byte) []byte {
	return t.cache.get(enc, func() []byte { return build(t) })
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

// NewAACTrack builds an AAC track from its AudioSpecificConfig.
func NewAACTrack(asc []byte) (*Track, error) {
	var c mpeg4audio.AudioSpecificConfig
	if err := c.Unmarshal(asc); err != nil {
		return nil, fmt.Errorf("aac: parse AudioSpecificConfig: %w", err)
	}
	channels := int(c.ChannelCount)
	if channels == 0 {
		channels = 2
	}
	rate := c.SampleRate
	if c.ExtensionSampleRate != 0 {
		rate = c.ExtensionSampleRate
	}
	return &Track{
		Codec:      CodecAAC,
		AACConfig:  clone(asc),
		SampleRate: rate,
		Channels:   channels,
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

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// encodedCache holds a per-object byte encoding per Encoding, built once.
type encodedCache [numEncodings]atomic.Pointer[[]byte]

func (c *encodedCache) get(enc Encoding, build func() []byte) []byte {
	if p := c[enc].Load(); p != nil {
		return *p
	}
	b := build()
	// Two readers may build at once; the first to store wins and both use
	// its bytes, so every reader writes identical data.
	if c[enc].CompareAndSwap(nil, &b) {
		return b
	}
	return *c[enc].Load()
}
