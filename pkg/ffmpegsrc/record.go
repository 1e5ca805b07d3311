package ffmpegsrc

import "time"

// record is a task as stored: what addFFmpegSource was given, under
// the API's parameter names.
type record struct {
	SrcURL    string `json:"src_url"`
	DstURL    string `json:"dst_url"`
	TimeoutMS int64  `json:"timeout_ms"`
	EnableHLS bool   `json:"enable_hls"`
	EnableMP4 bool   `json:"enable_mp4"`
	CmdKey    string `json:"ffmpeg_cmd_key,omitempty"`
}

func (r record) spec() Spec {
	return Spec{SrcURL: r.SrcURL, DstURL: r.DstURL, Timeout: time.Duration(r.TimeoutMS) * time.Millisecond,
		EnableHLS: r.EnableHLS, EnableMP4: r.EnableMP4, CmdKey: r.CmdKey}
}

func specRecord(s Spec) record {
	return record{SrcURL: s.SrcURL, DstURL: s.DstURL, TimeoutMS: s.Timeout.Milliseconds(),
		EnableHLS: s.EnableHLS, EnableMP4: s.EnableMP4, CmdKey: s.CmdKey}
}
