// Package media holds the codec-neutral vocabulary every other package speaks:
// tracks, frames (access units) and the codec configuration records that
// containers carry. It knows nothing of the network or of containers.
package media

// Kind tells video from audio.
type Kind uint8

// Kinds.
const (
	KindVideo Kind = iota + 1
	KindAudio
)

func (k Kind) String() string {
	switch k {
	case KindVideo:
		return "video"
	case KindAudio:
		return "audio"
	}
	return "unknown"
}

// Codec identifies a codec.
type Codec uint8

// Codecs mediakit carries. The numeric values are internal; ZLMediaKit's
// codec ids are produced by CodecID.
const (
	CodecUnknown Codec = iota
	CodecH264
	CodecH265
	CodecAAC
	CodecG711A
	CodecG711U
	CodecOpus
	CodecMP3
	CodecAV1
	CodecVP9
)

// Kind returns the kind of track the codec belongs to.
func (c Codec) Kind() Kind {
	switch c {
	case CodecH264, CodecH265, CodecAV1, CodecVP9:
		return KindVideo
	case CodecAAC, CodecG711A, CodecG711U, CodecOpus, CodecMP3:
		return KindAudio
	}
	return 0
}

// String returns the short lower-case name used in logs and probe output
// (ffprobe's codec_name where one exists).
func (c Codec) String() string {
	switch c {
	case CodecH264:
		return "h264"
	case CodecH265:
		return "hevc"
	case CodecAAC:
		return "aac"
	case CodecG711A:
		return "pcm_alaw"
	case CodecG711U:
		return "pcm_mulaw"
	case CodecOpus:
		return "opus"
	case CodecMP3:
		return "mp3"
	case CodecAV1:
		return "av1"
	case CodecVP9:
		return "vp9"
	}
	return "unknown"
}

// DisplayName is the name ZLMediaKit reports in codec_id_name.
func (c Codec) DisplayName() string {
	switch c {
	case CodecH264:
		return "H264"
	case CodecH265:
		return "H265"
	case CodecAAC:
		return "mpeg4-generic"
	case CodecG711A:
		return "PCMA"
	case CodecG711U:
		return "PCMU"
	case CodecOpus:
		return "opus"
	case CodecMP3:
		return "MP3"
	case CodecAV1:
		return "AV1"
	case CodecVP9:
		return "VP9"
	}
	return "unknown"
}

// ZLMCodecID is ZLMediaKit's numeric codec_id (CodecId in its Extension/Frame.h).
func (c Codec) ZLMCodecID() int {
	switch c {
	case CodecH264:
		return 0
	case CodecH265:
		return 1
	case CodecAAC:
		return 2
	case CodecG711A:
		return 3
	case CodecG711U:
		return 4
	case CodecOpus:
		return 5
	case CodecVP9:
		return 8
	case CodecAV1:
		return 9
	case CodecMP3:
		return 14
	}
	return -1
}
