package llhls

import (
	"net/http"
	"strings"

	"github.com/mediakit/mediakit/pkg/engine"
)

// PlaylistSuffix ends the URL of a stream's fMP4 HLS playlist (the
// multivariant playlist): /APP/STREAM/hls.fmp4.m3u8.
const PlaylistSuffix = "/hls.fmp4.m3u8"

// Dir is the directory, beside the playlist, of every other file of a
// stream's fMP4 HLS (media playlists, init files, segments, parts):
// /APP/STREAM/hls.fmp4/FILE. It keeps gohlslib's file names clear of
// MPEG-TS HLS's hls.m3u8 and hls-N.ts in /APP/STREAM/.
const Dir = "hls.fmp4"

// dirInfix marks a file of Dir in a path.
const dirInfix = "/" + Dir + "/"

// maxFileName bounds a file name: gohlslib's longest is a 12-digit
// prefix, a stream id and a 20-digit number.
const maxFileName = 96

// IsPath reports whether path is one of fMP4 HLS's (for routing).
func IsPath(path string) bool {
	return strings.HasSuffix(path, PlaylistSuffix) || strings.Contains(path, dirInfix)
}

// ParsePath splits /APP/STREAM/hls.fmp4.m3u8 (file "") or
// /APP/STREAM/hls.fmp4/FILE into the stream key and the file name.
func ParsePath(path, vhost string) (key engine.Key, file string, ok bool) {
	var dir string
	if d, found := strings.CutSuffix(path, PlaylistSuffix); found {
		dir = d
	} else {
		i := strings.LastIndex(path, dirInfix)
		if i < 0 {
			return engine.Key{}, "", false
		}
		dir, file = path[:i], path[i+len(dirInfix):]
		if !validFile(file) {
			return engine.Key{}, "", false
		}
	}
	app, stream, found := strings.Cut(strings.TrimPrefix(dir, "/"), "/")
	if !found || app == "" || stream == "" {
		return engine.Key{}, "", false
	}
	key = engine.NewKey(vhost, app, stream)
	if key.Validate() != nil {
		return engine.Key{}, "", false
	}
	return key, file, true
}

// validFile accepts the names gohlslib gives its files: letters, digits,
// '_' and one extension, .m3u8 or .mp4.
func validFile(file string) bool {
	if file == "" || len(file) > maxFileName {
		return false
	}
	base, ok := strings.CutSuffix(file, ".m3u8")
	if !ok {
		if base, ok = strings.CutSuffix(file, ".mp4"); !ok {
			return false
		}
	}
	if base == "" {
		return false
	}
	for i := 0; i < len(base); i++ {
		c := base[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// isPlaylist reports whether file (from ParsePath) is a playlist, which
// may start a muxer and waits for its first segment.
func isPlaylist(file string) bool { return file == "" || strings.HasSuffix(file, ".m3u8") }

// rewriteMultivariant points the URIs of gohlslib's multivariant playlist
// (relative names of the muxer's directory) into Dir.
func rewriteMultivariant(body []byte) []byte {
	lines := strings.SplitAfter(string(body), "\n")
	var b strings.Builder
	b.Grow(len(body) + 4*len(Dir+"/"))
	for _, line := range lines {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			b.WriteString(line)
		case !strings.HasPrefix(trimmed, "#"):
			b.WriteString(Dir + "/")
			b.WriteString(line)
		default:
			// EXT-X-MEDIA (and any tag) with a URI attribute.
			b.WriteString(strings.ReplaceAll(line, `URI="`, `URI="`+Dir+"/"))
		}
	}
	return []byte(b.String())
}

// CookiePath is the path a viewer cookie set on a request of fMP4 HLS is
// scoped to: the stream's directory /APP/STREAM/, which holds the
// playlist and Dir (and MPEG-TS HLS's files).
func CookiePath(r *http.Request) string {
	p := r.URL.Path
	if d, ok := strings.CutSuffix(p, PlaylistSuffix); ok {
		return d + "/"
	}
	if i := strings.LastIndex(p, dirInfix); i >= 0 {
		return p[:i+1]
	}
	return "/"
}
