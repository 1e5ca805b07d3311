package mp4

import (
	"bytes"
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
//
// mediacommon writes an AAC config of its own making: without the program
// config element of a channel configuration 0 (for which it writes a
// channel count instead) or the sync extension of implicit HE-AAC. An
// init segment marshalled from it needs WithAACConfigs, or MarshalInit,
// to carry the track's own config.
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
		conf, err := aacEntryConfig(t)
		if err != nil {
			return nil, err
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

// aacEntryConfig is mediacommon's reading of t's AudioSpecificConfig,
// with a channel count mediacommon can write in place of a program
// config element.
func aacEntryConfig(t *media.Track) (mpeg4audio.AudioSpecificConfig, error) {
	var conf mpeg4audio.AudioSpecificConfig
	if err := conf.Unmarshal(t.AACConfig); err != nil {
		return conf, fmt.Errorf("mp4: AAC AudioSpecificConfig %x: %w", t.AACConfig, err)
	}
	if conf.SampleRate <= 0 {
		return conf, fmt.Errorf("mp4: AAC AudioSpecificConfig %x: no sample rate", t.AACConfig)
	}
	if conf.ChannelConfig == 0 {
		conf.ChannelCount = 2 //nolint:staticcheck // what mediacommon writes from
		if n := t.Channels; (n >= 1 && n <= 6) || n == 8 {
			conf.ChannelCount = n //nolint:staticcheck
		}
	}
	return conf, nil
}

// MarshalInit marshals init, an fMP4 init segment whose tracks are
// tracks in order, as mediacommon does, with each AAC track's
// AudioSpecificConfig as the track has it (see WithAACConfigs).
func MarshalInit(init *fmp4.Init, tracks []*media.Track) ([]byte, error) {
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		return nil, fmt.Errorf("mp4: init segment: %w", err)
	}
	return WithAACConfigs(buf.Bytes(), tracks)
}

// WithAACConfigs returns init, an fMP4 init segment written by mediacommon
// (directly, or by gohlslib) whose trak boxes describe tracks in order,
// with the mp4a entry of every AAC track whose config mediacommon wrote
// otherwise than the track has it replaced by one with the track's own
// bytes: its program config element, sync extension and all. init is
// not modified; without such a track it is returned as is.
func WithAACConfigs(init []byte, tracks []*media.Track) ([]byte, error) {
	out := init
	moov, moovN := findBox(out, 0, len(out), "moov")
	if moov < 0 {
		return nil, errors.New("mp4: init segment without moov")
	}
	i := 0
	for pos := moov + 8; pos < moov+moovN; {
		at, n := findBox(out, pos, moov+moovN, "trak")
		if at < 0 {
			break
		}
		if i < len(tracks) && tracks[i] != nil && tracks[i].Codec == media.CodecAAC {
			var err error
			if out, n, err = replaceAACEntry(out, []int{moov, at}, tracks[i]); err != nil {
				return nil, err
			}
			_, moovN = findBox(out, moov, len(out), "moov")
		}
		i++
		pos = at + n
	}
	return out, nil
}

// replaceAACEntry rewrites the mp4a entry of the trak at path[len-1]
// (path holds the offsets of its ancestors, moov first) if its config
// differs from t's. It returns the segment, in a new slice when changed,
// and the new size of the trak.
func replaceAACEntry(b []byte, path []int, t *media.Track) ([]byte, int, error) {
	trak := path[len(path)-1]
	trakN := int(binary.BigEndian.Uint32(b[trak:]))
	conf, err := aacEntryConfig(t)
	if err != nil {
		return nil, 0, err
	}
	if written, err := conf.Marshal(); err == nil && bytes.Equal(written, t.AACConfig) {
		return b, trakN, nil
	}
	box, end := trak, trak+trakN
	for _, typ := range []string{"mdia", "minf", "stbl", "stsd"} {
		n := 0
		if box, n = findBox(b, box+8, end, typ); box < 0 {
			return nil, 0, fmt.Errorf("mp4: init segment: trak without %s", typ)
		}
		path = append(path, box)
		end = box + n
	}
	// stsd: header, version and flags, entry_count, then the entry.
	entry := box + 16
	if entry+8 > end || string(b[entry+4:entry+8]) != "mp4a" {
		return nil, 0, errors.New("mp4: init segment: AAC track without an mp4a entry")
	}
	entryN := int(binary.BigEndian.Uint32(b[entry:]))
	if entryN < 8 || entry+entryN > end {
		return nil, 0, errors.New("mp4: init segment: bad mp4a size")
	}
	var id uint32 = 1 // tkhd's track_ID, which the ES_Descriptor repeats
	if tkhd, n := findBox(b, trak+8, trak+trakN, "tkhd"); tkhd >= 0 && n >= 12 {
		off := tkhd + 20 // version 0: 32-bit creation and modification times
		if b[tkhd+8] == 1 {
			off = tkhd + 28
		}
		if off+4 <= tkhd+n {
			id = binary.BigEndian.Uint32(b[off:])
		}
	}
	var e builder
	appendMP4A(&e, &track{m: t, id: id, scale: uint32(conf.SampleRate), config: t.AACConfig})
	delta := len(e.b) - entryN
	out := make([]byte, 0, len(b)+delta)
	out = append(out, b[:entry]...)
	out = append(out, e.b...)
	out = append(out, b[entry+entryN:]...)
	for _, at := range path {
		n := binary.BigEndian.Uint32(out[at:])
		binary.BigEndian.PutUint32(out[at:], uint32(int(n)+delta))
	}
	return out, trakN + delta, nil
}

// findBox returns the offset and size of the first box of type typ among
// the boxes in b[from:to], or -1.
func findBox(b []byte, from, to int, typ string) (int, int) {
	for from+8 <= to {
		n := int(binary.BigEndian.Uint32(b[from:]))
		if n < 8 || from+n > to {
			return -1, 0
		}
		if string(b[from+4:from+8]) == typ {
			return from, n
		}
		from += n
	}
	return -1, 0
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
	at, n := findBox(b, 0, len(b), typ)
	if at < 0 {
		return nil
	}
	return b[at+8 : at+n]
}
