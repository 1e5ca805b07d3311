package hls

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

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
		remote := l.remote(r)
		viewers := l.viewers()
		v := viewers.Find(r, key, Protocol, remote)
		var info engine.SessionInfo
		if v == nil {
			var err error
			if info, err = viewers.Authorize(r, key, Protocol, remote); err != nil {
				if errors.Is(err, context.Canceled) {
					return
				}
				l.Log.Info("hls play denied", "stream", key.String(), "remote", remote, "error", err.Error())
				http.Error(w, "play denied", http.StatusForbidden)
				return
			}
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
			if v, ok = l.admit(w, r, key, v, info); !ok {
				return
			}
			v.AddBytes(len(s.Data))
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
		case <-m.uncarried:
			select {
			case <-m.ready: // a track HLS carries came after all
			default:
				http.Error(w, "stream has no track MPEG-TS HLS carries (H.264, H.265, AAC, MP3, Opus)", http.StatusNotFound)
				return
			}
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
		if v, ok = l.admit(w, r, key, v, info); !ok {
			return
		}
		v.AddBytes(len(body))
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

// Protocol names TS HLS viewers (zlm schema "hls").
const Protocol = "hls"

// viewers is the viewer table: the server's, shared by every HLS variant,
// or one of this Live's own.
func (l *Live) viewers() *Viewers {
	l.viewersOnce.Do(func() {
		if l.Viewers == nil {
			l.Viewers = NewViewers(l.Engine, l.Authorizer, l.Log)
		}
	})
	return l.Viewers
}

// admit makes the client a counted viewer, answering the request itself
// when it cannot be one.
func (l *Live) admit(w http.ResponseWriter, r *http.Request, key engine.Key, v *Viewer, info engine.SessionInfo) (*Viewer, bool) {
	v, err := l.viewers().Admit(w, r, key, v, info, StreamDir(key))
	switch {
	case err == nil:
		return v, true
	case errors.Is(err, ErrTooManyViewers), errors.Is(err, engine.ErrTooManyReaders):
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	case errors.Is(err, context.Canceled):
	default:
		http.NotFound(w, r)
	}
	return nil, false
}

// StreamDir is the URL directory of a stream's HLS files, the scope of
// its viewer cookies.
func StreamDir(key engine.Key) string { return "/" + key.App + "/" + key.Stream + "/" }
