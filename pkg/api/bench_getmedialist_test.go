package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

// discardWriter is a ResponseWriter that keeps nothing, so that a
// benchmark counts the server's allocations, not a recorder's.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// BenchmarkGetMediaList is a whole getMediaList call, from the request
// to the reply's last byte, over a real engine of 1000 published streams
// (H.264 + AAC, a few frames each, one HTTP-FLV reader).
func BenchmarkGetMediaList(b *testing.B) {
	eng := engine.New(engine.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer eng.Close()
	ctx := context.Background()
	for i := range 1000 {
		key := engine.NewKey("", "live", fmt.Sprintf("camera-%04d", i))
		pub, err := eng.Publish(ctx, key, engine.SessionInfo{ID: fmt.Sprintf("pub-%d", i), Protocol: "rtmp",
			Remote: fmt.Sprintf("10.0.%d.%d:%d", i/250, i%250+1, 40000+i), Local: "192.168.1.10:1935", Params: "token=abc"})
		if err != nil {
			b.Fatal(err)
		}
		defer pub.Close()
		video := &media.Track{Codec: media.CodecH264, Width: 640, Height: 360, FPS: 25}
		audio := &media.Track{Codec: media.CodecAAC, SampleRate: 44100, Channels: 1}
		if err := pub.SetTracks([]*media.Track{video, audio}); err != nil {
			b.Fatal(err)
		}
		for f := range 4 {
			d := time.Duration(f) * 40 * time.Millisecond
			if err := pub.WriteFrame(&media.Frame{Track: video, DTS: d, PTS: d, Key: f == 0, Payload: make([]byte, 1000)}); err != nil {
				b.Fatal(err)
			}
			if err := pub.WriteFrame(&media.Frame{Track: audio, DTS: d, PTS: d, Key: true, Payload: make([]byte, 100)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	srv := NewServer(func() string { return testSecret }, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	srv.RegisterZLM(Deps{Engine: eng, Sessions: &fakeSessions{}, Config: &fakeConfig{values: map[string]string{"api.secret": testSecret}},
		Schemas: func(engine.StreamInfo) []string { return benchSchemas }})
	req := httptest.NewRequest(http.MethodGet, "/index/api/getMediaList?secret="+testSecret, nil)
	w := &discardWriter{h: http.Header{}}
	srv.ServeHTTP(w, req)
	if w.code != http.StatusOK || w.n < 1000*500 {
		b.Fatalf("getMediaList: status %d, %d bytes", w.code, w.n)
	}
	b.ReportAllocs()
	for b.Loop() {
		w.n = 0
		srv.ServeHTTP(w, req)
	}
	b.ReportMetric(float64(w.n), "reply-bytes")
}
