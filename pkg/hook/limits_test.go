package hook

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mediakit/mediakit/pkg/engine"
)

// deepReply is a reply with code 0 whose "extra" member makes the whole
// reply nest depth levels (the object itself is the first).
func deepReply(depth int) string {
	return `{"code":0,"msg":"success","extra":` +
		strings.Repeat(`[{"a":`, (depth-1)/2) + strings.Repeat("[", (depth-1)%2) + "1" +
		strings.Repeat("]", (depth-1)%2) + strings.Repeat(`}]`, (depth-1)/2) + "}"
}

// TestCallReplyDepthLimited: a reply nesting deeper than 32 levels is no
// answer, as a reply that is not JSON: retried, then a failed call,
// whatever code it carries.
func TestCallReplyDepthLimited(t *testing.T) {
	tests := []struct {
		name    string
		replies []string
		ok      bool
		calls   int
	}{
		{name: "100 deep every time", replies: []string{deepReply(100)}, calls: 2},
		{name: "33 deep every time", replies: []string{deepReply(33)}, calls: 2},
		{name: "100 deep then ok", replies: []string{deepReply(100), `{"code":0}`}, ok: true, calls: 2},
		{name: "32 deep", replies: []string{deepReply(32)}, ok: true, calls: 1},
		{name: "brackets in a string", replies: []string{`{"code":0,"msg":"` + strings.Repeat("[{", 100) + `"}`}, ok: true, calls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			srv := newHookServer(t, func(s *hookServer, r request, w http.ResponseWriter, req *http.Request) {
				i := int(n.Add(1)) - 1
				writeJSON(w, tt.replies[min(i, len(tt.replies)-1)])
			})
			m := &metricsRec{}
			box := &settingsBox{}
			s := fastSettings(map[string]string{testHook: srv.url(testHook)})
			s.Retry = 1
			box.set(s)
			c := newTestClient(t, box, m)
			reply, err := c.Call(context.Background(), testHook, nil)
			if got := len(srv.requests(testHook)); got != tt.calls {
				t.Errorf("%d attempts, want %d", got, tt.calls)
			}
			want := ResultOK
			if !tt.ok {
				want = ResultFailed
				var denied *DeniedError
				if err == nil || errors.As(err, &denied) || reply != nil {
					t.Fatalf("reply %v, error %v; want a failed call", reply, err)
				}
				if !strings.Contains(err.Error(), "more than 32 levels") {
					t.Errorf("error %q does not name the limit", err)
				}
			} else if err != nil {
				t.Fatalf("Call: %v", err)
			}
			if m.count(testHook, want) != 1 || len(m.all()) != 1 {
				t.Errorf("metrics %v, want one %s", m.all(), want)
			}
		})
	}
}

// TestOnPublishDeepReplyDenies: an authorization hook answering with a
// too-deep reply denies, as an unreachable hook server does, even though
// the reply says code 0.
func TestOnPublishDeepReplyDenies(t *testing.T) {
	e := newHooksEnv(t, replies(map[string]string{OnPublish: deepReply(100)}))
	if _, err := e.hooks.AuthorizePublish(context.Background(), testKey, testPusher); !errors.Is(err, engine.ErrDenied) {
		t.Errorf("error %v, want engine.ErrDenied", err)
	}
	if n := len(e.srv.requests(OnPublish)); n != 1 {
		t.Errorf("%d attempts, want 1 (no retry configured)", n)
	}
}
