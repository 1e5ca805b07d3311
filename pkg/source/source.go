// Package source pulls a stream from a URL or a file into an
// flv.FrameSink (an engine publisher, a recorder): rtmp:// through
// mediakit's RTMP client, rtsp:// and rtsps:// through its RTSP client,
// HTTP-FLV, HTTP-TS and HLS over http(s)://, and
// local FLV, MPEG-TS and MP4 files, as fast as they read or paced in real
// time, once or looped. `mediakit record`, `mediakit relay` and the
// server's pull proxies share it.
package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mediakit/mediakit/internal/urlscheme"
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
	// inputs (rtmp://, HTTP-FLV, HTTP-TS, HLS) are paced by their server
	// anyway.
	Realtime bool
	// Loop plays a file again from its start when it ends, timestamps
	// continuing (each pass is offset by the previous one's duration plus
	// one frame), until ctx ends. Network inputs ignore it.
	Loop bool
	// ReadTimeout bounds connecting, and ends a network source that
	// delivers no media frame for this long once started (ErrNoMedia),
	// even while its connection stays busy (RTMP pings, an HTTP body
	// that sends nothing). HLS waits at least three target durations.
	// Default DefaultTimeout.
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
	// source's own that keeps no idle connection past Run.
	HTTPClient *http.Client
	// Log gets warnings (a track dropped for its codec, HLS segments
	// lost), each kind once per Run. Nil discards them.
	Log *slog.Logger
	// Start, for an MP4 file with sample tables (a finished recording),
	// begins at the video keyframe at or before this decode time without
	// reading the samples before it: a seek into an hour-long file costs
	// a walk of its tables, not a read of its media. Fragmented MP4 and
	// other inputs ignore it (and so do the later passes of a Loop).
	Start time.Duration
	// RequireEnd makes an HLS media playlist without EXT-X-ENDLIST (a
	// live one, which would be followed without end) an error wrapping
	// ErrLive, for readers that must finish (a remux). Other inputs
	// ignore it.
	RequireEnd bool
	// RTSPTransport is how rtsp:// and rtsps:// sources receive RTP:
	// "tcp" (interleaved in the RTSP connection; "" selects it), "udp"
	// or "multicast". Other inputs ignore it.
	RTSPTransport string
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
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// Supported describes the inputs Open accepts, for messages and help.
const Supported = "rtmp://host[:port]/app/stream; rtsp(s)://[user:pass@]host[:port]/path; http(s):// URLs whose path ends in .flv (HTTP-FLV), " +
	".ts (HTTP-TS) or .m3u8 (HLS); local .flv, .ts, .mp4, .m4v or .mov files"

// Errors wrapped by Open and Run.
var (
	// ErrUnsupported: Open cannot read this kind of input.
	ErrUnsupported = errors.New("unsupported input")
	// ErrNoMedia: a network source stayed connected but delivered no
	// media frame for Options.ReadTimeout.
	ErrNoMedia = errors.New("no media")
	// ErrLive: Options.RequireEnd and the HLS playlist has no
	// EXT-X-ENDLIST.
	ErrLive = errors.New("live playlist (no EXT-X-ENDLIST)")
)

// Open returns the source of rawURL, chosen by scheme and extension:
// rtmp:// URLs; rtsp:// and rtsps:// URLs; http:// and https:// URLs whose path ends in .flv
// (HTTP-FLV), .ts (HTTP-TS) or .m3u8 (HLS); local paths (or file://
// URLs) ending in .flv, .ts, .mp4, .m4v or .mov. It checks what can be
// checked without reading (the URL parses, the file exists); the source
// is pulled by Run.
func Open(rawURL string, opts Options) (Source, error) {
	opts = opts.withDefaults()
	if rawURL == "" {
		return nil, fmt.Errorf("source: empty input: %w (supported: %s)", ErrUnsupported, Supported)
	}
	if _, isURL := urlscheme.Of(rawURL); !isURL {
		return openFile(rawURL, rawURL, opts)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// not rawURL, nor err's text, which repeats it: it may hold a
		// password
		return nil, fmt.Errorf("source: invalid URL: %w", unwrapURLError(err))
	}
	switch strings.ToLower(u.Scheme) {
	case "rtmp":
		cu, err := rtmp.ParseClientURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
		return &rtmpSource{url: rawURL, display: cu.Display, opts: opts}, nil
	case "rtsp", "rtsps":
		return openRTSP(rawURL, opts)
	case "http", "https":
		if u.Host == "" {
			return nil, fmt.Errorf("source: invalid URL %q: no host", u.Redacted())
		}
		path := strings.ToLower(u.Path)
		switch {
		case strings.HasSuffix(path, ".flv"):
			return &httpSource{url: u.String(), display: u.Redacted(), opts: opts, format: formatFLV}, nil
		case strings.HasSuffix(path, ".ts"):
			return &httpSource{url: u.String(), display: u.Redacted(), opts: opts, format: formatTS}, nil
		case strings.HasSuffix(path, ".m3u8"):
			return &hlsSource{url: u.String(), display: u.Redacted(), opts: opts}, nil
		}
		return nil, fmt.Errorf("source: %s: %w: over HTTP the path must end in .flv (HTTP-FLV), .ts (HTTP-TS) or .m3u8 (HLS); supported: %s",
			u.Redacted(), ErrUnsupported, Supported)
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("source: %s: file URL with a host", rawURL)
		}
		return openFile(rawURL, filepath.FromSlash(u.Path), opts)
	}
	return nil, fmt.Errorf("source: %s: %w: scheme %q; supported: %s", u.Redacted(), ErrUnsupported, u.Scheme, Supported)
}

// fileFormats maps the extensions of local files Open reads to their
// container.
var fileFormats = map[string]format{
	".flv": formatFLV,
	".ts":  formatTS,
	".mp4": formatMP4,
	".m4v": formatMP4,
	".mov": formatMP4,
}

func openFile(name, path string, opts Options) (Source, error) {
	f, ok := fileFormats[strings.ToLower(filepath.Ext(path))]
	if !ok {
		return nil, fmt.Errorf("source: %s: %w: not a .flv, .ts, .mp4, .m4v or .mov file; supported: %s", name, ErrUnsupported, Supported)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("source: %s: not a regular file", name)
	}
	s := &fileSource{name: name, path: path, opts: opts, format: f}
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

// format is a container a source reads.
type format uint8

const (
	formatFLV format = iota + 1
	formatTS
	formatMP4
)

func (f format) String() string {
	switch f {
	case formatFLV:
		return "FLV"
	case formatTS:
		return "MPEG-TS"
	case formatMP4:
		return "MP4"
	}
	return "unknown"
}
