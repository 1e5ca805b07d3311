// Package httpts serves live streams as HTTP-TS and WebSocket-TS at
// /APP/STREAM.live.ts: a continuous MPEG-TS (H.264, H.265, AAC) for
// ffmpeg, VLC and mpegts.js, built from the engine like HTTP-FLV.
package httpts

import (
	"net/url"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/internal/livehttp"
)

// Suffix is the URL suffix of a live MPEG-TS stream. A router must test
// it before the HLS segment suffix ".ts".
const Suffix = ".live.ts"

// ParsePath returns the stream key of a URL path /APP/STREAM.live.ts,
// with the vhost taken from the query's vhost parameter.
func ParsePath(path string, query url.Values) (engine.Key, bool) {
	return livehttp.ParseSuffixPath(path, query, Suffix)
}
