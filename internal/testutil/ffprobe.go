package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RequireFFmpegEnv is the environment variable that turns a missing
// ffmpeg/ffprobe from a skip into a test failure when set to "1".
const RequireFFmpegEnv = "MEDIAKIT_REQUIRE_FFMPEG"

// RequireFFmpeg skips the test when ffmpeg or ffprobe is not on PATH, or fails
// it when MEDIAKIT_REQUIRE_FFMPEG=1. Call it from the test goroutine.
func RequireFFmpeg(t testing.TB) {
	t.Helper()
	var missing []string
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	what := strings.Join(missing, " and ") + " not found on PATH"
	if os.Getenv(RequireFFmpegEnv) == "1" {
		t.Fatalf("%s, but %s=1 requires it", what, RequireFFmpegEnv)
	}
	t.Skipf("skipping: %s (install ffmpeg, or set %s=1 to turn this skip into a failure)", what, RequireFFmpegEnv)
}

// Probe is the subset of
//
//	ffprobe -v error -print_format json -show_format -show_streams -count_frames
//
// output that tests assert on. Numeric values that ffprobe prints as strings
// are parsed; absent or "N/A" values are zero.
type Probe struct {
	Format  ProbeFormat
	Streams []ProbeStream
}

// ProbeFormat is ffprobe's "format" section.
type ProbeFormat struct {
	FormatName string  // e.g. "flv", "mov,mp4,m4a,3gp,3g2,mj2"
	Duration   float64 // seconds; 0 for raw elementary streams
	StartTime  float64 // seconds
	NbStreams  int
	Size       int64 // bytes; 0 for live inputs
}

// ProbeStream is one entry of ffprobe's "streams" section.
type ProbeStream struct {
	Index        int
	CodecType    string // "video", "audio", "data", ...
	CodecName    string // e.g. "h264", "hevc", "aac"
	Profile      string // e.g. "Main", "Constrained Baseline", "LC"
	Width        int
	Height       int
	RFrameRate   string // e.g. "25/1"; "0/0" for audio
	SampleRate   int
	Channels     int
	NbReadFrames int     // decoded frames (from -count_frames)
	Duration     float64 // seconds; 0 when the container does not say
}

// Video returns the first video stream, or nil if there is none.
func (p *Probe) Video() *ProbeStream { return p.first("video") }

// Audio returns the first audio stream, or nil if there is none.
func (p *Probe) Audio() *ProbeStream { return p.first("audio") }

func (p *Probe) first(codecType string) *ProbeStream {
	if p == nil {
		return nil
	}
	for i := range p.Streams {
		if p.Streams[i].CodecType == codecType {
			return &p.Streams[i]
		}
	}
	return nil
}

// NoTimestamp is the PTS/DTS of a [Packet] that has no timestamp (ffprobe
// omits it, e.g. for raw elementary streams).
const NoTimestamp int64 = math.MinInt64

// Packet is one entry of `ffprobe -show_packets`, in file (decode) order.
type Packet struct {
	StreamIndex int
	CodecType   string
	PTS, DTS    int64   // milliseconds, rounded from PTSTime/DTSTime; NoTimestamp if absent
	PTSTime     float64 // seconds; NaN if absent
	DTSTime     float64 // seconds; NaN if absent
	Flags       string  // "K_" for a keyframe, "__" otherwise ("D" = discard)
	Size        int     // bytes
}

// Keyframe reports whether the packet is flagged as a keyframe.
func (p Packet) Keyframe() bool { return strings.Contains(p.Flags, "K") }

// DefaultProbeTimeout bounds FFprobe and FramePackets when ctx has no
// deadline. Pass a context with a deadline (and -rw_timeout for network
// inputs) to choose another bound.
const DefaultProbeTimeout = 60 * time.Second

// FFprobe runs
//
//	ffprobe -v error -print_format json -show_format -show_streams -count_frames EXTRA... -i INPUT
//
// and returns the parsed result. The error includes ffprobe's stderr. It does
// not skip the test when ffprobe is missing (call [RequireFFmpeg] for that),
// so it is safe to call from any goroutine.
func FFprobe(ctx context.Context, t testing.TB, input string, extraArgs ...string) (*Probe, error) {
	t.Helper()
	args := []string{"-v", "error", "-print_format", "json", "-show_format", "-show_streams", "-count_frames"}
	out, err := runFFprobe(ctx, args, input, extraArgs)
	if err != nil {
		return nil, err
	}
	p, err := parseProbe(out)
	if err != nil {
		return nil, fmt.Errorf("ffprobe %s: %w", input, err)
	}
	return p, nil
}

func parseProbe(out []byte) (*Probe, error) {
	var raw struct {
		Format struct {
			FormatName string  `json:"format_name"`
			Duration   flexNum `json:"duration"`
			StartTime  flexNum `json:"start_time"`
			NbStreams  int     `json:"nb_streams"`
			Size       flexNum `json:"size"`
		} `json:"format"`
		Streams []struct {
			Index        int     `json:"index"`
			CodecType    string  `json:"codec_type"`
			CodecName    string  `json:"codec_name"`
			Profile      string  `json:"profile"`
			Width        int     `json:"width"`
			Height       int     `json:"height"`
			RFrameRate   string  `json:"r_frame_rate"`
			SampleRate   flexNum `json:"sample_rate"`
			Channels     int     `json:"channels"`
			NbReadFrames flexNum `json:"nb_read_frames"`
			Duration     flexNum `json:"duration"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return nil, fmt.Errorf("decoding JSON: %w", err)
	}
	p := &Probe{Format: ProbeFormat{
		FormatName: raw.Format.FormatName,
		Duration:   float64(raw.Format.Duration),
		StartTime:  float64(raw.Format.StartTime),
		NbStreams:  raw.Format.NbStreams,
		Size:       int64(raw.Format.Size),
	}}
	for _, s := range raw.Streams {
		p.Streams = append(p.Streams, ProbeStream{
			Index:        s.Index,
			CodecType:    s.CodecType,
			CodecName:    s.CodecName,
			Profile:      s.Profile,
			Width:        s.Width,
			Height:       s.Height,
			RFrameRate:   s.RFrameRate,
			SampleRate:   int(s.SampleRate),
			Channels:     s.Channels,
			NbReadFrames: int(s.NbReadFrames),
			Duration:     float64(s.Duration),
		})
	}
	return p, nil
}

// FramePackets runs
//
//	ffprobe -v error -print_format json -show_packets EXTRA... -i INPUT
//
// and returns the packets in file order, e.g. to assert monotonic DTS or the
// keyframe interval (pass "-select_streams", "v" to get video only). Like
// [FFprobe] it is safe to call from any goroutine.
func FramePackets(ctx context.Context, t testing.TB, input string, extraArgs ...string) ([]Packet, error) {
	t.Helper()
	args := []string{"-v", "error", "-print_format", "json", "-show_packets"}
	out, err := runFFprobe(ctx, args, input, extraArgs)
	if err != nil {
		return nil, err
	}
	pkts, err := parsePackets(out)
	if err != nil {
		return nil, fmt.Errorf("ffprobe %s: %w", input, err)
	}
	return pkts, nil
}

func parsePackets(out []byte) ([]Packet, error) {
	var raw struct {
		Packets []struct {
			StreamIndex int     `json:"stream_index"`
			CodecType   string  `json:"codec_type"`
			PTSTime     optNum  `json:"pts_time"`
			DTSTime     optNum  `json:"dts_time"`
			Flags       string  `json:"flags"`
			Size        flexNum `json:"size"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return nil, fmt.Errorf("decoding JSON: %w", err)
	}
	pkts := make([]Packet, 0, len(raw.Packets))
	for _, r := range raw.Packets {
		p := Packet{
			StreamIndex: r.StreamIndex,
			CodecType:   r.CodecType,
			Flags:       r.Flags,
			Size:        int(r.Size),
		}
		p.PTS, p.PTSTime = timestamp(r.PTSTime)
		p.DTS, p.DTSTime = timestamp(r.DTSTime)
		pkts = append(pkts, p)
	}
	return pkts, nil
}

func timestamp(n optNum) (int64, float64) {
	if !n.ok {
		return NoTimestamp, math.NaN()
	}
	return int64(math.Round(n.v * 1000)), n.v
}

func runFFprobe(ctx context.Context, args []string, input string, extraArgs []string) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultProbeTimeout)
		defer cancel()
	}
	args = append(append(args, extraArgs...), "-i", input)
	var stdout bytes.Buffer
	stderr := newTailBuffer(stderrTail)
	cmd := exec.CommandContext(ctx, "ffprobe", args...)
	cmd.Stdout = &stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return nil, fmt.Errorf("ffprobe %s: %w; stderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// flexNum decodes a number that ffprobe prints either as a JSON number or as
// a string ("44100", "6.023000"). Absent, null, "" and "N/A" decode as zero.
type flexNum float64

func (n *flexNum) UnmarshalJSON(b []byte) error {
	v, ok, err := parseFlex(b)
	if err == nil && ok {
		*n = flexNum(v)
	}
	return err
}

// optNum is a flexNum that remembers whether a value was present.
type optNum struct {
	v  float64
	ok bool
}

func (n *optNum) UnmarshalJSON(b []byte) error {
	v, ok, err := parseFlex(b)
	if err == nil {
		*n = optNum{v: v, ok: ok}
	}
	return err
}

func parseFlex(b []byte) (v float64, ok bool, err error) {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		return 0, false, nil
	}
	if len(s) >= 2 && s[0] == '"' {
		if s, err = strconv.Unquote(s); err != nil {
			return 0, false, err
		}
	}
	if s == "" || s == "N/A" {
		return 0, false, nil
	}
	v, err = strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false, errors.New("ffprobe: not a number: " + strconv.Quote(s))
	}
	return v, true, nil
}
