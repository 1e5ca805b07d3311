package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/mediakit/mediakit/internal/urlscheme"
	"github.com/mediakit/mediakit/pkg/record"
	"github.com/mediakit/mediakit/pkg/rtmp"
	"github.com/mediakit/mediakit/pkg/rtsp"
)

// Kinds of destination.
const (
	KindRTMP = "rtmp"
	KindRTSP = "rtsp"
	KindFLV  = "flv"
	KindTS   = "ts"
	KindMP4  = "mp4"
)

// Supported describes the destinations ParseTarget accepts, for messages
// and help.
const Supported = "rtmp://HOST[:PORT]/APP/STREAM, rtsp://HOST[:PORT]/APP/STREAM, FILE.flv, FILE.ts or FILE.mp4"

// ErrUnsupported is wrapped by ParseTarget's error for a destination no
// sink writes.
var ErrUnsupported = errors.New("unsupported destination")

// Target is a parsed destination: where a stream goes and in what form.
type Target struct {
	Kind string // KindRTMP, KindRTSP, KindFLV, KindTS or KindMP4
	// Dest is the destination as given: the file path or the URL.
	Dest string
	// Display names it in messages: the path, or the URL with its
	// password redacted.
	Display string
}

// IsFile reports whether the target is a file (not a push).
func (t Target) IsFile() bool { return t.Kind != KindRTMP && t.Kind != KindRTSP }

// ParseTarget checks dst: an rtmp:// or rtsp:// URL is a push; anything else is a
// file whose extension picks the container (.flv, .ts, .mp4; case does
// not matter). It touches neither the network nor the disk. An error
// names dst and what is supported; it wraps ErrUnsupported when dst is
// well formed but of a kind no sink writes.
func ParseTarget(dst string) (Target, error) {
	if dst == "" {
		return Target{}, fmt.Errorf("empty destination: %w (want %s)", ErrUnsupported, Supported)
	}
	if scheme, ok := urlscheme.Of(dst); ok {
		switch strings.ToLower(scheme) {
		case "rtmp":
			u, err := rtmp.ParseClientURL(dst)
			if err != nil {
				return Target{}, err
			}
			return Target{Kind: KindRTMP, Dest: dst, Display: u.Display}, nil
		case "rtsp", "rtsps":
			display, err := rtsp.ParseClientURL(dst)
			if err != nil {
				return Target{}, err
			}
			return Target{Kind: KindRTSP, Dest: dst, Display: display}, nil
		case "rtmps":
			// The RTMP client has no TLS yet.
			return Target{}, fmt.Errorf("%s: %w: rtmps:// (RTMP over TLS) is not supported yet; want %s",
				redact(dst), ErrUnsupported, Supported)
		}
		return Target{}, fmt.Errorf("%s: %w: scheme %s://; want %s", redact(dst), ErrUnsupported, scheme, Supported)
	}
	switch strings.ToLower(filepath.Ext(dst)) {
	case ".flv":
		return Target{Kind: KindFLV, Dest: dst, Display: dst}, nil
	case ".ts":
		return Target{Kind: KindTS, Dest: dst, Display: dst}, nil
	case ".mp4":
		return Target{Kind: KindMP4, Dest: dst, Display: dst}, nil
	}
	return Target{}, fmt.Errorf("%s: %w: the extension does not name a container; want %s", dst, ErrUnsupported, Supported)
}

// Options tune the sinks New makes. Zero values select the defaults.
type Options struct {
	// Timeout is the connect and write timeout of a push. Default
	// DefaultTimeout.
	Timeout time.Duration
	// SyncMP4 fsyncs every MP4 fragment (a crash loses at most the last
	// one) at the price of an fsync per fragment.
	SyncMP4 bool
	Log     *slog.Logger
}

// New returns a sink writing the target. ctx bounds a push's connecting
// (see Push).
func (t Target) New(ctx context.Context, opts Options) (Sink, error) {
	log := orDiscard(opts.Log)
	switch t.Kind {
	case KindRTMP:
		return NewRTMPPush(ctx, t.Dest, PushOptions{ConnectTimeout: opts.Timeout, WriteTimeout: opts.Timeout, Log: log})
	case KindRTSP:
		return NewRTSPPush(ctx, t.Dest, PushOptions{ConnectTimeout: opts.Timeout, WriteTimeout: opts.Timeout, Log: log})
	case KindFLV:
		return NewFLVFile(t.Dest, log), nil
	case KindTS:
		return NewTSFile(t.Dest, log), nil
	case KindMP4:
		return record.NewMP4File(t.Dest, opts.SyncMP4, log), nil
	}
	return nil, fmt.Errorf("%s: %w: kind %q", t.Display, ErrUnsupported, t.Kind)
}

// redact hides a URL's password for a message.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return raw
}
