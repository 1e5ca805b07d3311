package llhls

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"go.uber.org/goleak"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// harness is an engine, an fMP4 HLS server on it and an HTTP server.
type harness struct {
	e    *engine.Engine
	spy  *spyEngine
	srv  *Server
	http *httptest.Server
	logs *testutil.SyncBuffer
}

func testSettings() Settings {
	return Settings{SegDur: time.Second, SegCount: 7, PartDur: 200 * time.Millisecond, IdleTimeout: time.Minute}
}

func newHarness(t *testing.T, s Settings, maxWait time.Duration) *harness {
	t.Helper()
	cfg := engine.DefaultConfig()
	cfg.ContinuePush = 200 * time.Millisecond
	cfg.MaxStreamWait = maxWait
	e := engine.New(cfg, nil)
	logs := &testutil.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var mu sync.Mutex
	spy := &spyEngine{Engine: e}
	srv := NewServer(spy, func() Settings { mu.Lock(); defer mu.Unlock(); return s }, log)
	h := &harness{e: e, spy: spy, srv: srv, http: httptest.NewServer(srv), logs: logs}
	t.Cleanup(func() {
		srv.Close()
		e.Close()
		h.http.Close()
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	return h
}

// spyEngine counts the lookups of streams that are not published.
type spyEngine struct {
	*engine.Engine
	lookups atomic.Int64
}

func (s *spyEngine) Stream(ctx context.Context, key engine.Key) (engine.StreamInfo, bool, error) {
	info, found, err := s.Engine.Stream(ctx, key)
	if !found {
		s.lookups.Add(1)
	}
	return info, found, err
}

// get fetches path from the harness's HTTP server.
func (h *harness) get(t *testing.T, path string) (int, http.Header, []byte) {
	t.Helper()
	return get(t, h.http.URL+path)
}

func get(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header, body
}

// clip returns a clip's tracks and frames.
func clip(t testing.TB, name string) ([]*media.Track, []*media.Frame) {
	t.Helper()
	return clipframes.Read(t, name)
}

// feeder publishes a clip, looped, paced at speed times real time, until
// stopped.
type feeder struct {
	p      *engine.Publisher
	cancel context.CancelFunc
	done   chan struct{}
	base   time.Duration // added to the clip's timestamps
	last   time.Duration // DTS of the last frame sent (after base)
}

func publishClip(t *testing.T, e *engine.Engine, key engine.Key, tracks []*media.Track, frames []*media.Frame, speed float64) *feeder {
	t.Helper()
	p, err := e.Publish(context.Background(), key, engine.SessionInfo{ID: "pub-" + key.Stream, Protocol: "test"})
	if err != nil {
		t.Fatalf("publish %s: %v", key, err)
	}
	if err := p.SetTracks(tracks); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &feeder{p: p, cancel: cancel, done: make(chan struct{})}
	go f.run(ctx, frames, speed)
	t.Cleanup(f.stop)
	return f
}

func (f *feeder) run(ctx context.Context, frames []*media.Frame, speed float64) {
	defer close(f.done)
	clipDur := frames[len(frames)-1].DTS + 40*time.Millisecond
	start := time.Now()
	for loop := 0; ; loop++ {
		for _, fr := range frames {
			c := media.Frame{Track: fr.Track, Key: fr.Key, Payload: fr.Payload,
				DTS: f.base + fr.DTS + time.Duration(loop)*clipDur, PTS: f.base + fr.PTS + time.Duration(loop)*clipDur}
			due := start.Add(time.Duration(float64(c.DTS-f.base) / speed))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return
				}
			}
			if ctx.Err() != nil || f.p.WriteFrame(&c) != nil {
				return
			}
			f.last = c.DTS
		}
	}
}

// stop ends the feed and the publisher.
func (f *feeder) stop() {
	f.cancel()
	<-f.done
	f.p.Close()
}

// mediaPlaylist parses an LL-HLS media playlist.
func mediaPlaylist(t testing.TB, body []byte) *playlist.Media {
	t.Helper()
	var pl playlist.Media
	if err := pl.Unmarshal(body); err != nil {
		t.Fatalf("media playlist: %v\n%s", err, body)
	}
	return &pl
}

// multivariant parses the multivariant playlist and returns the URIs of
// its media playlists (video first), relative to the stream directory.
func multivariant(t *testing.T, body []byte) (*playlist.Multivariant, []string) {
	t.Helper()
	var pl playlist.Multivariant
	if err := pl.Unmarshal(body); err != nil {
		t.Fatalf("multivariant playlist: %v\n%s", err, body)
	}
	var uris []string
	for _, v := range pl.Variants {
		uris = append(uris, v.URI)
	}
	for _, r := range pl.Renditions {
		if r.URI != nil {
			uris = append(uris, *r.URI)
		}
	}
	return &pl, uris
}

// nextPart is the (msn, part) that the next part of pl will have.
func nextPart(pl *playlist.Media) (msn, part int) {
	return pl.MediaSequence + len(pl.Segments), len(pl.Parts)
}

// hasPart reports whether pl lists part (msn, part).
func hasPart(pl *playlist.Media, msn, part int) bool {
	i := msn - pl.MediaSequence
	switch {
	case i < 0:
		return true // already left the playlist
	case i < len(pl.Segments):
		return true // a whole segment
	case i == len(pl.Segments):
		return part < len(pl.Parts)
	}
	return false
}

// waitFor polls cond until it holds or timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dirOf(path string) string { return path[:strings.LastIndexByte(path, '/')+1] }
