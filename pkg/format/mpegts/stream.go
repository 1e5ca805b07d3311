package mpegts

import (
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/mediakit/mediakit/pkg/media"
)

// Stream describes an elementary stream of the program.
type Stream struct {
	PID uint16
	// Codec is CodecH264, CodecH265, CodecAAC, CodecOpus or CodecMP3 (for
	// an MP3Handler) for the streams handed to the Handler, CodecUnknown
	// for the others.
	Codec media.Codec
	// Name is the codec's short name: "h264", "h265", "aac", "opus",
	// "aac_latm", "mpeg1audio" (MPEG-1/2 audio: MP2, MP3), "ac3", "eac3",
	// "mpeg1video" (MPEG-1/2 video), "mpeg4video", "klv", "dvb_subtitle",
	// or "unknown".
	Name string
	// Err is why the stream's units are dropped: ErrUnsupported, or the
	// error of an AAC stream whose configuration is unusable. nil for
	// the streams handed to the Handler.
	Err error
}

// codecName is the Name of a Stream of codec c.
func codecName(c tscodecs.Codec) string {
	switch c.(type) {
	case *tscodecs.H264:
		return "h264"
	case *tscodecs.H265:
		return "h265"
	case *tscodecs.MPEG4Audio:
		return "aac"
	case *tscodecs.Opus:
		return "opus"
	case *tscodecs.MPEG4AudioLATM:
		return "aac_latm"
	case *tscodecs.MPEG1Audio:
		return "mpeg1audio"
	case *tscodecs.AC3:
		return "ac3"
	case *tscodecs.EAC3:
		return "eac3"
	case *tscodecs.MPEG1Video:
		return "mpeg1video"
	case *tscodecs.MPEG4Video:
		return "mpeg4video"
	case *tscodecs.KLV:
		return "klv"
	case *tscodecs.DVBSubtitle:
		return "dvb_subtitle"
	}
	return "unknown"
}
