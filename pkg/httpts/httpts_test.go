package httpts

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/mediakit/mediakit/pkg/engine"
)

func TestParsePath(t *testing.T) {
	def := engine.DefaultVhost
	for _, c := range []struct {
		path, query string
		want        engine.Key
		ok          bool
	}{
		{"/live/a.live.ts", "", engine.Key{Vhost: def, App: "live", Stream: "a"}, true},
		{"/live/a/b.live.ts", "vhost=v", engine.Key{Vhost: "v", App: "live", Stream: "a/b"}, true},
		{"/live/a.ts", "", engine.Key{}, false}, // an HLS segment
		{"/live/a.live.flv", "", engine.Key{}, false},
		{"/a.live.ts", "", engine.Key{}, false},
		{"/live/.live.ts", "", engine.Key{}, false},
		{"//a.live.ts", "", engine.Key{}, false},
	} {
		q, _ := url.ParseQuery(c.query)
		got, ok := ParsePath(c.path, q)
		if ok != c.ok || got != c.want {
			t.Errorf("ParsePath(%q, %q) = %v, %v; want %v, %v", c.path, c.query, got, ok, c.want, c.ok)
		}
	}
}

// readers wait for the stream, then the clip is published: every reader
// gets the whole clip, identical bytes, PAT first, a keyframe first,
// continuous continuity counters, and a clean end.
func TestHTTPAndWebSocketReadersShareBytes(t *testing.T) {
	ts := newTestServer(t, testConfig())
	key := engine.NewKey("", "live", "x")
	const nHTTP = 3
	var wg sync.WaitGroup
	bodies := make([][]byte, nHTTP+1)
	errs := make([]error, nHTTP+1)
	for i := range nHTTP {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := httpGet(t, ts.srv.URL+"/live/x.live.ts")
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/mp2t" {
				errs[i] = io.ErrUnexpectedEOF
				t.Errorf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
				return
			}
			bodies[i], errs[i] = io.ReadAll(resp.Body)
		}()
	}
	wg.Add(1)
	var wsFrames int
	go func() {
		defer wg.Done()
		_, br, err := wsOpen(t, ts.addr, "/live/x.live.ts")
		if err != nil {
			errs[nHTTP] = err
			return
		}
		bodies[nHTTP], wsFrames, errs[nHTTP] = readWSStream(br)
	}()
	ts.waitWaiting(t, nHTTP+1)
	pub := publishClip(t, ts.e, key)
	pub.Close()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("reader %d: %v", i, err)
		}
	}
	if wsFrames == 0 {
		t.Fatal("no WebSocket binary frames")
	}
	st := parseTS(t, bodies[0])
	if st.firstPID != 0 {
		t.Errorf("first packet on PID %d, want the PAT", st.firstPID)
	}
	if !st.firstVideo {
		t.Error("first video PES is not a random access point")
	}
	// A player starts at a keyframe: audio before the clip's first
	// keyframe is not sent.
	wantAudio := clipAudioFrames - audioBeforeKeyframe(t)
	if st.pes[256] != clipVideoFrames || st.pes[257] != wantAudio {
		t.Errorf("PES: video %d audio %d, want %d and %d", st.pes[256], st.pes[257], clipVideoFrames, wantAudio)
	}
	if len(st.ccErrors) != 0 {
		t.Errorf("continuity counter jumps: %v", st.ccErrors)
	}
	for i := 1; i < len(bodies); i++ {
		if !bytes.Equal(bodies[i], bodies[0]) {
			t.Errorf("reader %d got %d bytes differing from reader 0's %d", i, len(bodies[i]), len(bodies[0]))
		}
	}
	waitFor(t, 5e9, "sessions to end", func() bool { return ts.h.Sessions() == 0 })
}

// A player joining a live stream starts at the GOP cache keyframe, after
// PAT and PMT.
func TestLateJoinerStartsAtKeyframe(t *testing.T) {
	ts := newTestServer(t, testConfig())
	key := engine.NewKey("", "live", "late")
	pub := publishClip(t, ts.e, key)
	done := make(chan []byte)
	go func() {
		resp, err := httpGet(t, ts.srv.URL+"/live/late.live.ts")
		if err != nil {
			t.Error(err)
			close(done)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- b
	}()
	waitFor(t, 5e9, "a session", func() bool { return ts.h.Sessions() == 1 })
	pub.Close()
	body := <-done
	st := parseTS(t, body)
	if st.firstPID != 0 || !st.firstVideo || st.pes[256] == 0 {
		t.Errorf("first PID %d, first video RAP %v, video PES %d", st.firstPID, st.firstVideo, st.pes[256])
	}
}

func TestMissingStreamIs404(t *testing.T) {
	cfg := testConfig()
	cfg.MaxStreamWait = 50e6
	ts := newTestServer(t, cfg)
	resp, err := httpGet(t, ts.srv.URL+"/live/none.live.ts")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("status %d, want 404", resp.StatusCode)
	}
}
