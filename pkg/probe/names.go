package probe

import (
	"fmt"
	"math"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/mediakit/mediakit/pkg/media"
)

// codecLongName is ffprobe's codec_long_name.
func codecLongName(c media.Codec) string {
	switch c {
	case media.CodecH264:
		return "H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10"
	case media.CodecH265:
		return "H.265 / HEVC (High Efficiency Video Coding)"
	case media.CodecAAC:
		return "AAC (Advanced Audio Coding)"
	case media.CodecG711A:
		return "PCM A-law / G.711 A-law"
	case media.CodecG711U:
		return "PCM mu-law / G.711 mu-law"
	case media.CodecOpus:
		return "Opus (Opus Interactive Audio Codec)"
	case media.CodecMP3:
		return "MP3 (MPEG audio layer 3)"
	case media.CodecAV1:
		return "Alliance for Open Media AV1"
	case media.CodecVP9:
		return "Google VP9"
	}
	return ""
}

// profileName is ffprobe's profile for a track ("" when ffprobe prints
// none or the parameters do not parse).
func profileName(t *media.Track) string {
	switch t.Codec {
	case media.CodecH264:
		var s h264.SPS
		if s.Unmarshal(t.SPS) != nil {
			return ""
		}
		return h264Profile(s.ProfileIdc, s.ConstraintSet1Flag, s.ConstraintSet3Flag)
	case media.CodecH265:
		var s h265.SPS
		if s.Unmarshal(t.SPS) != nil {
			return ""
		}
		switch s.ProfileTierLevel.GeneralProfileIdc {
		case 1:
			return "Main"
		case 2:
			return "Main 10"
		case 3:
			return "Main Still Picture"
		case 4:
			return "Rext"
		}
		return ""
	case media.CodecAV1:
		var h av1.SequenceHeader
		if h.Unmarshal(t.AV1SequenceHeader) != nil {
			return ""
		}
		switch h.SeqProfile {
		case 0:
			return "Main"
		case 1:
			return "High"
		case 2:
			return "Professional"
		}
		return ""
	case media.CodecVP9:
		if t.VP9.Profile <= 3 {
			return fmt.Sprintf("Profile %d", t.VP9.Profile)
		}
		return ""
	case media.CodecAAC:
		var c mpeg4audio.AudioSpecificConfig
		if c.Unmarshal(t.AACConfig) != nil {
			return ""
		}
		if c.ExtensionType == mpeg4audio.ObjectTypeSBR {
			return "HE-AAC"
		}
		switch c.Type {
		case 1:
			return "Main"
		case 2:
			return "LC"
		case 3:
			return "SSR"
		case 4:
			return "LTP"
		case 5:
			return "HE-AAC"
		case 23:
			return "LD"
		case 39:
			return "ELD"
		}
	}
	return ""
}

// h264Profile names profile_idc as libavcodec's ff_h264_profiles do.
func h264Profile(idc uint8, cs1, cs3 bool) string {
	switch idc {
	case 66:
		if cs1 {
			return "Constrained Baseline"
		}
		return "Baseline"
	case 77:
		return "Main"
	case 88:
		return "Extended"
	case 100:
		return "High"
	case 110:
		if cs3 {
			return "High 10 Intra"
		}
		return "High 10"
	case 122:
		if cs3 {
			return "High 4:2:2 Intra"
		}
		return "High 4:2:2"
	case 244:
		if cs3 {
			return "High 4:4:4 Intra"
		}
		return "High 4:4:4 Predictive"
	case 44:
		return "CAVLC 4:4:4"
	}
	return ""
}

// channelLayout is ffprobe's channel_layout for a channel count.
func channelLayout(n int) string {
	switch n {
	case 1:
		return "mono"
	case 2:
		return "stereo"
	case 3:
		return "2.1"
	case 6:
		return "5.1"
	case 8:
		return "7.1"
	}
	return ""
}

// rational writes a frame rate as ffprobe does ("25/1", "30000/1001").
func rational(fps float64) string {
	if fps <= 0 || math.IsNaN(fps) || math.IsInf(fps, 0) {
		return "0/0"
	}
	if r := math.Round(fps); math.Abs(fps-r) < 1e-6 {
		return fmt.Sprintf("%d/1", int64(r))
	}
	if r := math.Round(fps * 1.001); math.Abs(fps*1.001-r) < 1e-3 {
		return fmt.Sprintf("%d/1001", int64(r*1000))
	}
	return fmt.Sprintf("%d/1000", int64(math.Round(fps*1000)))
}

// reduce writes num/den as ffmpeg's av_reduce(..., INT_MAX) does: in
// lowest terms, or when that does not fit 31 bits, the closest fraction
// that does (by continued fractions); "0/0" when den is 0.
func reduce(num, den uint64) string {
	if den == 0 {
		return "0/0"
	}
	const limit = math.MaxInt32
	if g := gcd(num, den); g > 1 {
		num, den = num/g, den/g
	}
	if num <= limit && den <= limit {
		return fmt.Sprintf("%d/%d", num, den)
	}
	// convergents p/q of num/den: p(k) = a(k)*p(k-1) + p(k-2)
	p0, q0, p1, q1 := uint64(0), uint64(1), uint64(1), uint64(0)
	for den != 0 {
		a := num / den
		if (p1 != 0 && a > (limit-p0)/p1) || (q1 != 0 && a > (limit-q0)/q1) {
			// the next convergent is too large: take the largest
			// semiconvergent that fits when it is closer than p1/q1
			x := uint64(math.MaxUint64)
			if p1 != 0 {
				x = (limit - p0) / p1
			}
			if q1 != 0 {
				x = min(x, (limit-q0)/q1)
			}
			if 2*x*q1+q0 > 0 && float64(den)*float64(2*x*q1+q0) > float64(num)*float64(q1) {
				p1, q1 = x*p1+p0, x*q1+q0
			}
			break
		}
		p0, q0, p1, q1 = p1, q1, a*p1+p0, a*q1+q0
		num, den = den, num-a*den
	}
	return fmt.Sprintf("%d/%d", p1, q1)
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
