// Package logring keeps the last warning and error lines of the server's
// log in memory, so the web console (and getRecentLogs) can show what went
// wrong lately without access to the process's standard error. The ring is
// bounded in entries and in bytes per entry: a log storm costs nothing
// beyond the ring's fixed size.
package logring

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// MaxLine bounds one entry's message and attributes together; a longer
// line is cut (a stderr tail of ffmpeg can be kilobytes).
const MaxLine = 1024

// Entry is one kept log line.
type Entry struct {
	Seq   uint64    `json:"seq"` // increasing, so a poller can ask for what is new
	Time  time.Time `json:"time"`
	Level string    `json:"level"`
	Msg   string    `json:"msg"`
	// Attrs are the record's attributes as key=value text, groups
	// written as dotted prefixes (as slog's text handler does).
	Attrs string `json:"attrs"`
}

// Ring holds the last entries. The zero value is not usable: use New.
type Ring struct {
	mu   sync.Mutex
	buf  []Entry // circular, len == capacity once full
	next int     // where the next entry goes once full
	seq  uint64
}

// New returns a ring keeping the last n entries (at least 1).
func New(n int) *Ring {
	return &Ring{buf: make([]Entry, 0, max(n, 1))}
}

func (r *Ring) add(e Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	e.Seq = r.seq
	if len(r.buf) < cap(r.buf) {
		r.buf = append(r.buf, e)
		return
	}
	r.buf[r.next] = e
	r.next = (r.next + 1) % len(r.buf)
}

// Since returns the kept entries with a sequence number above seq, oldest
// first (Since(0): every kept entry).
func (r *Ring) Since(seq uint64) []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Entry, 0, len(r.buf))
	for i := range r.buf {
		e := r.buf[(r.next+i)%len(r.buf)]
		if e.Seq > seq {
			out = append(out, e)
		}
	}
	return out
}

// Wrap returns a handler that passes every record to inner as before and
// also keeps in r those whose level keep accepts, whatever level inner is
// set to (a server logging at "error" still shows its warnings in the
// console).
func Wrap(inner slog.Handler, r *Ring, keep func(slog.Level) bool) slog.Handler {
	return &handler{inner: inner, ring: r, keep: keep}
}

type handler struct {
	inner slog.Handler
	ring  *Ring
	keep  func(slog.Level) bool
	// prefix is the text of attributes added with WithAttrs; group the
	// dotted prefix of groups opened with WithGroup.
	prefix string
	group  string
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.keep(l) || h.inner.Enabled(ctx, l)
}

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	if h.keep(rec.Level) {
		var b strings.Builder
		b.WriteString(h.prefix)
		rec.Attrs(func(a slog.Attr) bool {
			appendAttr(&b, h.group, a)
			return b.Len() < MaxLine
		})
		msg, attrs := rec.Message, strings.TrimSpace(b.String())
		if len(msg) > MaxLine {
			msg = cut(msg, MaxLine)
		}
		if len(msg)+len(attrs) > MaxLine {
			attrs = cut(attrs, max(MaxLine-len(msg), 0))
		}
		h.ring.add(Entry{Time: rec.Time, Level: rec.Level.String(), Msg: msg, Attrs: attrs})
	}
	if h.inner.Enabled(ctx, rec.Level) {
		return h.inner.Handle(ctx, rec)
	}
	return nil
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.prefix)
	for _, a := range as {
		appendAttr(&b, h.group, a)
	}
	c := *h
	c.inner = h.inner.WithAttrs(as)
	c.prefix = b.String()
	return &c
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.inner = h.inner.WithGroup(name)
	c.group = h.group + name + "."
	return &c
}

// appendAttr writes " key=value", quoting values as slog's text handler
// does when they hold spaces, quotes or control characters.
func appendAttr(b *strings.Builder, group string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		g := group
		if a.Key != "" {
			g += a.Key + "."
		}
		for _, sub := range a.Value.Group() {
			appendAttr(b, g, sub)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(group)
	b.WriteString(a.Key)
	b.WriteByte('=')
	v := a.Value.String()
	if a.Value.Kind() == slog.KindTime {
		v = a.Value.Time().Format(time.RFC3339Nano)
	}
	if v == "" || strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == '"' || r == '=' || r == utf8.RuneError }) {
		v = strconv.Quote(v)
	}
	b.WriteString(v)
}

// cut shortens s to at most n bytes on a rune boundary, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	if n <= len(mark) {
		return ""
	}
	i := n - len(mark)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + mark
}
