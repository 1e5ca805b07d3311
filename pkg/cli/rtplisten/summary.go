package rtplisten

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mediakit/mediakit/pkg/cli/cmdutil"
)

// Summary is what a run saw; --json prints it.
type Summary struct {
	Addr     string   `json:"addr"`
	TCP      bool     `json:"tcp"`
	SSRC     *uint32  `json:"ssrc,omitempty"` // --ssrc
	Duration float64  `json:"duration_seconds"`
	Stopped  string   `json:"stopped"` // "duration", "interrupted" or "failed"
	Streams  []Stream `json:"streams"`
	// Ignored counts packets no stream got: "not_rtp", "other_ssrc"
	// (with --ssrc), "rtcp".
	Ignored map[string]int64 `json:"ignored_packets,omitempty"`
	Out     *OutSummary      `json:"out,omitempty"`
}

// OutSummary is what --out wrote.
type OutSummary struct {
	Path     string   `json:"path"`           // the file, or the URL (password hidden)
	Format   string   `json:"format"`         // mp4, flv or rtmp
	SSRC     *uint32  `json:"ssrc,omitempty"` // the stream written; absent when none was
	Frames   int64    `json:"frames"`
	Bytes    int64    `json:"bytes"`
	Duration float64  `json:"duration_seconds"`
	Files    []string `json:"files,omitempty"` // every file written (an MP4 is split at a codec change)
	Error    string   `json:"error,omitempty"`
}

func printSummary(w io.Writer, asJSON bool, s Summary) error {
	if s.Streams == nil {
		s.Streams = []Stream{}
	}
	s.Duration = round(s.Duration, 3)
	if asJSON {
		return cmdutil.PrintJSON(w, s)
	}
	var buf bytes.Buffer
	what := "no RTP stream"
	switch n := len(s.Streams); {
	case n == 1:
		what = "1 stream"
	case n > 1:
		what = fmt.Sprintf("%d streams", n)
	}
	filter := ""
	if s.SSRC != nil {
		filter = fmt.Sprintf(", SSRC %d only", *s.SSRC)
	}
	fmt.Fprintf(&buf, "listened on %s (%s%s) for %s: %s\n", s.Addr, transportName(s.TCP), filter, fmtSeconds(s.Duration), what)
	if len(s.Streams) > 0 {
		buf.WriteString(formatTable(s.Streams, false, time.Time{}))
	}
	if o := s.Out; o != nil {
		from := ""
		if o.SSRC != nil {
			from = fmt.Sprintf(", from SSRC %d", *o.SSRC)
		}
		fmt.Fprintf(&buf, "out: %s (%s): %d frames, %s, %s%s", o.Path, o.Format, o.Frames, cmdutil.HumanBytes(o.Bytes), fmtSeconds(o.Duration), from)
		if len(o.Files) > 1 {
			fmt.Fprintf(&buf, " (files %s)", strings.Join(o.Files, ", "))
		}
		if o.Error != "" {
			fmt.Fprintf(&buf, "; failed: %s", o.Error)
		}
		buf.WriteByte('\n')
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// formatTable lays the streams out in columns. live shows the recent
// bitrate and how long ago the last packet came (at now).
func formatTable(streams []Stream, live bool, now time.Time) string {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	head := "SSRC\tPEER\tPT\tKIND\tCODECS\tPACKETS\tBYTES\tLOST\tREORDERED\tJITTER\tKBIT/S"
	if live {
		head += "\tLAST"
	}
	fmt.Fprintln(tw, head)
	for _, s := range streams {
		codecs := strings.Join(s.Codecs, ",")
		if codecs == "" {
			codecs = "-"
		}
		lost := fmt.Sprint(s.Lost)
		if s.Lost > 0 {
			lost += fmt.Sprintf(" (%.1f%%)", s.LossPercent())
		}
		fmt.Fprintf(tw, "%d (%s)\t%s/%s\t%d\t%s\t%s\t%d\t%s\t%s\t%d\t%.1f ms\t%.1f",
			s.SSRC, s.StreamID, s.Peer, s.Transport, s.PayloadType, s.Kind, codecs,
			s.Packets, cmdutil.HumanBytes(int64(s.Bytes)), lost, s.Reordered, s.JitterMS, s.BitrateKbps)
		if live {
			ago := "-"
			if !s.last.IsZero() {
				ago = fmtSeconds(max(now.Sub(s.last), 0).Seconds()) + " ago"
			}
			fmt.Fprintf(tw, "\t%s", ago)
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
	return buf.String()
}

func fmtSeconds(s float64) string {
	switch {
	case s >= 3600:
		return (time.Duration(s) * time.Second).String()
	case s >= 10:
		return fmt.Sprintf("%.0fs", s)
	}
	return fmt.Sprintf("%.1fs", s)
}
