package llhls

import (
	"fmt"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	mp4codecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/mediakit/mediakit/pkg/format/mp4"
	"github.com/mediakit/mediakit/pkg/media"
)

// CanCarry reports whether fMP4 HLS carries codec c: what gohlslib's
// muxer writes (H.264, H.265, AV1, VP9, AAC, Opus). G.711 and MP3 have
// no place in it (gohlslib has no writer for them, and HLS players do not
// take them in fMP4).
func CanCarry(c media.Codec) bool {
	switch c {
	case media.CodecH264, media.CodecH265, media.CodecAV1, media.CodecVP9, media.CodecAAC, media.CodecOpus:
		return true
	}
	return false
}

// OutputName names fMP4 HLS and LL-HLS in track drop reports.
const OutputName = "hls-fmp4"

// DropReason is the reason given to DropTrack for a codec fMP4 HLS
// leaves out.
func DropReason(c media.Codec) string {
	return "gohlslib's fMP4 HLS muxer has no writer for " + c.String()
}

// DroppedTrackMessage is the warning logged once per codec a stream's
// fMP4 HLS leaves out.
func DroppedTrackMessage(t *media.Track) string {
	return "hls-fmp4: dropping " + t.Codec.String() + " track: fMP4 HLS cannot carry it"
}

// hlsTrack converts an engine track into a gohlslib track whose clock
// rate is the one gohlslib requires for its codec.
func hlsTrack(t *media.Track) (*gohlslib.Track, error) {
	switch t.Codec {
	case media.CodecH264:
		return &gohlslib.Track{Codec: &codecs.H264{SPS: t.SPS, PPS: t.PPS}, ClockRate: 90000}, nil
	case media.CodecH265:
		return &gohlslib.Track{Codec: &codecs.H265{VPS: t.VPS, SPS: t.SPS, PPS: t.PPS}, ClockRate: 90000}, nil
	case media.CodecAV1:
		if len(t.AV1SequenceHeader) == 0 {
			return nil, fmt.Errorf("hls-fmp4: AV1 track without a sequence header")
		}
		return &gohlslib.Track{Codec: &codecs.AV1{SequenceHeader: t.AV1SequenceHeader}, ClockRate: 90000}, nil
	case media.CodecVP9:
		if t.Width <= 0 || t.Height <= 0 {
			return nil, fmt.Errorf("hls-fmp4: VP9 track without a size")
		}
		depth := t.VP9.BitDepth
		if depth == 0 {
			depth = 8
		}
		return &gohlslib.Track{Codec: &codecs.VP9{
			Width: t.Width, Height: t.Height, Profile: t.VP9.Profile, BitDepth: depth,
			ChromaSubsampling: t.VP9.ChromaSubsampling, ColorRange: t.VP9.FullRange,
		}, ClockRate: 90000}, nil
	case media.CodecAAC:
		// The config gohlslib writes into the init file, which
		// instance.handle replaces by the track's own where they differ
		// (a program config element, implicit HE-AAC).
		c, err := mp4.SampleEntryCodec(t)
		if err != nil {
			return nil, fmt.Errorf("hls-fmp4: %w", err)
		}
		conf := c.(*mp4codecs.MPEG4Audio).Config
		// gohlslib stamps AAC in the core sample rate of the config
		// (HE-AAC's SBR rate is twice that).
		return &gohlslib.Track{Codec: &codecs.MPEG4Audio{Config: conf}, ClockRate: conf.SampleRate}, nil
	case media.CodecOpus:
		ch := t.Channels
		if ch <= 0 {
			ch = 2
		}
		return &gohlslib.Track{Codec: &codecs.Opus{ChannelCount: ch}, ClockRate: 48000}, nil
	}
	return nil, fmt.Errorf("hls-fmp4: codec %s not supported", t.Codec)
}

// selectTracks picks what fMP4 HLS carries of a stream's tracks: the
// first video track and the first audio track that it can carry (with a
// usable configuration).
func selectTracks(tracks []*media.Track) []*media.Track {
	var video, audio *media.Track
	for _, t := range tracks {
		if t == nil || !CanCarry(t.Codec) {
			continue
		}
		if _, err := hlsTrack(t); err != nil {
			continue
		}
		switch t.Kind() {
		case media.KindVideo:
			if video == nil {
				video = t
			}
		case media.KindAudio:
			if audio == nil {
				audio = t
			}
		}
	}
	out := make([]*media.Track, 0, 2)
	if video != nil {
		out = append(out, video)
	}
	if audio != nil {
		out = append(out, audio)
	}
	return out
}

// withTrack replaces the track of t's kind in tracks by t (or adds it).
func withTrack(tracks []*media.Track, t *media.Track) []*media.Track {
	out := []*media.Track{t}
	for _, o := range tracks {
		if o != nil && o.Kind() != t.Kind() {
			out = append(out, o)
		}
	}
	return selectTracks(out)
}

// toTimestamp converts a stream time into ticks of clockRate without
// overflowing for long streams.
func toTimestamp(d time.Duration, clockRate int) int64 {
	secs := int64(d / time.Second)
	rem := int64(d % time.Second)
	return secs*int64(clockRate) + rem*int64(clockRate)/int64(time.Second)
}
