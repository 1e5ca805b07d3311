package playback

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestServeFile(t *testing.T) {
	dir := t.TempDir()
	body := make([]byte, 100_000)
	for i := range body {
		body[i] = byte(i * 7)
	}
	path := filepath.Join(dir, "10-00-00.mp4")
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	mod := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if err := os.Chtimes(path, mod, mod); err != nil {
		t.Fatal(err)
	}
	serve := func(method string, header map[string]string) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(method, "/record/live/cam/2026-12-01/10-00-00.mp4", nil)
		for k, v := range header {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		if err := ServeFile(w, r, path, ""); err != nil {
			t.Fatal(err)
		}
		return w
	}
	full := serve("GET", nil)
	etag := full.Header().Get("ETag")
	for _, tc := range []struct {
		name         string
		method       string
		header       map[string]string
		status       int
		want         []byte
		contentRange string
	}{
		{"whole file", "GET", nil, 200, body, ""},
		{"a range", "GET", map[string]string{"Range": "bytes=1000-1999"}, 206, body[1000:2000], "bytes 1000-1999/100000"},
		{"open-ended range", "GET", map[string]string{"Range": "bytes=99990-"}, 206, body[99990:], "bytes 99990-99999/100000"},
		{"suffix range", "GET", map[string]string{"Range": "bytes=-10"}, 206, body[99990:], "bytes 99990-99999/100000"},
		{"range past the end", "GET", map[string]string{"Range": "bytes=200000-"}, 416, nil, "bytes */100000"},
		{"not modified since", "GET", map[string]string{"If-Modified-Since": mod.Add(time.Hour).Format(http.TimeFormat)}, 304, nil, ""},
		{"modified since", "GET", map[string]string{"If-Modified-Since": mod.Add(-time.Hour).Format(http.TimeFormat)}, 200, body, ""},
		{"same etag", "GET", map[string]string{"If-None-Match": etag}, 304, nil, ""},
		{"if-range with an old etag", "GET", map[string]string{"Range": "bytes=0-9", "If-Range": `"old"`}, 200, body, ""},
		{"head", "HEAD", nil, 200, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(tc.method, tc.header)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			if tc.want != nil && !bytes.Equal(w.Body.Bytes(), tc.want) {
				t.Fatalf("body: %d bytes, want %d exact bytes", w.Body.Len(), len(tc.want))
			}
			if tc.want == nil && w.Code != 416 && w.Body.Len() != 0 {
				t.Fatalf("body of %d bytes, want none", w.Body.Len())
			}
			if got := w.Header().Get("Content-Range"); got != tc.contentRange {
				t.Errorf("Content-Range %q, want %q", got, tc.contentRange)
			}
			if w.Code == 200 || w.Code == 206 {
				if w.Header().Get("Accept-Ranges") != "bytes" || w.Header().Get("Content-Type") != "video/mp4" {
					t.Errorf("headers %v", w.Header())
				}
			}
		})
	}
	if got := serve("HEAD", nil).Header().Get("Content-Length"); got != "100000" {
		t.Errorf("HEAD Content-Length %q", got)
	}
	if full.Header().Get("Last-Modified") != mod.Format(http.TimeFormat) {
		t.Errorf("Last-Modified %q", full.Header().Get("Last-Modified"))
	}
}

func TestServeFileSaveName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.flv")
	if err := os.WriteFile(path, []byte("FLV"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	if err := ServeFile(w, httptest.NewRequest("GET", "/x", nil), path, "cam 1 \"下午\"\r\n.flv"); err != nil {
		t.Fatal(err)
	}
	cd := w.Header().Get("Content-Disposition")
	if strings.ContainsAny(cd, "\r\n") || !strings.HasPrefix(cd, `attachment; filename="cam 1 ______.flv"; filename*=UTF-8''`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	if w.Header().Get("Content-Type") != "video/x-flv" {
		t.Errorf("Content-Type %q", w.Header().Get("Content-Type"))
	}
}

func TestServeFileNotAFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f.mp4")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{dir, filepath.Join(dir, "missing.mp4"), filepath.Join(file, "below.mp4")} {
		w := httptest.NewRecorder()
		err := ServeFile(w, httptest.NewRequest("GET", "/x", nil), path, "")
		if !IsNotFound(err) {
			t.Errorf("%s: error %v, want not found", path, err)
		}
		if w.Body.Len() != 0 || len(w.Header()) != 0 {
			t.Errorf("%s: something was written", path)
		}
	}
}
