package hls

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/access"
	"github.com/mediakit/mediakit/pkg/engine"
)

// PlaylistSuffix ends the URL of a stream's live playlist.
const PlaylistSuffix = "/hls.m3u8"

// ParsePath splits /APP/STREAM/hls.m3u8 or /APP/STREAM/hls-N.ts into the
// stream key and the segment number (isSegment false for the playlist).
func ParsePath(path, vhost string) (key engine.Key, seq uint64, isSegment, ok bool) {
	dir, file := path, ""
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		dir, file = path[:i], path[i+1:]
	}
	switch {
	case file == "hls.m3u8":
	case strings.HasSuffix(file, ".ts"):
		if seq, ok = ParseSegmentURI(file); !ok {
			return engine.Key{}, 0, false, false
		}
		isSegment = true
	default:
		return engine.Key{}, 0, false, false
	}
	app, stream, found := strings.Cut(strings.TrimPrefix(dir, "/"), "/")
	if !found || app == "" || stream == "" {
		return engine.Key{}, 0, false, false
	}
	return engine.NewKey(vhost, app, stream), seq, isSegment, true
}

// Handler serves live HLS. demand, if set, tells whether a stream's HLS
// starts on request (true) or is off for it (enabled false).
func (l *Live) Handler(policy func(info engine.StreamInfo) (enabled, demand bool)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, seq, isSegment, ok := ParsePath(r.URL.Path, r.URL.Query().Get("vhost"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		l.cors(w, r)
		switch r.Method {
		case http.MethodGet, http.MethodHead:
		case http.MethodOptions:
			w.WriteHeader(http.StatusNoContent)
			return
		default:
			w.Header().Set("Allow", "GET, HEAD, OPTIONS")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if err := l.authorize(r, key); err != nil {
			if errors.Is(err, context.Canceled) {
				return
			}
			l.Log.Info("hls play denied", "stream", key.String(), "remote", l.remote(r), "error", err.Error())
			http.Error(w, "play denied", http.StatusForbidden)
			return
		}
		m := l.muxer(key)
		if isSegment {
			if m == nil {
				http.NotFound(w, r)
				return
			}
			m.touch()
			s, found := m.window.Segment(seq)
			if !found {
				http.NotFound(w, r)
				return
			}
			h := w.Header()
			h.Set("Content-Type", "video/mp2t")
			h.Set("Cache-Control", "public, max-age=3600, immutable")
			h.Set("Content-Length", strconv.Itoa(len(s.Data)))
			if r.Method == http.MethodGet {
				_, _ = w.Write(s.Data)
			}
			return
		}
		if m == nil {
			var err error
			m, err = l.startOnRequest(r.Context(), key, policy)
			if err != nil {
				status := http.StatusNotFound
				if errors.Is(err, context.DeadlineExceeded) {
					status = http.StatusServiceUnavailable
				}
				http.Error(w, "stream not available as HLS", status)
				return
			}
		}
		m.touch()
		// The first playlist of a new muxer waits for its first segment.
		select {
		case <-m.ready:
		case <-m.done:
			http.NotFound(w, r)
			return
		case <-time.After(3*m.segDur + 10*time.Second):
			http.Error(w, "no segment yet", http.StatusServiceUnavailable)
			return
		case <-r.Context().Done():
			return
		}
		body := m.window.Playlist()
		h := w.Header()
		h.Set("Content-Type", "application/vnd.apple.mpegurl")
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	})
}

// startOnRequest starts HLS for a published stream that has none yet:
// on-demand streams, or a muxer that stopped.
func (l *Live) startOnRequest(ctx context.Context, key engine.Key, policy func(engine.StreamInfo) (bool, bool)) (*liveMuxer, error) {
	info, found, err := l.Engine.Stream(ctx, key)
	if err != nil {
		return nil, err
	}
	if !found || !info.Ready {
		return nil, engine.ErrNotFound
	}
	enabled, demand := true, false
	if policy != nil {
		enabled, demand = policy(info)
	}
	if !enabled {
		return nil, engine.ErrNotFound
	}
	if err := l.Start(ctx, key, demand); err != nil {
		return nil, err
	}
	if m := l.muxer(key); m != nil {
		return m, nil
	}
	return nil, engine.ErrNotFound
}

func (l *Live) cors(w http.ResponseWriter, r *http.Request) {
	if l.CORS != nil {
		l.CORS(w.Header(), r)
		return
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
}

// remote names the client of r.
func (l *Live) remote(r *http.Request) string {
	if l.Remote != nil {
		return l.Remote(r)
	}
	return r.RemoteAddr
}

// authorize asks the Authorizer whether the client of r may play key,
// unless it was allowed within GrantTTL. A client with no IP address (a
// unix socket's) is asked every time: a grant for the zero address would
// hold for every such client.
func (l *Live) authorize(r *http.Request, key engine.Key) error {
	if l.Authorizer == nil {
		return nil
	}
	remote := l.remote(r)
	addr, hasIP := access.ParseAddr(remote)
	now := time.Now()
	g := l.playGrants()
	if hasIP && g.check(key, addr, now) {
		return nil
	}
	info := engine.SessionInfo{
		ID:            "hls-" + strconv.FormatUint(hlsSessionID.Add(1), 10),
		Protocol:      "hls",
		Remote:        remote,
		Params:        r.URL.RawQuery,
		Authorization: r.Header.Get("Authorization"),
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		info.Local = la.String()
	}
	if err := l.Authorizer.AuthorizePlay(r.Context(), key, info); err != nil {
		return err
	}
	if hasIP {
		g.add(key, addr, now)
	}
	return nil
}

var hlsSessionID atomic.Uint64
