// Package httpfmp4 serves live streams as HTTP-fMP4 and WebSocket-fMP4 at
// /APP/STREAM.live.mp4 (ZLMediaKit's schema "fmp4"): an init segment
// (ftyp+moov) and then one fragment (moof+mdat) per frame, for browsers
// (<video src>, MSE players), ffmpeg and VLC, built from the engine like
// HTTP-FLV.
package httpfmp4

import (
	"net/url"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/internal/livehttp"
)

// Suffix is the URL suffix of a live fMP4 stream.
const Suffix = ".live.mp4"

// ParsePath returns the stream key of a URL path /APP/STREAM.live.mp4,
// with the vhost taken from the query's vhost parameter.
func ParsePath(path string, query url.Values) (engine.Key, bool) {
	return livehttp.ParseSuffixPath(path, query, Suffix)
}
