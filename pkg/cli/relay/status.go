package relay

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/mediakit/mediakit/pkg/cli/cmdutil"
)

// statusLine redraws one line on stderr (a terminal) with the media
// relayed and the state of every destination, until stop.
type statusLine struct {
	w        io.Writer
	p        *puller
	dests    []*destination
	start    time.Time
	done     chan struct{}
	finished chan struct{}
}

// statusTick is how often the status line is redrawn.
const statusTick = 500 * time.Millisecond

func startStatus(w io.Writer, p *puller, dests []*destination) *statusLine {
	s := &statusLine{w: w, p: p, dests: dests, start: time.Now(), done: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(s.finished)
		t := time.NewTicker(statusTick)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				fmt.Fprint(s.w, "\r\x1b[K")
				return
			case <-t.C:
				fmt.Fprint(s.w, "\r\x1b[K"+truncate(s.text(), s.width()))
			}
		}
	}()
	return s
}

// stop clears the line.
func (s *statusLine) stop() {
	close(s.done)
	<-s.finished
}

func (s *statusLine) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "relay %s: %s media, %d frames, %s in",
		time.Since(s.start).Round(time.Second), s.p.clock.elapsed().Round(100*time.Millisecond),
		s.p.clock.frames(), cmdutil.HumanBytes(s.p.src.BytesRead()))
	if s.p.retrying.Load() {
		fmt.Fprintf(&b, " (source retrying, %d failed)", s.p.failures.Load())
	}
	for _, d := range s.dests {
		st := d.status()
		b.WriteString(" | " + d.target.Display + " ")
		switch st.state {
		case dstWaiting:
			fmt.Fprintf(&b, "retrying (%d failed)", st.failures)
		case dstGaveUp:
			b.WriteString("gave up")
		default:
			b.WriteString(cmdutil.HumanBytes(st.bytes))
		}
	}
	return b.String()
}

// width is the terminal's, 0 when unknown.
func (s *statusLine) width() int {
	if s.w != io.Writer(os.Stderr) {
		return 0
	}
	w, _, err := term.GetSize(int(os.Stderr.Fd()))
	if err != nil {
		return 0
	}
	return w
}

// truncate keeps a line within width columns, so that it does not wrap
// and leave copies of itself behind (it counts runes: URLs and numbers).
func truncate(s string, width int) string {
	if width <= 1 {
		return s
	}
	r := []rune(s)
	if len(r) < width {
		return s
	}
	return string(r[:width-2]) + "…"
}
