package hls

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mediakit/mediakit/internal/testutil"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/media"
)

type countingAuthorizer struct {
	mu sync.Mutex
	n  int
}

func (a *countingAuthorizer) AuthorizePlay(context.Context, engine.Key, engine.SessionInfo) error {
	a.mu.Lock()
	a.n++
	a.mu.Unlock()
	return nil
}

func (a *countingAuthorizer) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// viewerEnv is an engine with one ready stream and a viewer table.
type viewerEnv struct {
	e    *engine.Engine
	key  engine.Key
	pub  *engine.Publisher
	auth *countingAuthorizer
	vs   *Viewers
}

func newViewerEnv(t *testing.T) *viewerEnv {
	t.Helper()
	e := engine.New(engine.DefaultConfig(), nil)
	t.Cleanup(e.Close)
	env := &viewerEnv{e: e, key: engine.NewKey("", "live", "v"), auth: &countingAuthorizer{}}
	env.publish(t)
	env.vs = NewViewers(e, env.auth, nil)
	t.Cleanup(env.vs.Close)
	return env
}

func (env *viewerEnv) publish(t *testing.T) {
	t.Helper()
	p, err := env.e.Publish(context.Background(), env.key, engine.SessionInfo{ID: "pub", Protocol: "rtmp"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetTracks([]*media.Track{{Codec: media.CodecAAC, SampleRate: 44100, Channels: 2}}); err != nil {
		t.Fatal(err)
	}
	env.pub = p
}

// request makes one HLS request as a player would; it returns the viewer
// and the cookies the reply set.
func (env *viewerEnv) request(t *testing.T, remote, agent string, cookies []*http.Cookie) (*Viewer, []*http.Cookie) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/live/v/hls.m3u8", nil)
	r.RemoteAddr = remote
	r.Header.Set("User-Agent", agent)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	v := env.vs.Find(r, env.key, Protocol, remote)
	var info engine.SessionInfo
	if v == nil {
		var err error
		if info, err = env.vs.Authorize(r, env.key, Protocol, remote); err != nil {
			t.Fatal(err)
		}
	}
	v, err := env.vs.Admit(w, r, env.key, v, info, StreamDir(env.key))
	if err != nil {
		t.Fatal(err)
	}
	return v, w.Result().Cookies()
}

func (env *viewerEnv) readers(t *testing.T) []engine.ReaderInfo {
	t.Helper()
	info, _, err := env.e.Stream(context.Background(), env.key)
	if err != nil {
		t.Fatal(err)
	}
	return info.Readers
}

// TestViewerSession: the first request asks once and sets a cookie;
// requests with the cookie, or from the same address and player without
// it, are the same viewer; another player is another viewer.
func TestViewerSession(t *testing.T) {
	env := newViewerEnv(t)
	v1, cookies := env.request(t, "192.0.2.1:1000", "ffmpeg", nil)
	if len(cookies) != 1 || cookies[0].Name != CookieName(Protocol) || cookies[0].Path != "/live/v/" {
		t.Fatalf("cookies %+v", cookies)
	}
	for range 5 {
		if v, set := env.request(t, "192.0.2.1:1001", "ffmpeg", cookies); v != v1 || len(set) != 0 {
			t.Fatalf("a request with the cookie made viewer %v (cookies %v)", v.ID(), set)
		}
	}
	if v, _ := env.request(t, "192.0.2.1:1002", "ffmpeg", nil); v != v1 {
		t.Fatal("a cookie-less request from the same player is a new viewer")
	}
	v2, _ := env.request(t, "192.0.2.1:1003", "hls.js", nil)
	if v2 == v1 {
		t.Fatal("another User-Agent is the same viewer")
	}
	// Another address with a stolen cookie is still the cookie's viewer.
	if v, _ := env.request(t, "198.51.100.7:1000", "ffmpeg", cookies); v != v1 {
		t.Fatal("the cookie did not name the viewer")
	}
	if n := env.auth.count(); n != 2 {
		t.Fatalf("on_play asked %d times for 2 viewers", n)
	}
	rs := env.readers(t)
	if len(rs) != 2 || rs[0].Protocol != Protocol || rs[1].Protocol != Protocol {
		t.Fatalf("readers %+v", rs)
	}
	v1.AddBytes(1000)
	// Quiet viewers leave; the next request is a new viewer, asked again.
	env.vs.Reap(time.Now().Add(DefaultViewerTimeout + time.Second))
	if n := len(env.readers(t)); n != 0 || env.vs.Len() != 0 {
		t.Fatalf("%d readers, %d viewers after the timeout", n, env.vs.Len())
	}
	if v, _ := env.request(t, "192.0.2.1:1001", "ffmpeg", cookies); v == v1 {
		t.Fatal("an ended viewer came back")
	}
	if n := env.auth.count(); n != 3 {
		t.Fatalf("on_play asked %d times, want 3", n)
	}
}

// TestViewerWithoutAddress: a client without an IP address (a unix
// socket's) and without cookies is asked every time, for one viewer by
// the zero address would let every such client in.
func TestViewerWithoutAddress(t *testing.T) {
	env := newViewerEnv(t)
	for range 3 {
		env.request(t, "@", "curl", nil)
	}
	if n := env.auth.count(); n != 3 {
		t.Fatalf("asked %d times for 3 requests, want 3", n)
	}
}

// TestViewerFollowsRepublish: a viewer whose stream ended and was
// published again watches the new stream, without being asked again.
func TestViewerFollowsRepublish(t *testing.T) {
	env := newViewerEnv(t)
	v, cookies := env.request(t, "192.0.2.1:1000", "ffmpeg", nil)
	if _, err := env.e.CloseStream(context.Background(), env.key, "test"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the closed stream to be gone", func() bool {
		_, found, _ := env.e.Stream(context.Background(), env.key)
		return !found
	})
	env.publish(t)
	if again, _ := env.request(t, "192.0.2.1:1000", "ffmpeg", cookies); again != v {
		t.Fatal("a new viewer after a republish")
	}
	if rs := env.readers(t); len(rs) != 1 || rs[0].ID != v.ID() {
		t.Fatalf("readers of the new stream %+v", rs)
	}
	if n := env.auth.count(); n != 1 {
		t.Fatalf("asked %d times", n)
	}
}
