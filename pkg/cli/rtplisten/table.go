package rtplisten

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// liveTable redraws the figures in place on a terminal: it moves the
// cursor back over what it drew last and draws again.
type liveTable struct {
	w     io.Writer
	addr  string
	tcp   bool
	ssrc  uint32
	start time.Time
	limit time.Duration // --duration; 0: none
	// width returns the terminal's width (0: unknown); lines are cut to
	// it so that none wraps and the redraw stays in place.
	width func() int
	lines int // drawn last time
}

func (t *liveTable) draw(streams []Stream, now time.Time) {
	filter := ""
	if t.ssrc != 0 {
		filter = fmt.Sprintf(", SSRC %d only", t.ssrc)
	}
	elapsed := max(now.Sub(t.start), 0).Round(time.Second).String()
	if t.limit > 0 {
		elapsed += " of " + t.limit.String()
	}
	head := fmt.Sprintf("listening on %s (%s%s) for %s, Ctrl-C to stop", t.addr, transportName(t.tcp), filter, elapsed)
	body := "waiting for RTP packets...\n"
	if len(streams) > 0 {
		body = formatTable(streams, true, now)
	}
	lines := strings.Split(strings.TrimSuffix(head+"\n"+body, "\n"), "\n")
	width := 0
	if t.width != nil {
		width = t.width()
	}
	var b strings.Builder
	b.WriteString(t.rewind())
	for _, l := range lines {
		if width > 1 && len(l) >= width {
			l = l[:width-1]
		}
		b.WriteString(l)
		b.WriteString("\x1b[K\n") // clear what a longer line left
	}
	b.WriteString("\x1b[J") // and the lines of a longer table
	t.lines = len(lines)
	_, _ = io.WriteString(t.w, b.String())
}

// clear erases the table, so the summary stands alone.
func (t *liveTable) clear() {
	if t.lines == 0 {
		return
	}
	_, _ = io.WriteString(t.w, t.rewind()+"\x1b[J")
	t.lines = 0
}

// rewind moves the cursor to the start of the table drawn last.
func (t *liveTable) rewind() string {
	if t.lines == 0 {
		return "\r"
	}
	return fmt.Sprintf("\r\x1b[%dA", t.lines)
}
