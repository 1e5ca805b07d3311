package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/zlm"
)

// TestGetMediaListStreamsEveryStream: a list many times larger than the
// pieces a reply is written in arrives whole, in the engine's order, each
// item what zlm.MediaSources makes of its stream.
func TestGetMediaListStreamsEveryStream(t *testing.T) {
	fx := newFixture(t)
	infos := benchStreamInfos(300)
	fx.eng.mu.Lock()
	fx.eng.streams = infos
	fx.eng.mu.Unlock()
	status, body, err := getListOverHTTP(t, fx)
	if err != nil || status != http.StatusOK {
		t.Fatalf("HTTP %d, %v", status, err)
	}
	if len(body) < 4*replyPiece {
		t.Fatalf("a reply of %d bytes does not test pieces of %d", len(body), replyPiece)
	}
	var reply struct {
		Code int               `json:"code"`
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		t.Fatalf("reply: %v", err)
	}
	if reply.Code != 0 || len(reply.Data) != len(infos) { // the fixture serves RTMP only
		t.Fatalf("code %d, %d items, want %d", reply.Code, len(reply.Data), len(infos))
	}
	for i, item := range reply.Data {
		var got map[string]any
		if err := json.Unmarshal(item, &got); err != nil {
			t.Fatal(err)
		}
		// Everything but what moves with the clock.
		want := zlm.MediaSources(infos[i], []string{zlm.SchemaRTMP}, 0, time.Now())[0]
		for _, k := range []string{"app", "stream", "vhost", "schema", "originUrl", "params", "totalReaderCount", "readerCount"} {
			wantJSON, _ := json.Marshal(want[k])
			gotJSON, _ := json.Marshal(got[k])
			if string(gotJSON) != string(wantJSON) {
				t.Fatalf("item %d %s: %s, want %s", i, k, gotJSON, wantJSON)
			}
		}
	}
}

// TestGetMediaListCutShort: when the walk of the engine fails after part
// of the list went out, the connection is cut, so that the client sees a
// broken reply instead of a short list that looks whole; the call counts
// as failed and is logged.
func TestGetMediaListCutShort(t *testing.T) {
	fx := newFixture(t)
	fx.eng.mu.Lock()
	fx.eng.streams = benchStreamInfos(300)
	fx.eng.eachErr, fx.eng.eachErrAfter = errors.New("engine gone"), 200
	fx.eng.mu.Unlock()
	status, body, err := getListOverHTTP(t, fx)
	if err == nil {
		t.Fatalf("a reply cut short read as whole: HTTP %d, %d bytes ending %q", status, len(body), body[max(0, len(body)-40):])
	}
	if status != http.StatusOK || len(body) < replyPiece {
		t.Fatalf("HTTP %d and %d bytes before the cut, want 200 and a piece at least", status, len(body))
	}
	testutil.Eventually(t, 5*time.Second, "the cut call logged as failed", func() bool {
		logs := fx.logs.String()
		return strings.Contains(logs, "api reply cut short") && strings.Contains(logs, "engine gone") &&
			strings.Contains(logs, `msg="api call" api=getMediaList code=-400`)
	})

	// Before anything went out, the failure is an ordinary error reply.
	fx.eng.mu.Lock()
	fx.eng.eachErrAfter = 1
	fx.eng.mu.Unlock()
	status, m := do(t, fx.srv, newRequest(styleQuery, "getMediaList", withSecret(nil)))
	if status != http.StatusOK || jInt(t, m, "code") != int64(CodeException) {
		t.Fatalf("HTTP %d, %v", status, m)
	}

	// The walk runs while the reply is written, outside the handler's
	// recover: a panic in it is an error reply too, not a crash.
	fx.eng.mu.Lock()
	fx.eng.eachPanic = true
	fx.eng.mu.Unlock()
	status, m = do(t, fx.srv, newRequest(styleQuery, "getMediaList", withSecret(nil)))
	if status != http.StatusOK || jInt(t, m, "code") != int64(CodeException) || !strings.Contains(m["msg"].(string), "panic: engine gone") {
		t.Fatalf("a panicking walk: HTTP %d, %v", status, m)
	}
}

// getListOverHTTP calls getMediaList of fx through a real HTTP server
// and reads the whole reply: its status, the bytes that came and the
// error that ended them (nil for a whole reply).
func getListOverHTTP(t *testing.T, fx *fixture) (int, []byte, error) {
	t.Helper()
	srv := httptest.NewServer(fx.srv)
	defer srv.Close()
	resp, err := http.Get(srv.URL + Prefix + "getMediaList?secret=" + testSecret)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// goneWriter is a client that went away: every write fails.
type goneWriter struct{ discardWriter }

func (w *goneWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

// TestGetMediaListClientGone: a client that goes away while a long list
// is written is neither a cut (no panic, no error log) nor a failed call.
func TestGetMediaListClientGone(t *testing.T) {
	fx := newFixture(t)
	fx.eng.mu.Lock()
	fx.eng.streams = benchStreamInfos(300)
	fx.eng.mu.Unlock()
	w := &goneWriter{discardWriter{h: http.Header{}}}
	fx.srv.ServeHTTP(w, newRequest(styleQuery, "getMediaList", withSecret(nil)))
	logs := fx.logs.String()
	if w.code != http.StatusOK || strings.Contains(logs, "cut short") || strings.Contains(logs, "failed to encode") ||
		!strings.Contains(logs, `msg="api call" api=getMediaList code=0`) {
		t.Fatalf("HTTP %d; logs:\n%s", w.code, logs)
	}
}
