// Package playback gives recorded video back: recording files over HTTP
// with byte ranges and conditional requests.
package playback

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// contentTypes are the types of the files mediakit writes; Go's own table
// knows none of the media ones.
var contentTypes = map[string]string{
	".mp4":  "video/mp4",
	".m4s":  "video/iso.segment",
	".flv":  "video/x-flv",
	".ts":   "video/mp2t",
	".m3u8": "application/vnd.apple.mpegurl",
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
}

// Servable reports whether a file of this name is one mediakit serves:
// recordings, their playlists and snapshots. Nothing else under a
// recording root (a database, a configuration someone put there) is sent.
func Servable(name string) bool {
	_, ok := contentTypes[strings.ToLower(filepath.Ext(name))]
	return ok
}

// ContentType is the type a file of this name is served with.
func ContentType(name string) string {
	if t, ok := contentTypes[strings.ToLower(filepath.Ext(name))]; ok {
		return t
	}
	return "application/octet-stream"
}

// ErrNotFile is returned by ServeFile for a path that is not a regular
// file (a directory, a device).
var ErrNotFile = errors.New("not a regular file")

// ServeFile sends the regular file at path, which the caller has confined
// and authorised: byte ranges (206 Partial Content, Accept-Ranges),
// If-Modified-Since, If-None-Match and If-Range, HEAD, and its content
// type. A file still being written is served as far as it is written
// when the request comes. saveName, when not empty, makes browsers save
// it under that name (Content-Disposition: attachment), as ZLMediaKit's
// downloadFile save_name. When the file cannot be opened nothing is
// written and the error is returned (fs.ErrNotExist, ErrNotFile, ...).
func ServeFile(w http.ResponseWriter, r *http.Request, path, saveName string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("playback: %s: %w", path, ErrNotFile)
	}
	h := w.Header()
	h.Set("Content-Type", ContentType(path))
	// Size and time name the version: a file being written changes both.
	h.Set("ETag", fmt.Sprintf(`"%x-%x"`, st.Size(), st.ModTime().UnixNano()))
	h.Set("X-Content-Type-Options", "nosniff")
	if saveName != "" {
		h.Set("Content-Disposition", attachment(saveName))
	}
	http.ServeContent(w, r, "", st.ModTime(), f)
	return nil
}

// attachment is a Content-Disposition naming name safely: a plain ASCII
// fallback without quotes, backslashes or control characters, and the
// exact name in RFC 5987 form.
func attachment(name string) string {
	var plain strings.Builder
	for _, c := range name {
		switch {
		case c < 0x20 || c == 0x7f || c == '"' || c == '\\' || c > 0x7e:
			plain.WriteByte('_')
		default:
			plain.WriteRune(c)
		}
	}
	return "attachment; filename=\"" + plain.String() + "\"; filename*=UTF-8''" + url.PathEscape(name)
}

// IsNotFound reports whether err from ServeFile means there is no file to
// serve there (a 404 rather than a 500).
func IsNotFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrNotFile) || errors.Is(err, syscall.ENOTDIR)
}
