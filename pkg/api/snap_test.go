package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/snap"
)

// fakeSnapper records its requests and answers with a fixed image.
type fakeSnapper struct {
	mu   sync.Mutex
	reqs []snap.Request
	res  snap.Result
	err  error
}

func (f *fakeSnapper) Snap(ctx context.Context, req snap.Request) (snap.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	return f.res, f.err
}

func (f *fakeSnapper) requests() []snap.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]snap.Request(nil), f.reqs...)
}

func newSnapFixture(t *testing.T) (*fixture, *fakeSnapper) {
	fx := newFixture(t)
	fs := &fakeSnapper{res: snap.Result{JPEG: []byte("\xff\xd8jpeg\xff\xd9")}}
	fx.srv.RegisterSnap(fs)
	return fx, fs
}

func TestGetSnapAnswersWithTheImage(t *testing.T) {
	for _, st := range allStyles {
		t.Run(st.String(), func(t *testing.T) {
			fx, fs := newSnapFixture(t)
			r := newRequest(st, "getSnap", withSecret(map[string]any{
				"url": "rtsp://10.0.0.1/cam", "timeout_sec": "2.5", "expire_sec": 30, "async": 1,
			}))
			w := httptest.NewRecorder()
			fx.srv.ServeHTTP(w, r)
			if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "image/jpeg" || w.Body.String() != "\xff\xd8jpeg\xff\xd9" {
				t.Fatalf("HTTP %d %q: %q", w.Code, w.Header().Get("Content-Type"), w.Body.String())
			}
			if w.Header().Get("Content-Length") != "8" {
				t.Errorf("Content-Length %q", w.Header().Get("Content-Length"))
			}
			want := snap.Request{URL: "rtsp://10.0.0.1/cam", Timeout: 2500 * time.Millisecond, Expire: 30 * time.Second}
			if got := fs.requests(); len(got) != 1 || got[0] != want {
				t.Fatalf("requests %+v, want %+v", got, want)
			}
		})
	}
}

func TestGetSnapDefaultImageIsStillAnImage(t *testing.T) {
	fx, fs := newSnapFixture(t)
	fs.res = snap.Result{JPEG: snap.Default(), Default: true, Err: errors.New("ffmpeg timed out")}
	w := httptest.NewRecorder()
	fx.srv.ServeHTTP(w, newRequest(styleQuery, "getSnap", withSecret(map[string]any{
		"url": "rtsp://10.0.0.1/cam", "timeout_sec": 1, "expire_sec": 0,
	})))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "image/jpeg" || w.Body.Len() != len(snap.Default()) {
		t.Fatalf("HTTP %d %q, %d bytes", w.Code, w.Header().Get("Content-Type"), w.Body.Len())
	}
}

func TestGetSnapErrorsAreJSON(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params map[string]any
		err    error
		code   int64
		msg    string
	}{
		{"missing url", map[string]any{"timeout_sec": 1, "expire_sec": 1}, nil, -300, `Required parameter missed: "url","timeout_sec","expire_sec"`},
		{"missing expire", map[string]any{"url": "rtsp://h/c", "timeout_sec": 1}, nil, -300, "Required parameter missed"},
		{"bad timeout", map[string]any{"url": "rtsp://h/c", "timeout_sec": "x", "expire_sec": 1}, nil, -300, "timeout_sec"},
		{"zero timeout", map[string]any{"url": "rtsp://h/c", "timeout_sec": 0, "expire_sec": 1}, nil, -300, "timeout_sec"},
		{"bad expire", map[string]any{"url": "rtsp://h/c", "timeout_sec": 1, "expire_sec": "soon"}, nil, -300, "expire_sec"},
		{"bad async", map[string]any{"url": "rtsp://h/c", "timeout_sec": 1, "expire_sec": 1, "async": "maybe"}, nil, -300, "async"},
		{"refused url", map[string]any{"url": "concat:/etc/passwd", "timeout_sec": 1, "expire_sec": 1},
			fmt.Errorf("%w: protocol refused", snap.ErrInvalid), -300, "protocol refused"},
		{"other failure", map[string]any{"url": "rtsp://h/c", "timeout_sec": 1, "expire_sec": 1},
			errors.New("disk full"), -1, "disk full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx, fs := newSnapFixture(t)
			fs.err = tc.err
			m := fx.call(t, styleQuery, "getSnap", tc.params)
			if jInt(t, m, "code") != tc.code || !strings.Contains(jStr(t, m, "msg"), tc.msg) {
				t.Fatalf("reply %v, want code %d msg containing %q", m, tc.code, tc.msg)
			}
		})
	}
}

func TestGetSnapNeedsTheSecret(t *testing.T) {
	fx, fs := newSnapFixture(t)
	_, m := do(t, fx.srv, newRequest(styleQuery, "getSnap", map[string]any{
		"url": "rtsp://h/c", "timeout_sec": 1, "expire_sec": 1, "secret": "wrong",
	}))
	if jInt(t, m, "code") != -100 || len(fs.requests()) != 0 {
		t.Fatalf("wrong secret: %v, %d snaps", m, len(fs.requests()))
	}
}

func TestGetSnapHead(t *testing.T) {
	fx, _ := newSnapFixture(t)
	r := newRequest(styleQuery, "getSnap", withSecret(map[string]any{"url": "rtsp://h/c", "timeout_sec": 1, "expire_sec": 1}))
	r.Method = http.MethodHead
	w := httptest.NewRecorder()
	fx.srv.ServeHTTP(w, r)
	if w.Code != http.StatusOK || w.Body.Len() != 0 || w.Header().Get("Content-Length") != "8" {
		t.Fatalf("HEAD: HTTP %d, %d bytes, Content-Length %q", w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
	}
}
