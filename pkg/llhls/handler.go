package llhls

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mediakit/mediakit/pkg/access"
	"github.com/mediakit/mediakit/pkg/engine"
)

// ServeHTTP serves /APP/STREAM/hls.fmp4.m3u8 (the multivariant playlist)
// and /APP/STREAM/hls.fmp4/FILE (media playlists with blocking reloads,
// init files, segments, parts and preload hints, from gohlslib).
//
// A playlist request starts the stream's muxer if none runs, waiting up
// to the engine's MaxStreamWait for the stream to be published (then
// 404), and waits, bounded, for the muxer's first segment. Media
// requests never start a muxer: without one they are 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, file, ok := ParsePath(r.URL.Path, r.URL.Query().Get("vhost"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	s.cors(w, r)
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
	ctx := r.Context()
	remote := s.remote(r)
	var admission Admission
	var err error
	if s.Viewers != nil {
		admission, err = s.Viewers.Authorize(r, key, remote)
	} else {
		err = s.authorize(r, key, remote)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return
		}
		s.Log.Info("hls-fmp4 play denied", "stream", key.String(), "remote", remote, "error", err.Error())
		http.Error(w, "play denied", http.StatusForbidden)
		return
	}
	in, status := s.instanceFor(ctx, key, file)
	if in == nil {
		if status != 0 {
			http.Error(w, http.StatusText(status), status)
		}
		return
	}
	var viewer Viewer
	if admission != nil {
		v, err := admission.Admit(w, r)
		switch {
		case errors.Is(err, engine.ErrNotFound):
			http.NotFound(w, r)
			return
		case errors.Is(err, context.Canceled):
			return
		case err != nil:
			s.Log.Info("hls-fmp4 play denied", "stream", key.String(), "remote", remote, "error", err.Error())
			http.Error(w, "play denied", http.StatusForbidden)
			return
		}
		viewer = v
	}
	cw := &countingWriter{ResponseWriter: w}
	if file == "" {
		s.serveMultivariant(cw, r, in)
	} else {
		in.handle(cw, withPath(r, "/"+file))
		if cw.status == 0 {
			// gohlslib answers nothing for a file it does not have (a
			// segment that left the playlist, a stale prefix).
			http.NotFound(cw, r)
		}
	}
	if viewer != nil {
		viewer.AddBytes(int(cw.n.Load()))
	}
}

// instanceFor finds the instance serving a request for file of key, or
// the HTTP status to answer (0: the client left).
func (s *Server) instanceFor(ctx context.Context, key engine.Key, file string) (*instance, int) {
	m := s.muxer(key)
	if !isPlaylist(file) {
		if m == nil {
			return nil, http.StatusNotFound
		}
		m.touch()
		if in := m.readyNow(); in != nil {
			return in, 0
		}
		return nil, http.StatusNotFound
	}
	if m == nil {
		var err error
		deadline := time.Now().Add(s.Engine.Config().MaxStreamWait)
		m, err = s.startOnRequest(ctx, key, deadline)
		if err != nil {
			if ctx.Err() != nil {
				return nil, 0
			}
			if !errors.Is(err, engine.ErrNotFound) {
				s.Log.Warn("hls-fmp4 not started", "stream", key.String(), "error", err.Error())
			}
			return nil, http.StatusNotFound
		}
	}
	m.touch()
	in, err := m.readyInstance(ctx, s.closing, time.Now().Add(m.settings.readyWait()))
	switch {
	case err == nil:
		return in, 0
	case ctx.Err() != nil:
		return nil, 0
	case errors.Is(err, errNotReady):
		return nil, http.StatusServiceUnavailable
	default:
		return nil, http.StatusNotFound
	}
}

// serveMultivariant serves gohlslib's multivariant playlist with its URIs
// pointed into Dir. It is not cached: the tracks of a stream may change.
func (s *Server) serveMultivariant(w http.ResponseWriter, r *http.Request, in *instance) {
	buf := &bufferWriter{header: http.Header{}}
	in.handle(buf, withPath(r, "/index.m3u8"))
	if buf.status != http.StatusOK {
		// The instance closed meanwhile (tracks changed, stream ended).
		http.Error(w, "playlist unavailable", http.StatusServiceUnavailable)
		return
	}
	body := rewriteMultivariant(buf.body.Bytes())
	h := w.Header()
	h.Set("Content-Type", "application/vnd.apple.mpegurl")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

// withPath returns a shallow copy of r for path (gohlslib serves a file
// by the base name of the path).
func withPath(r *http.Request, path string) *http.Request {
	r2 := *r
	u := *r.URL
	u.Path, u.RawPath = path, ""
	r2.URL = &u
	return &r2
}

func (s *Server) cors(w http.ResponseWriter, r *http.Request) {
	if s.CORS != nil {
		s.CORS(w.Header(), r)
		return
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
}

func (s *Server) remote(r *http.Request) string {
	if s.Remote != nil {
		return s.Remote(r)
	}
	return r.RemoteAddr
}

func (s *Server) playGrants() *grants {
	s.grantsOnce.Do(func() { s.grants = newGrants(GrantTTL, maxGrants) })
	return s.grants
}

// authorize asks the Authorizer whether the client of r may play key,
// unless it was allowed within GrantTTL. A client with no IP address (a
// unix socket's) is asked every time.
func (s *Server) authorize(r *http.Request, key engine.Key, remote string) error {
	if s.Authorizer == nil {
		return nil
	}
	addr, hasIP := access.ParseAddr(remote)
	now := time.Now()
	g := s.playGrants()
	if hasIP && g.check(key, addr, now) {
		return nil
	}
	info := engine.SessionInfo{
		ID:            Protocol + "-" + strconv.FormatUint(sessionID.Add(1), 10),
		Protocol:      Protocol,
		Remote:        remote,
		Params:        r.URL.RawQuery,
		Authorization: r.Header.Get("Authorization"),
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		info.Local = la.String()
	}
	if err := s.Authorizer.AuthorizePlay(r.Context(), key, info); err != nil {
		return err
	}
	if hasIP {
		g.add(key, addr, now)
	}
	return nil
}

var sessionID atomic.Uint64

// countingWriter counts the bytes of a reply and whether it started.
type countingWriter struct {
	http.ResponseWriter
	status int
	n      atomic.Int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// bufferWriter keeps a small reply in memory.
type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *bufferWriter) Header() http.Header { return w.header }

func (w *bufferWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *bufferWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}
