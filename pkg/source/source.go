// Package source pulls a stream from a URL or a file into an
// flv.FrameSink (an engine publisher, a recorder): rtmp:// through
// mediakit's RTMP client, HTTP-FLV over http(s)://, and local FLV files,
// as fast as they read or paced in real time. `mediakit record` and
// `mediakit relay` share it.
package source

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mediakit/mediakit/pkg/format/flv"
	"github.com/mediakit/mediakit/pkg/rtmp"
)

// Source is a stream to pull.
type Source interface {
	// Run reads the source into sink until it ends. It returns nil when
	// the source ends cleanly (end of a file or an HTTP body, the RTMP
	// server ending the stream), ctx.Err() when ctx ends first (promptly:
	// the connection, request or file is closed), and an error naming the
	// input otherwise. Frames held back while tracks were being detected
	// are flushed to sink whenever Run returns. Run may be called again,
	// not concurrently, to pull the source anew (a relay's retry).
	Run(ctx context.Context, sink flv.FrameSink) error
	// BytesRead is the number of bytes read from the input so far, over
	// every Run; for progress. Safe for concurrent use.
	BytesRead() int64
	// Size is the input's length in bytes when known (a file, an HTTP
	// body with a Content-Length once Run has the response), else -1.
	// Safe for concurrent use.
	Size() int64
	// String names the input (URL passwords redacted).
	String() string
}

// DefaultTimeout is the default of Options.ReadTimeout and
// Options.WriteTimeout.
const DefaultTimeout = 10 * time.Second

// Options tune a source. Zero values select the defaults.
type Options struct {
	// Realtime paces a file to its timestamps against the wall clock
	// (ffmpeg's -re); otherwise files are read as fast as possible. Live
	// inputs (rtmp://, HTTP-FLV) are paced by their server anyway.
	Realtime bool
	// ReadTimeout ends a network source that sends nothing for this long
	// once started, and bounds connecting. Default DefaultTimeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds writes to an RTMP server. Default
	// DefaultTimeout.
	WriteTimeout time.Duration
	// StartTimeout bounds the wait for a server to start sending: an
	// RTMP server's NetStream.Play.Start, an HTTP response's headers.
	// Servers may hold a player until the stream is published
	// (mediakit's --max-stream-wait). Default rtmp.DefaultStartTimeout.
	StartTimeout time.Duration
	// MaxTagSize caps one FLV tag; <= 0 selects flv.DefaultMaxTagSize.
	MaxTagSize int
	// HTTPClient makes HTTP requests. Nil selects a client of the
	// source's own that keeps no idle connections.
	HTTPClient *http.Client
}

func (o Options) withDefaults() Options {
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultTimeout
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = rtmp.DefaultStartTimeout
	}
	return o
}

// Supported describes the inputs Open accepts, for messages and help.
const Supported = "rtmp://host[:port]/app/stream, http(s)://.../stream.flv (HTTP-FLV) or a local .flv file"

// ErrUnsupported is wrapped by Open's error for inputs it cannot read.
var ErrUnsupported = errors.New("unsupported input")

// Open returns the source of rawURL, chosen by scheme and extension:
// rtmp:// URLs, http:// and https:// URLs whose path ends in .flv, and
// local paths (or file:// URLs) ending in .flv. It checks what can be
// checked without reading (the URL parses, the file exists); the source
// is pulled by Run.
func Open(rawURL string, opts Options) (Source, error) {
	opts = opts.withDefaults()
	if rawURL == "" {
		return nil, fmt.Errorf("source: empty input: %w (supported: %s)", ErrUnsupported, Supported)
	}
	scheme, _, isURL := strings.Cut(rawURL, "://")
	if !isURL || !validScheme(scheme) {
		return openFile(rawURL, rawURL, opts)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("source: invalid URL %q: %w", rawURL, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "rtmp":
		cu, err := rtmp.ParseClientURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
		return &rtmpSource{url: rawURL, display: cu.Display, opts: opts}, nil
	case "http", "https":
		if u.Host == "" {
			return nil, fmt.Errorf("source: invalid URL %q: no host", u.Redacted())
		}
		if !strings.HasSuffix(strings.ToLower(u.Path), ".flv") {
			return nil, fmt.Errorf("source: %s: %w: only HTTP-FLV is supported over HTTP (a path ending in .flv); supported: %s",
				u.Redacted(), ErrUnsupported, Supported)
		}
		return &httpSource{url: u.String(), display: u.Redacted(), opts: opts}, nil
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("source: %s: file URL with a host", rawURL)
		}
		return openFile(rawURL, filepath.FromSlash(u.Path), opts)
	}
	return nil, fmt.Errorf("source: %s: %w: scheme %q; supported: %s", u.Redacted(), ErrUnsupported, u.Scheme, Supported)
}

// validScheme reports whether s can be a URL scheme (RFC 3986), so that
// "C:\x.flv" or "dir://x" typos are told apart from URLs.
func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

func openFile(name, path string, opts Options) (Source, error) {
	if !strings.EqualFold(filepath.Ext(path), ".flv") {
		return nil, fmt.Errorf("source: %s: %w: not a .flv file; supported: %s", name, ErrUnsupported, Supported)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("source: %s: not a regular file", name)
	}
	s := &fileSource{name: name, path: path, opts: opts}
	s.size.Store(fi.Size())
	return s, nil
}

// runResult is what Run returns after reading stopped with err: ctx's
// error when ctx ended, else err.
func runResult(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return err
}
