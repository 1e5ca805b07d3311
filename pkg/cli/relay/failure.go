package relay

import (
	"fmt"
	"strings"
)

// failure is a source or destination that gave up: its one-line message
// names it once, then the cause, then the attempts made.
type failure struct {
	name     string // the URL (password redacted) or the path
	err      error
	attempts int
}

func (f *failure) Error() string {
	s := f.name + ": " + cause(f.name, f.err)
	if f.attempts > 1 {
		s += fmt.Sprintf(" (after %d attempts)", f.attempts)
	}
	return s
}

func (f *failure) Unwrap() error { return f.err }

// cause is err's message without the layers that name the input again
// ("source: rtmp: play rtmp://h/a/s: dial tcp ...": "dial tcp ...").
func cause(name string, err error) string {
	msg := err.Error()
	if i := strings.Index(msg, name+": "); i >= 0 {
		return msg[i+len(name)+2:]
	}
	return msg
}
