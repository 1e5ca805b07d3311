package relay

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/mediakit/mediakit/pkg/cli/cmdutil"
)

// Summary is what a relay did; --json prints it.
type Summary struct {
	Source string `json:"source"`
	// Duration is the media relayed, over every pull.
	Duration float64 `json:"duration_seconds"`
	Frames   int64   `json:"frames"`
	Read     int64   `json:"bytes_read"`
	// Retries counts the pulls after the first (retries, and passes of
	// --loop).
	Retries      int           `json:"retries"`
	Destinations []Destination `json:"destinations"`
	// Stopped is why the relay stopped: "end" (of the source),
	// "duration", "interrupted" (Ctrl-C, SIGTERM) or "failed" (the source
	// gave up, or every destination did). A destination that failed while
	// the others went on has its Error.
	Stopped string `json:"stopped"`
}

// Destination is what one DST got.
type Destination struct {
	URL     string   `json:"url"`    // the URL (password hidden) or the file
	Format  string   `json:"format"` // rtmp, flv, ts or mp4
	Bytes   int64    `json:"bytes"`
	Frames  int64    `json:"frames"`
	Retries int      `json:"retries"`         // attempts after the first
	Files   []string `json:"files,omitempty"` // an MP4 is split at a codec change
	// Error is the failure of its last attempt: it gave up, or was
	// waiting to retry when the relay ended.
	Error string `json:"error,omitempty"`
}

func summarize(stopped string, p *puller, dests []*destination) Summary {
	s := Summary{
		Source: p.src.String(), Duration: round3(p.clock.elapsed().Seconds()), Frames: p.clock.frames(),
		Read: p.src.BytesRead(), Retries: int(p.restarted.Load()), Stopped: stopped,
		Destinations: make([]Destination, len(dests)),
	}
	for i, d := range dests {
		st := d.status()
		out := Destination{URL: d.target.Display, Format: d.target.Kind, Bytes: st.bytes, Frames: st.frames,
			Retries: max(st.attempts-1, 0), Files: st.files}
		if st.err != nil {
			out.Error = st.err.Error()
		}
		s.Destinations[i] = out
	}
	return s
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

func printSummary(opts *Options, s Summary, took time.Duration) error {
	if opts.JSON {
		return cmdutil.PrintJSON(opts.IO.Out, s)
	}
	parts := make([]string, 0, len(s.Destinations))
	for _, d := range s.Destinations {
		detail := cmdutil.HumanBytes(d.Bytes)
		switch {
		case d.Error != "":
			detail += ", failed"
		case d.Retries == 1:
			detail += ", 1 retry"
		case d.Retries > 1:
			detail += fmt.Sprintf(", %d retries", d.Retries)
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", d.URL, detail))
	}
	_, err := fmt.Fprintf(opts.IO.Out, "relayed %.2fs (%d frames) from %s in %s to %s\n",
		s.Duration, s.Frames, s.Source, took.Round(time.Millisecond), strings.Join(parts, ", "))
	return err
}
