// Package httpflv serves live streams as HTTP-FLV and WebSocket-FLV at
// /APP/STREAM.live.flv, for flv.js, mpegts.js, ffmpeg and VLC.
package httpflv

import (
	"net/url"
	"strings"

	"github.com/mediakit/mediakit/pkg/engine"
)

// Suffix is the URL suffix of a live FLV stream.
const Suffix = ".live.flv"

// ParsePath returns the stream key of a URL path /APP/STREAM.live.flv
// (or /APP/STREAM.flv, as SRS names it), with the vhost taken from the
// query's vhost parameter.
func ParsePath(path string, query url.Values) (engine.Key, bool) {
	var name string
	switch {
	case strings.HasSuffix(path, Suffix):
		name = strings.TrimSuffix(path, Suffix)
	case strings.HasSuffix(path, ".flv"):
		name = strings.TrimSuffix(path, ".flv")
	default:
		return engine.Key{}, false
	}
	app, stream, ok := strings.Cut(strings.TrimPrefix(name, "/"), "/")
	if !ok || app == "" || stream == "" {
		return engine.Key{}, false
	}
	return engine.NewKey(query.Get("vhost"), app, stream), true
}
