package probe

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// JSONStream is one entry of ffprobe's "streams", with ffprobe's field
// names and JSON types (strings where ffprobe prints strings); Frames is
// mediakit's own, present with Options.Frames.
type JSONStream struct {
	Index         int    `json:"index"`
	CodecName     string `json:"codec_name"`
	CodecLongName string `json:"codec_long_name,omitempty"`
	Profile       string `json:"profile,omitempty"`
	CodecType     string `json:"codec_type"`
	Width         int    `json:"width,omitempty"`
	Height        int    `json:"height,omitempty"`
	SampleRate    string `json:"sample_rate,omitempty"`
	Channels      int    `json:"channels,omitempty"`
	ChannelLayout string `json:"channel_layout,omitempty"`
	RFrameRate    string `json:"r_frame_rate"`
	// AvgFrameRate is ffprobe's avg_frame_rate: frames over duration for
	// an MP4 (from its sample tables), else the rate the stream declares
	// or measures; "0/0" for audio.
	AvgFrameRate string `json:"avg_frame_rate"`
	// FPS is r_frame_rate as a JSON number (contract.md's fps), for
	// scripts that would rather not divide a fraction; ffprobe has no
	// such field.
	FPS      float64     `json:"fps,omitempty"`
	Duration string      `json:"duration,omitempty"`
	BitRate  string      `json:"bit_rate,omitempty"`
	Frames   *FrameStats `json:"frames,omitempty"`
}

// JSONFormat is ffprobe's "format".
type JSONFormat struct {
	Filename       string `json:"filename"`
	NbStreams      int    `json:"nb_streams"`
	FormatName     string `json:"format_name"`
	FormatLongName string `json:"format_long_name"`
	Duration       string `json:"duration,omitempty"`
	Size           string `json:"size,omitempty"`
	BitRate        string `json:"bit_rate,omitempty"`
}

// JSONReport is the --json document: {"streams":[...],"format":{...}}.
type JSONReport struct {
	Streams []JSONStream `json:"streams"`
	Format  JSONFormat   `json:"format"`
}

// seconds prints a duration as ffprobe does: six decimals.
func seconds(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }

// JSON returns r in ffprobe's shape.
func (r *Report) JSON() JSONReport {
	out := JSONReport{Streams: []JSONStream{}, Format: JSONFormat{
		Filename: r.Filename, NbStreams: len(r.Streams),
		FormatName: r.FormatName, FormatLongName: r.FormatLongName,
	}}
	if r.Duration >= 0 {
		out.Format.Duration = seconds(r.Duration)
	}
	if r.Size >= 0 {
		out.Format.Size = strconv.FormatInt(r.Size, 10)
	}
	if r.BitRate > 0 {
		out.Format.BitRate = strconv.FormatInt(r.BitRate, 10)
	}
	for _, s := range r.Streams {
		js := JSONStream{Index: s.Index, CodecName: s.CodecName, CodecLongName: s.CodecLongName,
			Profile: s.Profile, CodecType: s.CodecType, Width: s.Width, Height: s.Height,
			Channels: s.Channels, ChannelLayout: s.ChannelLayout, RFrameRate: s.FrameRate,
			AvgFrameRate: s.AvgFrameRate, Frames: s.Frames}
		js.FPS = fractionValue(s.FrameRate)
		if s.SampleRate > 0 {
			js.SampleRate = strconv.Itoa(s.SampleRate)
		}
		if s.Duration >= 0 {
			js.Duration = seconds(s.Duration)
		}
		if s.BitRate > 0 {
			js.BitRate = strconv.FormatInt(s.BitRate, 10)
		}
		out.Streams = append(out.Streams, js)
	}
	return out
}

func kbps(bps int64) string { return fmt.Sprintf("%d kb/s", bps/1000) }

// WriteText writes r for people: the format line, then one line per
// stream, then with frame statistics a block per stream.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Input: %s\n  Format: %s", r.Filename, r.FormatName)
	if r.Live {
		b.WriteString(", live")
	}
	if r.Duration >= 0 {
		fmt.Fprintf(&b, ", duration %.3f s", r.Duration)
	}
	if r.Size >= 0 {
		fmt.Fprintf(&b, ", size %d bytes", r.Size)
	}
	if r.BitRate > 0 {
		fmt.Fprintf(&b, ", bitrate %s", kbps(r.BitRate))
	}
	b.WriteByte('\n')
	for _, s := range r.Streams {
		fmt.Fprintf(&b, "  Stream #%d: %s %s", s.Index, s.CodecType, s.CodecName)
		if s.Profile != "" {
			fmt.Fprintf(&b, " (%s)", s.Profile)
		}
		switch s.CodecType {
		case "video":
			fmt.Fprintf(&b, ", %dx%d", s.Width, s.Height)
			if s.FrameRate != "0/0" && s.FrameRate != "" {
				fmt.Fprintf(&b, ", %s fps", strings.TrimSuffix(s.FrameRate, "/1"))
			}
		case "audio":
			fmt.Fprintf(&b, ", %d Hz", s.SampleRate)
			if s.ChannelLayout != "" {
				fmt.Fprintf(&b, ", %s", s.ChannelLayout)
			} else {
				fmt.Fprintf(&b, ", %d channels", s.Channels)
			}
		}
		if s.BitRate > 0 {
			fmt.Fprintf(&b, ", %s", kbps(s.BitRate))
		}
		if s.Duration >= 0 {
			fmt.Fprintf(&b, ", %.3f s", s.Duration)
		}
		b.WriteByte('\n')
	}
	for _, s := range r.Streams {
		f := s.Frames
		if f == nil {
			continue
		}
		fmt.Fprintf(&b, "  Frames #%d (%s): %d frames, %d keyframes, %.3f s, measured %.3f fps",
			s.Index, s.CodecType, f.Frames, f.Keyframes, f.Duration, f.MeasuredFPS)
		if f.DeclaredFPS > 0 {
			fmt.Fprintf(&b, " (declared %.3f)", f.DeclaredFPS)
		}
		b.WriteByte('\n')
		if s.CodecType == "video" {
			if f.GOPMaxFrames > 0 {
				fmt.Fprintf(&b, "    GOP: %d/%.1f/%d frames, %.3f/%.3f/%.3f s (min/avg/max)\n",
					f.GOPMinFrames, f.GOPAvgFrames, f.GOPMaxFrames, f.GOPMinSeconds, f.GOPAvgSeconds, f.GOPMaxSeconds)
			} else {
				b.WriteString("    GOP: fewer than two keyframes\n")
			}
			fmt.Fprintf(&b, "    B-frames: %v (%d frames with PTS != DTS)\n", f.HasBFrames, f.BFrames)
		}
		fmt.Fprintf(&b, "    timestamps: %d gaps (worst %.3f s), %d backward jumps (worst %.3f s)\n",
			f.Gaps, f.WorstGap, f.BackwardJumps, f.WorstBackward)
		fmt.Fprintf(&b, "    bitrate per second: min %s, avg %s, max %s\n", kbps(f.BitrateMin), kbps(f.BitrateAvg), kbps(f.BitrateMax))
		if len(f.BitrateSeries) > 1 {
			vals, step := buckets(f.BitrateSeries, maxTextPoints)
			fmt.Fprintf(&b, "    bitrate over time (kb/s, every %d s):", step*max(1, f.BitrateSeriesStep))
			for _, v := range vals {
				fmt.Fprintf(&b, " %d", v)
			}
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fractionValue is the value of "NUM/DEN" rounded to 3 decimals; 0 when
// it is not one (ffprobe's "0/0").
func fractionValue(f string) float64 {
	num, den, ok := strings.Cut(f, "/")
	n, err1 := strconv.ParseFloat(num, 64)
	d, err2 := strconv.ParseFloat(den, 64)
	if !ok || err1 != nil || err2 != nil || d == 0 {
		return 0
	}
	return math.Round(n/d*1000) / 1000
}
