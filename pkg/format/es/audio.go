package es

import (
	"bytes"
	"fmt"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg1audio"

	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/media"
)

// aacFrameSamples is the number of samples of an AAC-LC frame.
const aacFrameSamples = 1024

// g711Rate is the sample rate of G.711 in MPEG-PS and RTP (static payload
// types 0 and 8).
const g711Rate = 8000

// WriteAAC handles one or more ADTS frames; each becomes a frame, the
// i-th stamped pts + i*1024/rate. Frames before damaged data are kept and
// the error says where the damage starts.
func (in *Ingest) WriteAAC(pts time.Duration, adts []byte) error {
	if in.opts.OnlyTrack == OnlyVideo {
		in.stats.DroppedFiltered++
		return nil
	}
	if len(adts) > MaxAccessUnitSize {
		return in.refuse(warnTooLarge, fmt.Errorf("es: ADTS at %v of %d bytes: %w", pts, len(adts), ErrTooLarge))
	}
	for i, pos := 0, 0; pos < len(adts); i++ {
		h, err := parseADTS(adts[pos:])
		if err != nil {
			return in.refuse(warnADTS, fmt.Errorf("es: ADTS at %v, byte %d of %d: %w", pts, pos, len(adts), err))
		}
		t, err := in.aacTrack(h.config[:])
		if err != nil {
			return in.refuse(warnAACConfig, fmt.Errorf("es: ADTS at %v, byte %d: %w", pts, pos, err))
		}
		if err := in.setAudio(t); err != nil {
			return err
		}
		at := pts + time.Duration(int64(i)*aacFrameSamples*int64(time.Second)/int64(h.rate))
		payload := adts[pos+h.header : pos+h.length]
		pos += h.length
		if len(payload) == 0 {
			continue
		}
		if err := in.frame(audioFrame(t, at, payload)); err != nil {
			return err
		}
	}
	return nil
}

// WriteAACRaw handles one AAC access unit without ADTS header (RTP
// mpeg4-generic) and its AudioSpecificConfig. An empty config means the
// current AAC track's.
func (in *Ingest) WriteAACRaw(pts time.Duration, config []byte, au []byte) error {
	if in.opts.OnlyTrack == OnlyVideo {
		in.stats.DroppedFiltered++
		return nil
	}
	if len(au) > MaxAccessUnitSize {
		return in.refuse(warnTooLarge, fmt.Errorf("es: AAC access unit at %v of %d bytes: %w", pts, len(au), ErrTooLarge))
	}
	if len(au) == 0 {
		return nil
	}
	t := in.audio
	if len(config) > 0 {
		var err error
		if t, err = in.aacTrack(config); err != nil {
			return in.refuse(warnAACConfig, fmt.Errorf("es: AAC access unit at %v: %w", pts, err))
		}
		if err := in.setAudio(t); err != nil {
			return err
		}
	}
	if t == nil || t.Codec != media.CodecAAC {
		in.stats.DroppedNoConfig++
		in.warn(warnNoConfig, "es: AAC dropped until its configuration is known")
		return nil
	}
	return in.frame(audioFrame(t, pts, au))
}

// aacTrack returns the AAC track of an AudioSpecificConfig: the current
// one if it has the same (no parsing per frame), else a new one.
func (in *Ingest) aacTrack(config []byte) (*media.Track, error) {
	if in.audio != nil && in.audio.Codec == media.CodecAAC && bytes.Equal(in.audio.AACConfig, config) {
		return in.audio, nil
	}
	return media.NewAACTrack(config)
}

// setAudio makes t the audio track, declaring it if it is new.
func (in *Ingest) setAudio(t *media.Track) error {
	if t == in.audio {
		return nil
	}
	in.audio = t
	return in.tracksChanged()
}

// WriteG711 handles G.711 samples, 8000 Hz mono, A-law (CodecG711A) or
// µ-law (CodecG711U), as one frame.
func (in *Ingest) WriteG711(codec media.Codec, pts time.Duration, samples []byte) error {
	if codec != media.CodecG711A && codec != media.CodecG711U {
		return in.refuse(warnUnsupported, fmt.Errorf("es: G.711 samples at %v: codec %s: %w", pts, codec, ErrUnsupported))
	}
	if in.opts.OnlyTrack == OnlyVideo {
		in.stats.DroppedFiltered++
		return nil
	}
	if len(samples) > MaxAccessUnitSize {
		return in.refuse(warnTooLarge, fmt.Errorf("es: %s samples at %v, %d bytes: %w", codec, pts, len(samples), ErrTooLarge))
	}
	if len(samples) == 0 {
		return nil
	}
	t := in.audio
	if t == nil || t.Codec != codec {
		var err error
		if t, err = media.NewG711Track(codec, g711Rate, 1); err != nil {
			return err // cannot happen: the codec and rate are valid
		}
		if err := in.setAudio(t); err != nil {
			return err
		}
	}
	return in.frame(audioFrame(t, pts, samples))
}

// WriteOpus handles an Opus packet as one frame of a stereo track:
// without an SDP or a registration descriptor nothing says how many
// channels the encoder had, and the TOC byte's stereo flag may change
// from packet to packet of one stream (RFC 7587 always declares
// opus/48000/2 for the same reason); an Opus decoder set up for two
// channels plays mono packets.
func (in *Ingest) WriteOpus(pts time.Duration, packet []byte) error {
	return in.WriteOpusChannels(pts, 2, packet)
}

// WriteOpusChannels handles an Opus packet of a track of channels (1 or
// 2) channels, as a container that declares them (an MPEG-TS Opus
// descriptor, an SDP) tells.
func (in *Ingest) WriteOpusChannels(pts time.Duration, channels int, packet []byte) error {
	if in.opts.OnlyTrack == OnlyVideo {
		in.stats.DroppedFiltered++
		return nil
	}
	if len(packet) > MaxAccessUnitSize {
		return in.refuse(warnTooLarge, fmt.Errorf("es: Opus packet at %v of %d bytes: %w", pts, len(packet), ErrTooLarge))
	}
	if len(packet) == 0 {
		return nil
	}
	t := in.audio
	if t == nil || t.Codec != media.CodecOpus || t.Channels != channels {
		var err error
		if t, err = media.NewOpusTrack(channels); err != nil {
			return in.refuse(warnUnsupported, fmt.Errorf("es: Opus packet at %v: %w: %w", pts, ErrUnsupported, err))
		}
		if err := in.setAudio(t); err != nil {
			return err
		}
	}
	return in.frame(audioFrame(t, pts, packet))
}

// WriteMP3 handles one or more MPEG audio (layer III, and I/II as MPEG
// carries them) frames, each with its header; each becomes a frame, the
// i-th stamped pts plus the durations of the ones before. Frames before
// damaged data are kept and the error says where the damage starts. A
// header that declares another sample rate or channel mode makes a new
// track.
func (in *Ingest) WriteMP3(pts time.Duration, data []byte) error {
	return in.writeMP3(pts, data, false)
}

// WriteMP3Stream is WriteMP3 for a piece of an MPEG audio stream whose
// frames may be cut at the end (MPEG-PS muxers, ffmpeg's among them, split
// frames across PES packets): a cut frame is kept and finished by the
// next call, at its own time.
func (in *Ingest) WriteMP3Stream(pts time.Duration, data []byte) error {
	return in.writeMP3(pts, data, true)
}

func (in *Ingest) writeMP3(pts time.Duration, data []byte, carry bool) error {
	if in.opts.OnlyTrack == OnlyVideo {
		in.stats.DroppedFiltered++
		return nil
	}
	if len(data) > MaxAccessUnitSize {
		return in.refuse(warnTooLarge, fmt.Errorf("es: MPEG audio at %v of %d bytes: %w", pts, len(data), ErrTooLarge))
	}
	if len(in.mp3Part) > 0 {
		data = append(in.mp3Part, data...)
		pts = in.mp3PartAt
		in.mp3Part = in.mp3Part[:0]
	}
	samples := int64(0) // before the frame, at its rate: no rounding drift
	for pos := 0; pos < len(data); {
		var h mpeg1audio.FrameHeader
		if err := h.Unmarshal(data[pos:]); err != nil {
			return in.refuse(warnMP3, fmt.Errorf("es: MPEG audio at %v, byte %d of %d: %w: %w", pts, pos, len(data), ErrMalformed, err))
		}
		n := media.MP3FrameLen(&h)
		if carry && n > 4 && pos+n > len(data) && h.SampleRate > 0 {
			// Cut by the packet: keep it for the next call (at most one
			// frame, a few KiB). Copied, as data is the caller's.
			in.mp3Part = append(in.mp3Part[:0], data[pos:]...)
			in.mp3PartAt = pts + time.Duration(samples*int64(time.Second)/int64(h.SampleRate))
			return nil
		}
		if n <= 4 || pos+n > len(data) {
			return in.refuse(warnMP3, fmt.Errorf("es: MPEG audio at %v, byte %d: frame of %d bytes, %d left: %w",
				pts, pos, n, len(data)-pos, ErrMalformed))
		}
		fr := data[pos : pos+n]
		pos += n
		t := in.audio
		if t == nil || t.Codec != media.CodecMP3 || t.SampleRate != h.SampleRate || t.Channels != mp3Channels(&h) {
			var err error
			if t, err = media.NewMP3Track(fr); err != nil {
				return in.refuse(warnMP3, fmt.Errorf("es: MPEG audio at %v: %w", pts, err))
			}
			if err := in.setAudio(t); err != nil {
				return err
			}
		}
		at := pts + time.Duration(samples*int64(time.Second)/int64(h.SampleRate))
		if err := in.frame(audioFrame(t, at, fr)); err != nil {
			return err
		}
		samples += int64(h.SampleCount())
	}
	return nil
}

func mp3Channels(h *mpeg1audio.FrameHeader) int {
	if h.ChannelMode == mpeg1audio.ChannelModeMono {
		return 1
	}
	return 2
}

// adtsHeader is what an ingest needs of an ADTS header.
type adtsHeader struct {
	config [2]byte // the AudioSpecificConfig it implies
	rate   int
	header int // header length: 7, or 9 with a CRC
	length int // frame length, header included
}

// adtsRates are the sampling frequencies of sampling_frequency_index.
var adtsRates = [...]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

// parseADTS reads the ADTS header at the start of buf (ISO/IEC 14496-3
// 1.A.2.2) and checks that its frame is within buf. Unlike mediacommon's
// ADTSPackets it accepts frames with a CRC (skipped, not checked), which
// some cameras send, and lets the caller keep the frames before damage.
func parseADTS(buf []byte) (adtsHeader, error) {
	var h adtsHeader
	if len(buf) < 7 {
		return h, fmt.Errorf("%d bytes, shorter than a header: %w", len(buf), ErrMalformed)
	}
	if buf[0] != 0xff || buf[1]&0xf6 != 0xf0 { // syncword, layer 0
		return h, fmt.Errorf("no syncword: %w", ErrMalformed)
	}
	h.header = 7
	if buf[1]&0x01 == 0 { // protection_absent 0: a CRC follows
		h.header = 9
	}
	objectType := buf[2]>>6 + 1 // profile + 1: Main, LC, SSR, LTP
	rateIndex := (buf[2] >> 2) & 0x0f
	channels := (buf[2]&0x01)<<2 | buf[3]>>6
	h.length = int(buf[3]&0x03)<<11 | int(buf[4])<<3 | int(buf[5])>>5
	blocks := buf[6] & 0x03
	switch {
	case int(rateIndex) >= len(adtsRates):
		return h, fmt.Errorf("sampling frequency index %d: %w", rateIndex, ErrMalformed)
	case channels == 0:
		// The layout would be in a program config element, which an
		// AudioSpecificConfig built from the header cannot carry.
		return h, fmt.Errorf("channel configuration 0: %w", ErrUnsupported)
	case blocks != 0:
		return h, fmt.Errorf("%d raw data blocks in one frame: %w", blocks+1, ErrUnsupported)
	case h.length < h.header || h.length > len(buf):
		return h, fmt.Errorf("frame length %d, %d bytes left: %w", h.length, len(buf), ErrMalformed)
	}
	h.rate = adtsRates[rateIndex]
	// AudioSpecificConfig: audioObjectType (5 bits), samplingFrequencyIndex
	// (4), channelConfiguration (4), GASpecificConfig flags (3) all zero.
	h.config = [2]byte{objectType<<3 | rateIndex>>1, rateIndex<<7 | channels<<3}
	return h, nil
}

// audioFrame is a frame of t at pts with a copy of data as its payload,
// allocated in the room of its FLV tag (flv.NewTagRoom): FLV and RTMP
// players then need no second copy.
func audioFrame(t *media.Track, pts time.Duration, data []byte) *media.Frame {
	room, payload := flv.NewTagRoom(t, len(data))
	copy(payload, data)
	return &media.Frame{Track: t, DTS: pts, PTS: pts, Key: true, Payload: payload, TagRoom: room}
}
