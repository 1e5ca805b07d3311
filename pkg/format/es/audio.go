package es

import (
	"bytes"
	"fmt"
	"time"

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
		payload := bytes.Clone(adts[pos+h.header : pos+h.length])
		pos += h.length
		if len(payload) == 0 {
			continue
		}
		if err := in.frame(&media.Frame{Track: t, DTS: at, PTS: at, Key: true, Payload: payload}); err != nil {
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
	return in.frame(&media.Frame{Track: t, DTS: pts, PTS: pts, Key: true, Payload: bytes.Clone(au)})
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
	return in.frame(&media.Frame{Track: t, DTS: pts, PTS: pts, Key: true, Payload: bytes.Clone(samples)})
}

// WriteOpus handles an Opus packet. mediakit's outputs (FLV, MP4, MPEG-TS
// HLS) cannot carry Opus yet, so the track is dropped, with one warning,
// and the other tracks are declared without waiting for it.
func (in *Ingest) WriteOpus(pts time.Duration, packet []byte) error {
	if in.opts.OnlyTrack == OnlyVideo {
		in.stats.DroppedFiltered++
		return nil
	}
	in.stats.DroppedTrackFrames++
	if in.audioDropped {
		return nil
	}
	in.audioDropped = true
	in.stats.DroppedTracks = append(in.stats.DroppedTracks, media.CodecOpus.String())
	in.warn(warnOpus, "es: dropping opus track: mediakit's outputs cannot carry Opus yet")
	return in.maybeDeclare()
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
