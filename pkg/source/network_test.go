package source

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/media"
)

// waitRun waits up to d for Run's result.
func waitRun(t *testing.T, done <-chan error, d time.Duration) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("Run still running after %v", d)
		return nil
	}
}

// requireStall checks that err is the stall error of input.
func requireStall(t *testing.T, err error, input string, timeout time.Duration) {
	t.Helper()
	want := fmt.Sprintf("no media for %v", timeout)
	if !errors.Is(err, ErrNoMedia) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), input) {
		t.Fatalf("error %v, want %q naming %s", err, want, input)
	}
}

// TestHTTPTS pulls MPEG-TS over HTTP: a chunked body sent slowly, one
// that stops sending, one that never starts.
func TestHTTPTS(t *testing.T) {
	testutil.RequireFFmpeg(t)
	t.Parallel()
	path := remux(t, "h264_bframes_aac.flv", t.TempDir(), "a.ts")
	want := probe(t, path)
	ts, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/live/s.live.ts", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp2t")
		for b := ts; len(b) > 0; {
			n := min(len(b), 7*188)
			if _, err := w.Write(b[:n]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			b = b[n:]
			time.Sleep(time.Millisecond)
		}
	})
	hold := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	mux.HandleFunc("/live/silent.live.ts", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp2t")
		w.(http.Flusher).Flush()
		hold(w, r)
	})
	// silent, and saying when its headers went out
	heldOpen := make(chan struct{}, 1)
	mux.HandleFunc("/live/held.live.ts", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp2t")
		w.(http.Flusher).Flush()
		heldOpen <- struct{}{}
		hold(w, r)
	})
	mux.HandleFunc("/live/stops.live.ts", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(ts[:len(ts)/3/188*188])
		w.(http.Flusher).Flush()
		hold(w, r)
	})
	// TS packets of no elementary stream: bytes flow, media does not.
	mux.HandleFunc("/live/padding.live.ts", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(ts[:len(ts)/3/188*188])
		null := make([]byte, 188)
		null[0], null[1], null[2], null[3] = 0x47, 0x1f, 0xff, 0x10
		for {
			if _, err := w.Write(null); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-release:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // first: handlers return

	t.Run("chunked", func(t *testing.T) {
		t.Parallel()
		src := mustOpen(t, srv.URL+"/live/s.live.ts", Options{ReadTimeout: 5 * time.Second})
		sink := &recSink{}
		if err := src.Run(context.Background(), sink); err != nil {
			t.Fatal(err)
		}
		matchProbe(t, sink, want, 1)
		if src.BytesRead() != int64(len(ts)) || src.Size() != -1 {
			t.Errorf("BytesRead %d, Size %d of a chunked %d byte body", src.BytesRead(), src.Size(), len(ts))
		}
	})
	for _, name := range []string{"silent", "stops", "padding"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			u := srv.URL + "/live/" + name + ".live.ts"
			sink := &recSink{}
			done := runAsync(context.Background(), mustOpen(t, u, Options{ReadTimeout: 500 * time.Millisecond}), sink)
			requireStall(t, waitRun(t, done, 10*time.Second), u, 500*time.Millisecond)
			if v, _ := sink.count(); name != "silent" && v == 0 {
				t.Error("the frames before the stall did not reach the sink")
			}
		})
	}
	t.Run("no headers", func(t *testing.T) {
		t.Parallel()
		mux.HandleFunc("/live/mute.live.ts", hold)
		u := srv.URL + "/live/mute.live.ts"
		err := waitRun(t, runAsync(context.Background(), mustOpen(t, u, Options{StartTimeout: 300 * time.Millisecond}), &recSink{}), 10*time.Second)
		if err == nil || !strings.Contains(err.Error(), "no response headers within 300ms") || !strings.Contains(err.Error(), u) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("404", func(t *testing.T) {
		t.Parallel()
		u := srv.URL + "/live/missing.live.ts"
		err := mustOpen(t, u, Options{}).Run(context.Background(), &recSink{})
		if err == nil || !strings.Contains(err.Error(), "HTTP 404") || !strings.Contains(err.Error(), u) {
			t.Fatalf("error %v, want HTTP 404 naming %s", err, u)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		done := runAsync(ctx, mustOpen(t, srv.URL+"/live/held.live.ts", Options{}), &recSink{})
		// Cancelled once connected and waiting for media, not before.
		select {
		case <-heldOpen:
		case err := <-done:
			t.Fatalf("Run returned before the server answered: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("the request did not reach the server within 10 s")
		}
		requireStopsAfterCancel(t, cancel, done)
	})
}

// hlsFixture is a VOD HLS rendition of a clip made by ffmpeg.
type hlsFixture struct {
	dir      string
	playlist *playlist // index.m3u8
	want     probed    // ffprobe of index.m3u8
}

func makeHLS(t *testing.T, clip string) *hlsFixture {
	t.Helper()
	dir := t.TempDir()
	remux(t, clip, dir, "index.m3u8", "-f", "hls", "-hls_time", "1", "-hls_list_size", "0",
		"-hls_segment_filename", filepath.Join(dir, "seg%d.ts"))
	b, err := os.ReadFile(filepath.Join(dir, "index.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	pl, err := parsePlaylist(b)
	if err != nil {
		t.Fatal(err)
	}
	if !pl.endList || len(pl.segments) < 4 {
		t.Fatalf("ffmpeg's playlist: %d segments, ENDLIST %v", len(pl.segments), pl.endList)
	}
	return &hlsFixture{dir: dir, playlist: pl, want: probe(t, filepath.Join(dir, "index.m3u8"))}
}

// mediaPlaylist writes a media playlist of segs.
func mediaPlaylist(td int, seq int64, segs []segment, end bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:%d\n", td, seq)
	for _, s := range segs {
		if s.discontinuity {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		fmt.Fprintf(&b, "#EXTINF:%.3f,\n%s\n", s.duration.Seconds(), s.uri)
	}
	if end {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return b.String()
}

func TestHLS(t *testing.T) {
	testutil.RequireFFmpeg(t)
	t.Parallel()
	fx := makeHLS(t, "h264_bframes_aac.flv")
	segs := fx.playlist.segments
	var liveRequests atomic.Int64
	var mu sync.Mutex
	mux := http.NewServeMux()
	mux.Handle("/vod/", http.StripPrefix("/vod/", http.FileServer(http.Dir(fx.dir))))
	mux.HandleFunc("/master.m3u8", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "#EXTM3U\n"+
			"#EXT-X-STREAM-INF:BANDWIDTH=100000,CODECS=\"avc1.4d401e,mp4a.40.2\"\nlow/missing.m3u8\n"+
			"#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=320x240\nvod/index.m3u8\n"+
			"#EXT-X-STREAM-INF:BANDWIDTH=300000\nmid/missing.m3u8\n")
	})
	// A live window of three segments that moves on by one segment at
	// each request, then ends.
	mux.HandleFunc("/live/index.m3u8", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		n := int(liveRequests.Add(1))
		end := min(2+n, len(segs))
		start := max(0, end-3)
		fmt.Fprint(w, mediaPlaylist(1, int64(start), segs[start:end], end == len(segs)))
	})
	mux.Handle("/live/", http.StripPrefix("/live/", http.FileServer(http.Dir(fx.dir))))
	// A live playlist that offers all segments at once, then ends: the
	// source starts at the live edge.
	var edgeRequests atomic.Int64
	mux.HandleFunc("/edge/index.m3u8", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, mediaPlaylist(1, 100, segs, edgeRequests.Add(1) > 1))
	})
	mux.Handle("/edge/", http.StripPrefix("/edge/", http.FileServer(http.Dir(fx.dir))))
	// A live playlist that never advances.
	mux.HandleFunc("/stuck/index.m3u8", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, mediaPlaylist(1, 7, segs[:2], false))
	})
	mux.Handle("/stuck/", http.StripPrefix("/stuck/", http.FileServer(http.Dir(fx.dir))))
	// A segment missing.
	mux.HandleFunc("/holes/index.m3u8", func(w http.ResponseWriter, r *http.Request) {
		bad := append([]segment{}, segs[:2]...)
		bad = append(bad, segment{uri: "gone.ts", duration: time.Second})
		fmt.Fprint(w, mediaPlaylist(1, 10, bad, true))
	})
	mux.Handle("/holes/", http.StripPrefix("/holes/", http.FileServer(http.Dir(fx.dir))))
	// The clip twice, its timestamps starting over after a
	// discontinuity.
	mux.HandleFunc("/twice/index.m3u8", func(w http.ResponseWriter, r *http.Request) {
		again := append([]segment{}, segs...)
		again[0].discontinuity = true
		fmt.Fprint(w, mediaPlaylist(1, 0, append(append([]segment{}, segs...), again...), true))
	})
	mux.Handle("/twice/", http.StripPrefix("/twice/", http.FileServer(http.Dir(fx.dir))))
	// fMP4 segments, as ffmpeg writes them, and mixed with MPEG-TS ones.
	fmp4 := t.TempDir()
	remux(t, "h264_bframes_aac.flv", fmp4, "index.m3u8", "-f", "hls", "-hls_segment_type", "fmp4", "-hls_time", "1",
		"-hls_list_size", "0", "-hls_playlist_type", "vod")
	mux.Handle("/fmp4/", http.StripPrefix("/fmp4/", http.FileServer(http.Dir(fmp4))))
	mux.HandleFunc("/mixed/index.m3u8", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nseg0.ts\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2,\nseg0.m4s\n#EXT-X-ENDLIST\n")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	run := func(t *testing.T, path string, opts Options) (*recSink, error) {
		t.Helper()
		sink := &recSink{}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		err := waitRun(t, runAsync(ctx, mustOpen(t, srv.URL+path, opts), sink), 60*time.Second)
		return sink, err
	}

	t.Run("vod", func(t *testing.T) {
		t.Parallel()
		sink, err := run(t, "/vod/index.m3u8", Options{})
		if err != nil {
			t.Fatal(err)
		}
		matchProbe(t, sink, fx.want, 1)
	})
	t.Run("master", func(t *testing.T) {
		t.Parallel()
		sink, err := run(t, "/master.m3u8?token=x", Options{})
		if err != nil {
			t.Fatal(err)
		}
		matchProbe(t, sink, fx.want, 1)
	})
	t.Run("live window", func(t *testing.T) {
		t.Parallel()
		sink, err := run(t, "/live/index.m3u8", Options{})
		if err != nil {
			t.Fatal(err)
		}
		// Every segment once, in order: the frames and their times are
		// those of the whole rendition.
		matchProbe(t, sink, fx.want, 1)
		if n := liveRequests.Load(); n < int64(len(segs)-2) {
			t.Errorf("%d playlist requests for a window that moves at each", n)
		}
	})
	t.Run("live edge", func(t *testing.T) {
		t.Parallel()
		sink, err := run(t, "/edge/index.m3u8", Options{})
		if err != nil {
			t.Fatal(err)
		}
		// The last three segments only.
		var want int
		for _, s := range segs[len(segs)-liveEdgeSegments:] {
			want += len(probe(t, filepath.Join(fx.dir, s.uri)).keys[media.KindVideo])
		}
		if got := len(sink.ofKind(media.KindVideo)); got != want {
			t.Errorf("%d video frames, want the %d of the last %d segments", got, want, liveEdgeSegments)
		}
	})
	t.Run("discontinuity", func(t *testing.T) {
		t.Parallel()
		sink, err := run(t, "/twice/index.m3u8", Options{})
		if err != nil {
			t.Fatal(err)
		}
		matchProbe(t, sink, fx.want, 2)
	})
	t.Run("stuck", func(t *testing.T) {
		t.Parallel()
		u := srv.URL + "/stuck/index.m3u8"
		_, err := run(t, "/stuck/index.m3u8", Options{ReadTimeout: 500 * time.Millisecond})
		// max(3 target durations, ReadTimeout)
		requireStall(t, err, u, 3*time.Second)
		if !strings.Contains(err.Error(), "no new segment") {
			t.Errorf("error %v does not say the playlist did not advance", err)
		}
	})
	t.Run("404 segment", func(t *testing.T) {
		t.Parallel()
		sink, err := run(t, "/holes/index.m3u8", Options{})
		if err == nil || !strings.Contains(err.Error(), "segment 12") || !strings.Contains(err.Error(), "HTTP 404") ||
			!strings.Contains(err.Error(), srv.URL+"/holes/index.m3u8") {
			t.Fatalf("error %v, want segment 12's 404 naming the playlist", err)
		}
		if v, _ := sink.count(); v == 0 {
			t.Error("the segments before the missing one did not reach the sink")
		}
	})
	t.Run("404 playlist", func(t *testing.T) {
		t.Parallel()
		_, err := run(t, "/none/index.m3u8", Options{})
		if err == nil || !strings.Contains(err.Error(), "HTTP 404") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("fmp4", func(t *testing.T) {
		t.Parallel()
		sink, err := run(t, "/fmp4/index.m3u8", Options{})
		if err != nil {
			t.Fatal(err)
		}
		matchProbe(t, sink, fx.want, 1)
	})
	t.Run("mixed", func(t *testing.T) {
		t.Parallel()
		_, err := run(t, "/mixed/index.m3u8", Options{})
		if err == nil || !strings.Contains(err.Error(), "MPEG-TS and fMP4 segments (EXT-X-MAP) mixed") {
			t.Fatalf("error %v, want the mix refused", err)
		}
	})
	t.Run("live refused", func(t *testing.T) {
		t.Parallel()
		_, err := run(t, "/stuck/index.m3u8", Options{RequireEnd: true})
		if !errors.Is(err, ErrLive) || !strings.Contains(err.Error(), srv.URL+"/stuck/index.m3u8") {
			t.Fatalf("error %v, want ErrLive naming the playlist", err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		sink := &recSink{}
		done := runAsync(ctx, mustOpen(t, srv.URL+"/stuck/index.m3u8", Options{}), sink)
		deadline := time.Now().Add(10 * time.Second)
		for v, _ := sink.count(); v == 0; v, _ = sink.count() {
			if time.Now().After(deadline) {
				t.Fatal("no frame within 10 s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		requireStopsAfterCancel(t, cancel, done)
	})
}
