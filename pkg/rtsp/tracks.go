// Package rtsp speaks RTSP on top of github.com/bluenviron/gortsplib/v5:
// the server's play and publish (ANNOUNCE/RECORD) side, and the pull
// client that makes rtsp:// and rtsps:// URLs a source for proxies,
// `mediakit relay` and `mediakit record`. Both share the mapping between
// gortsplib formats and mediakit tracks (TrackFromFormat) and the
// depacketizers that turn RTP packets into frames (Depacketizer, Ingest).
package rtsp

import (
	"errors"
	"fmt"

	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"github.com/mediakit/mediakit/pkg/media"
)

// Errors wrapped by TrackFromFormat, NewDepacketizer and NewIngest.
var (
	// ErrUnsupportedFormat: a format (codec) mediakit cannot carry.
	ErrUnsupportedFormat = errors.New("unsupported RTSP format")
	// ErrNoUsableTrack: none of a session's formats can be carried.
	ErrNoUsableTrack = errors.New("no usable track")
)

// TrackFromFormat returns the track that f declares in its SDP:
// *format.H264, *format.H265, *format.AV1, *format.VP9,
// *format.MPEG4Audio (AAC), *format.MPEG1Audio (MP3), *format.Opus and
// *format.G711. Other formats give an error wrapping
// ErrUnsupportedFormat.
//
// An H.264 or H.265 format whose SDP carries no parameter sets (or sets
// that do not parse) gives a nil track and a nil error: its track is
// only known once the first in-band parameter sets arrive, which a
// Depacketizer (or an Ingest) then declares. AV1, VP9 and MP3 always
// do: their SDP does not say enough (AV1's track comes from the first
// sequence header, VP9's from the first keyframe, MP3's from the first
// frame header).
func TrackFromFormat(f format.Format) (*media.Track, error) {
	switch f := f.(type) {
	case *format.H264:
		sps, pps := f.SafeParams()
		if len(sps) == 0 || len(pps) == 0 {
			return nil, nil
		}
		t, err := media.NewH264Track(sps, pps)
		if err != nil {
			return nil, nil //nolint:nilerr // the in-band sets may still be good
		}
		return t, nil
	case *format.H265:
		vps, sps, pps := f.SafeParams()
		if len(vps) == 0 || len(sps) == 0 || len(pps) == 0 {
			return nil, nil
		}
		t, err := media.NewH265Track(vps, sps, pps)
		if err != nil {
			return nil, nil //nolint:nilerr // the in-band sets may still be good
		}
		return t, nil
	case *format.MPEG4Audio:
		if f.Config == nil {
			return nil, fmt.Errorf("rtsp: AAC format without config: %w", ErrUnsupportedFormat)
		}
		asc, err := f.Config.Marshal()
		if err != nil {
			return nil, fmt.Errorf("rtsp: AAC config: %w", err)
		}
		return media.NewAACTrack(asc)
	case *format.Opus:
		t, err := media.NewOpusTrack(f.ChannelCount)
		if err != nil {
			return nil, fmt.Errorf("rtsp: %w: %w", ErrUnsupportedFormat, err)
		}
		return t, nil
	case *format.AV1, *format.VP9, *format.MPEG1Audio:
		return nil, nil
	case *format.G711:
		codec := media.CodecG711A
		if f.MULaw {
			codec = media.CodecG711U
		}
		return media.NewG711Track(codec, f.SampleRate, f.ChannelCount)
	}
	return nil, fmt.Errorf("rtsp: %w: %s", ErrUnsupportedFormat, FormatName(f))
}

// FormatName names a format for logs and errors: its RTP map ("VP8/90000")
// or, without one, its payload type.
func FormatName(f format.Format) string {
	if f == nil {
		return "none"
	}
	if m := f.RTPMap(); m != "" {
		return m
	}
	return fmt.Sprintf("payload type %d", f.PayloadType())
}

// dpFormatKind is the kind of track a supported format carries, 0 for
// others.
func dpFormatKind(f format.Format) media.Kind {
	switch f.(type) {
	case *format.H264, *format.H265, *format.AV1, *format.VP9:
		return media.KindVideo
	case *format.MPEG4Audio, *format.MPEG1Audio, *format.Opus, *format.G711:
		return media.KindAudio
	}
	return 0
}
