// Package player is the page mediakit serves at /APP/STREAM/: a player
// that tries WebRTC (WHEP), then low-latency HLS, then HTTP-FLV, and
// shows the latency; with ?publish=1 it publishes the browser's camera
// with WHIP. Its scripts are embedded (hls.js and mpegts.js vendored from
// npm at the versions web/player/package-lock.json pins): no CDN.
package player

import (
	"embed"
	"html/template"
	"net/http"
	"strings"
)

// AssetPrefix is where the page's scripts are served.
const AssetPrefix = "/_mediakit/player/"

//go:embed assets/page.html assets/player.js assets/hls.light.min.js assets/mpegts.js
var assets embed.FS

var page = template.Must(template.ParseFS(assets, "assets/page.html"))

// IsPagePath reports whether p is a stream's page: /APP/STREAM/ and
// nothing after.
func IsPagePath(p string) bool {
	rest, ok := strings.CutPrefix(p, "/")
	if !ok || !strings.HasSuffix(rest, "/") {
		return false
	}
	app, stream, ok := strings.Cut(strings.TrimSuffix(rest, "/"), "/")
	return ok && app != "" && stream != "" && !strings.Contains(stream, "/")
}

// ServePage writes the page of the stream /APP/STREAM/ names.
func ServePage(w http.ResponseWriter, r *http.Request) {
	name := strings.Trim(r.URL.Path, "/")
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	// The page runs its own scripts and talks to this server only.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; worker-src 'self' blob:")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		return
	}
	_ = page.Execute(w, struct{ Name, Assets string }{name, AssetPrefix})
}

// Assets serves the page's scripts under AssetPrefix.
func Assets() http.Handler {
	files := http.FileServerFS(assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, AssetPrefix)
		if !ok || name == "page.html" || strings.Contains(name, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/assets/" + name
		files.ServeHTTP(w, r2)
	})
}
