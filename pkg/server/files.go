package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mediakit/mediakit/pkg/auth"
	"github.com/mediakit/mediakit/pkg/console"
	"github.com/mediakit/mediakit/pkg/hook"
	"github.com/mediakit/mediakit/pkg/playback"
)

// RecordPrefix is where recordings are served: on_record_mp4's "url"
// (record/APP/STREAM/DAY/FILE.mp4) under the HTTP listener, as in
// ZLMediaKit, whose MP4 root is www/record.
const RecordPrefix = "/record/"

// serveRecording serves GET/HEAD /record/REST from the MP4 recording root,
// then the HLS one, when REST names a file there. It reports false, having
// written nothing, when it names none, so that the live routes get the
// request (a stream may be published under the app "record").
func (s *Server) serveRecording(w http.ResponseWriter, r *http.Request) bool {
	rest, ok := strings.CutPrefix(r.URL.Path, RecordPrefix)
	if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) || !cleanRel(rest) {
		return false
	}
	if strings.HasSuffix(rest, listSuffix) {
		s.serveRecordingList(w, r, rest)
		return true
	}
	if isSpanRequest(r, rest) {
		s.serveRecordingSpan(w, r, rest)
		return true
	}
	mp4Root, hlsRoot := recordRoots(s.Config())
	for _, root := range []string{mp4Root, hlsRoot} {
		file, ok := fileUnder(root, rest)
		if !ok || !playback.Servable(file) {
			continue
		}
		if err := s.authorizeFile(r, file, recordingName(rest), false); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return true
		}
		// Players in pages (hls.js, mpegts.js) fetch recordings as they
		// fetch live media.
		s.guard().policy.MediaCORS(w.Header(), r)
		if err := playback.ServeFile(w, r, file, ""); err != nil {
			s.fileError(w, file, err)
		}
		return true
	}
	return false
}

// downloadFile is ZLMediaKit's /index/api/downloadFile: file_path inside
// the download roots (the data dir, record.allow_paths and the recording
// roots), save_name for Content-Disposition, authorised as every served
// file is (authorizeFile), with ZLMediaKit's 401 messages.
func (s *Server) downloadFile(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	filePath := q.Get("file_path")
	if filePath == "" {
		http.Error(w, `Required parameter missed: "file_path"`, http.StatusBadRequest)
		return
	}
	if strings.Contains(filePath, "..") {
		http.Error(w, "You can not access parent directory", http.StatusUnauthorized)
		return
	}
	file, err := s.guard().downloads.Confine(filePath)
	if err != nil || !filepath.IsAbs(filePath) {
		http.Error(w, "You can not download files outside the root directory", http.StatusUnauthorized)
		return
	}
	if !playback.Servable(file) {
		http.Error(w, "You can only download recordings (.mp4, .flv, .ts, .m3u8, ...)", http.StatusUnauthorized)
		return
	}
	if err := s.authorizeFile(r, file, "", false); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if err := playback.ServeFile(w, r, file, q.Get("save_name")); err != nil {
		s.fileError(w, file, err)
	}
}

func (s *Server) fileError(w http.ResponseWriter, file string, err error) {
	if playback.IsNotFound(err) {
		http.NotFound(w, nil)
		return
	}
	s.log.Warn("file not served", "file", file, "error", err.Error())
	http.Error(w, "file not readable", http.StatusInternalServerError)
}

// cleanRel reports whether rel is a clean relative slash path without
// ".." or empty elements: what a link to a recording looks like.
func cleanRel(rel string) bool {
	return rel != "" && !strings.ContainsRune(rel, 0) && !strings.ContainsRune(rel, '\\') &&
		path.Clean("/"+rel) == "/"+rel && !strings.Contains("/"+rel+"/", "/../")
}

// fileUnder returns root/rel when that is a regular file whose real path,
// symbolic links followed, is still inside root.
func fileUnder(root, rel string) (string, bool) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", false
	}
	real, err := filepath.EvalSymlinks(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return "", false
	}
	if r, err := filepath.Rel(realRoot, real); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", false
	}
	if st, err := os.Stat(real); err != nil || !st.Mode().IsRegular() {
		return "", false
	}
	return real, true
}

// recordingName is the APP/STREAM a recording's relative path belongs to
// (APP/STREAM/DAY/FILE; a stream name may hold '/'), "" when it has too
// few parts to tell.
func recordingName(rel string) string {
	parts := strings.Split(rel, "/")
	if len(parts) < 4 {
		return ""
	}
	return strings.Join(parts[:len(parts)-2], "/")
}

var errFileDenied = errors.New("Your ip is not allowed to access the service.")

// authorizeFile decides whether r may read file (or, isDir, list the
// recordings of name in the directory file), in this order: a caller
// the API itself would serve (the secret, an api user, loopback without a
// secret) may; otherwise on_http_access decides when it is configured
// (its answer kept for the "second" it gives); otherwise, with built-in
// users, a user who may play name (APP/STREAM) may; otherwise a client
// inside http.allow_ip_range may, as ZLMediaKit does without the hook.
func (s *Server) authorizeFile(r *http.Request, file, name string, isDir bool) error {
	if s.api.Authorized(r) {
		return nil
	}
	g := s.guard()
	client := g.policy.Client(r)
	// The hook judges the query and the credentials too: an answer holds
	// for the same client, file and credentials only.
	// The console's session cookie is not the hook's business: it never
	// leaves mediakit.
	header := withoutCookie(r.Header, console.CookieName)
	cred := sha256.Sum256([]byte(r.URL.RawQuery + "\x00" + header.Get("Cookie") + "\x00" + header.Get("Authorization")))
	cacheKey := client.Addr.String() + "\x00" + file + "\x00" + strconv.FormatBool(isDir) + "\x00" + string(cred[:])
	if s.fileAccess.allowed(cacheKey) {
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	cacheFor, err := s.hooks.AuthorizeHTTPAccess(ctx, hook.HTTPAccess{
		Remote: r.RemoteAddr, ID: "http-" + r.RemoteAddr, Path: file, IsDir: isDir, Params: r.URL.RawQuery, Header: header,
	})
	switch {
	case err == nil:
		s.fileAccess.allow(cacheKey, cacheFor)
		return nil
	case !errors.Is(err, hook.ErrNotConfigured):
		var denied *hook.DeniedError
		if errors.As(err, &denied) && denied.Msg != "" {
			return errors.New(denied.Msg)
		}
		return errors.New("access denied by on_http_access")
	}
	if g.rules.Enabled() {
		if name != "" && g.rules.Grants(auth.ActionPlay, name, auth.FromRequest(r), client.Addr) {
			return nil
		}
		return errors.New("not allowed to play " + name)
	}
	if !client.Addr.IsValid() || !g.policy.IPAllowed(client.Addr) {
		return errFileDenied
	}
	return nil
}

// fileAccessCache keeps on_http_access answers for the time they give, so
// a player's range requests do not ask the hook each time.
type fileAccessCache struct {
	mu      sync.Mutex
	entries map[string]time.Time // key: client and file; value: until
}

// maxFileAccessEntries bounds the cache; when full, expired entries go,
// then everything.
const maxFileAccessEntries = 4096

func (c *fileAccessCache) allowed(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	until, ok := c.entries[key]
	return ok && time.Now().Before(until)
}

func (c *fileAccessCache) allow(key string, d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]time.Time)
	}
	if len(c.entries) >= maxFileAccessEntries {
		now := time.Now()
		for k, until := range c.entries {
			if !now.Before(until) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxFileAccessEntries {
			clear(c.entries)
		}
	}
	c.entries[key] = time.Now().Add(d)
}

// withoutCookie returns h, or a copy of it without the cookie name.
func withoutCookie(h http.Header, name string) http.Header {
	if !strings.Contains(h.Get("Cookie"), name+"=") {
		return h
	}
	var kept []string
	for _, c := range (&http.Request{Header: h}).Cookies() {
		if c.Name != name {
			kept = append(kept, c.String())
		}
	}
	out := h.Clone()
	out.Del("Cookie")
	if len(kept) > 0 {
		out.Set("Cookie", strings.Join(kept, "; "))
	}
	return out
}
