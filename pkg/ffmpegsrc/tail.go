package ffmpegsrc

import (
	"strings"
	"sync"
)

// DefaultTailBytes is how much of ffmpeg's stderr a task keeps.
const DefaultTailBytes = 4 << 10

// tail is an io.Writer keeping the last max bytes written: ffmpeg's
// stderr, which exec copies in from a goroutine of its own while List
// reads it. Memory stays bounded however long ffmpeg talks.
type tail struct {
	mu        sync.Mutex
	max       int
	buf       []byte
	truncated bool
}

func newTail(max int) *tail {
	if max <= 0 {
		max = DefaultTailBytes
	}
	return &tail{max: max, buf: make([]byte, 0, max)}
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) >= t.max {
		t.truncated = t.truncated || len(t.buf) > 0 || len(p) > t.max
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return n, nil
	}
	if over := len(t.buf) + len(p) - t.max; over > 0 {
		t.buf = t.buf[:copy(t.buf, t.buf[over:])]
		t.truncated = true
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

// String returns the kept text; once bytes were dropped it starts at the
// first whole line.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if t.truncated {
		if i := strings.IndexAny(string(b), "\r\n"); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// LastLine returns the last non-empty line. ffmpeg ends its progress
// lines with '\r', so both '\r' and '\n' end a line.
func (t *tail) LastLine() string {
	return lastLine(t.String())
}

func lastLine(s string) string {
	s = strings.TrimRight(s, " \t\r\n")
	if i := strings.LastIndexAny(s, "\r\n"); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}
