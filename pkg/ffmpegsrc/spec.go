package ffmpegsrc

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/mediakit/mediakit/internal/urlscheme"
	"github.com/mediakit/mediakit/pkg/engine"
)

// ErrInvalid marks a source or destination refused before anything ran
// (the API's -300).
var ErrInvalid = errors.New("invalid ffmpeg source")

// MaxTimeout bounds how long Add waits for the destination stream: an API
// call that may hang for an hour helps nobody.
const MaxTimeout = 10 * time.Minute

// maxURL bounds src_url and dst_url; ffmpeg's own URL buffers are smaller.
const maxURL = 4096

// Spec is what addFFmpegSource asks for.
type Spec struct {
	SrcURL string
	DstURL string
	// Timeout bounds Add's wait for the destination stream (ZLMediaKit's
	// timeout_ms); at most MaxTimeout.
	Timeout time.Duration
	// EnableHLS and EnableMP4 are the destination stream's options,
	// applied by its owner through StreamOptions.
	EnableHLS, EnableMP4 bool
	// CmdKey names the command template (ZLMediaKit's ffmpeg_cmd_key:
	// "ffmpeg.cmd_hd" for the [ffmpeg] key cmd_hd); empty or unknown
	// selects ffmpeg.cmd.
	CmdKey string
}

// Key is the task's key: the lower-case hex MD5 of the destination URL,
// as ZLMediaKit computes it.
func Key(dstURL string) string {
	sum := md5.Sum([]byte(dstURL))
	return hex.EncodeToString(sum[:])
}

// networkSchemes are the sources ffmpeg reads over the network. Anything
// else with a scheme is refused: ffmpeg's pseudo-protocols (concat:,
// subfile:, pipe:, data:, file: outside the path guard, ...) would read
// the server's files or its standard input.
var networkSchemes = map[string]bool{
	"rtmp": true, "rtmps": true, "rtsp": true, "rtsps": true, "http": true, "https": true,
	"srt": true, "udp": true, "rtp": true, "tcp": true,
}

// networkWhitelist is ffmpeg's -protocol_whitelist for a network source:
// what those schemes need underneath, and no file. An HTTP playlist
// could otherwise name file: segments, and ffmpeg's HLS demuxer opens
// local media files for it.
const networkWhitelist = "tcp,udp,tls,http,https,httpproxy,crypto,rtp,srtp,rtmp,rtmps,rtmpt,rtmpts,ffrtmphttp,srt,rtsp,rtsps"

// fileWhitelist is the -protocol_whitelist of a local file source.
const fileWhitelist = "file"

// source is a checked src_url: what ffmpeg is given, and the protocols it
// may open for it.
type source struct {
	arg       string
	whitelist string
}

// checkSource accepts a URL of a network scheme, or a local file that
// confine admits (nil refuses every local file). A local file is given
// to ffmpeg as file:ABSOLUTE-PATH, so no part of a file name can be read
// as a protocol or an option.
func checkSource(src string, confine func(string) (string, error)) (source, error) {
	if err := checkText("src_url", src); err != nil {
		return source{}, err
	}
	path, isFile := cutPrefixFold(src, "file:")
	if isFile {
		path = strings.TrimPrefix(path, "//")
	} else if scheme, rest, ok := strings.Cut(src, "://"); ok && isScheme(scheme) {
		if !networkSchemes[strings.ToLower(scheme)] {
			return source{}, fmt.Errorf("%w: src_url %q: scheme %q is not one of rtmp, rtmps, rtsp, rtsps, http, https, srt, udp, rtp, tcp or a local file", ErrInvalid, src, scheme)
		}
		if rest == "" {
			return source{}, fmt.Errorf("%w: src_url %q: no host", ErrInvalid, src)
		}
		if listens(rest) {
			// tcp://0.0.0.0:N?listen=1, srt://...?mode=listener, rtsp's
			// -listen: the API must not open ports on the server.
			return source{}, fmt.Errorf("%w: src_url %q: a source that listens for a connection is not allowed", ErrInvalid, src)
		}
		return source{arg: src, whitelist: networkWhitelist}, nil
	}
	if scheme, _, ok := strings.Cut(src, ":"); !isFile && ok && isScheme(scheme) {
		// concat:, subfile:, pipe:, data:, async:, cache:, ...
		return source{}, fmt.Errorf("%w: src_url %q: ffmpeg protocol %q is not allowed", ErrInvalid, src, scheme)
	}
	if confine == nil {
		return source{}, fmt.Errorf("%w: src_url %q: local files are not allowed", ErrInvalid, src)
	}
	abs, err := confine(path)
	if err != nil {
		return source{}, fmt.Errorf("%w: src_url %q: %v", ErrInvalid, src, err)
	}
	if !filepath.IsAbs(abs) {
		return source{}, fmt.Errorf("%w: src_url %q: %q is not an absolute path", ErrInvalid, src, abs)
	}
	return source{arg: "file:" + abs, whitelist: fileWhitelist}, nil
}

// checkDest accepts rtmp:// and rtmps:// only: any other output (a file,
// file:, a tee) would let an API caller write where ffmpeg can. It
// returns the stream the URL names.
func checkDest(dst string) (engine.Key, error) {
	if err := checkText("dst_url", dst); err != nil {
		return engine.Key{}, err
	}
	u, err := url.Parse(dst)
	if err != nil {
		return engine.Key{}, fmt.Errorf("%w: dst_url %q: %v", ErrInvalid, dst, err)
	}
	if s := strings.ToLower(u.Scheme); s != "rtmp" && s != "rtmps" {
		return engine.Key{}, fmt.Errorf("%w: dst_url %q: only rtmp:// and rtmps:// destinations are allowed", ErrInvalid, dst)
	}
	if u.Host == "" || u.Opaque != "" {
		return engine.Key{}, fmt.Errorf("%w: dst_url %q: not rtmp://HOST/APP/STREAM", ErrInvalid, dst)
	}
	return StreamKey(dst)
}

// StreamKey is the stream an RTMP URL names:
// rtmp://HOST[:PORT]/APP/STREAM[?vhost=V], the vhost __defaultVhost__
// unless given. STREAM may hold '/'.
func StreamKey(rtmpURL string) (engine.Key, error) {
	u, err := url.Parse(rtmpURL)
	if err != nil {
		return engine.Key{}, fmt.Errorf("%w: dst_url %q: %v", ErrInvalid, rtmpURL, err)
	}
	app, stream, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	stream = strings.Trim(stream, "/")
	if !ok || app == "" || stream == "" {
		return engine.Key{}, fmt.Errorf("%w: dst_url %q: not rtmp://HOST/APP/STREAM", ErrInvalid, rtmpURL)
	}
	key := engine.NewKey(u.Query().Get("vhost"), app, stream)
	if err := key.Validate(); err != nil {
		return engine.Key{}, fmt.Errorf("%w: dst_url %q: %v", ErrInvalid, rtmpURL, err)
	}
	return key, nil
}

// checkText refuses what no URL holds: control characters (a newline
// would forge log lines; NUL cuts ffmpeg's argument) and oversize input.
func checkText(name, v string) error {
	if v == "" {
		return fmt.Errorf("%w: %s is empty", ErrInvalid, name)
	}
	if len(v) > maxURL {
		return fmt.Errorf("%w: %s longer than %d bytes", ErrInvalid, name, maxURL)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %s %q holds a control character", ErrInvalid, name, v)
		}
	}
	return nil
}

// isScheme reports whether s is an RFC 3986 scheme (and so something
// ffmpeg would take for a protocol name). One letter is not: that is a
// Windows drive.
func isScheme(s string) bool {
	return len(s) >= 2 && urlscheme.Valid(s)
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// listens reports whether the query of a URL (after "scheme://") asks
// ffmpeg to listen: listen=..., or mode=listener (SRT).
func listens(rest string) bool {
	_, query, ok := strings.Cut(rest, "?")
	if !ok {
		return false
	}
	for _, kv := range strings.FieldsFunc(query, func(r rune) bool { return r == '&' || r == ';' }) {
		name, value, _ := strings.Cut(kv, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "listen" || (name == "mode" && strings.EqualFold(strings.TrimSpace(value), "listener")) {
			return true
		}
	}
	return false
}
