package player

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIsPagePath(t *testing.T) {
	for p, want := range map[string]bool{
		"/live/cam/": true, "/rtp/34020000001320000001_1/": true,
		"/live/cam": false, "/live/": false, "//cam/": false, "/live/cam/x/": false,
		"/live/cam/hls.m3u8": false, "/": false, "": false,
	} {
		if got := IsPagePath(p); got != want {
			t.Errorf("IsPagePath(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestPageAndAssets: the page names its stream and loads its script from
// AssetPrefix; the scripts are served, the template and other paths not.
func TestPageAndAssets(t *testing.T) {
	rec := httptest.NewRecorder()
	ServePage(rec, httptest.NewRequest(http.MethodGet, "/live/cam%3Cx%3E/", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(body, "live/cam&lt;x&gt;") || !strings.Contains(body, AssetPrefix+"player.js") ||
		!strings.Contains(rec.Header().Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("page: %d %v\n%s", rec.Code, rec.Header(), body)
	}
	h := Assets()
	for name, want := range map[string]int{
		"player.js": 200, "hls.light.min.js": 200, "mpegts.js": 200,
		"page.html": 404, "../player.go": 404, "nope.js": 404, "x/player.js": 404,
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, AssetPrefix+name, nil))
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", name, rec.Code, want)
		}
	}
}

// TestVendoredVersions: the embedded scripts are the versions
// web/player/package.json pins (make player-vendor copies them).
func TestVendoredVersions(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "web", "player", "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct{ Dependencies map[string]string }
	if err := json.Unmarshal(raw, &pkg); err != nil {
		t.Fatal(err)
	}
	for dep, file := range map[string]string{"hls.js": "hls.light.min.js", "mpegts.js": "mpegts.js"} {
		f, err := assets.Open("assets/" + file)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if v := pkg.Dependencies[dep]; v == "" || !strings.Contains(string(b), `"`+v+`"`) {
			t.Errorf("%s does not hold %s version %q (run make player-vendor)", file, dep, v)
		}
	}
}
