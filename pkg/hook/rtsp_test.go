package hook

import (
	"context"
	"errors"
	"testing"

	"github.com/mediakit/mediakit/pkg/engine"
)

var testRTSPPlayer = engine.SessionInfo{
	ID:       "rtsp-7",
	Protocol: "rtsp",
	Remote:   "10.0.17.140:50600",
	Local:    "10.0.0.2:8554",
	Params:   "token=abc",
}

// withRTSPHooks points on_rtsp_realm and on_rtsp_auth at the env's server.
func withRTSPHooks(e *hooksEnv) {
	e.box.update(func(s *Settings) {
		s.URLs[OnRTSPRealm] = e.srv.url(OnRTSPRealm)
		s.URLs[OnRTSPAuth] = e.srv.url(OnRTSPAuth)
	})
}

func TestRTSPRealmAndAuthBodies(t *testing.T) {
	e := newHooksEnv(t, replies(map[string]string{
		OnRTSPRealm: `{"code":0,"realm":"zlm_realm"}`,
		OnRTSPAuth:  `{"code":0,"encrypted":true,"passwd":"0123456789abcdef0123456789abcdef"}`,
	}))
	withRTSPHooks(e)
	ctx := context.Background()
	realm, err := e.hooks.RTSPRealm(ctx, testKey, testRTSPPlayer)
	if err != nil || realm != "zlm_realm" {
		t.Fatalf("RTSPRealm = %q, %v", realm, err)
	}
	r := e.srv.requests(OnRTSPRealm)[0]
	checkKeys(t, OnRTSPRealm, r.Fields, "schema", "protocol", "vhost", "app", "stream", "params",
		"ip", "port", "id", "mediaServerId", "hook_index")
	checkFields(t, OnRTSPRealm, r.Fields, map[string]string{
		"schema": `"rtsp"`, "protocol": `"rtsp"`, "vhost": `"__defaultVhost__"`, "app": `"live"`, "stream": `"obs"`,
		"params": `"token=abc"`, "ip": `"10.0.17.140"`, "port": `50600`, "id": `"rtsp-7"`,
	})

	encrypted, passwd, err := e.hooks.RTSPAuth(ctx, testKey, testRTSPPlayer, realm, "admin", false)
	if err != nil || !encrypted || passwd != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("RTSPAuth = %v, %q, %v", encrypted, passwd, err)
	}
	r = e.srv.requests(OnRTSPAuth)[0]
	checkKeys(t, OnRTSPAuth, r.Fields, "schema", "protocol", "vhost", "app", "stream", "params",
		"ip", "port", "id", "user_name", "must_no_encrypt", "realm", "mediaServerId", "hook_index")
	checkFields(t, OnRTSPAuth, r.Fields, map[string]string{
		"schema": `"rtsp"`, "user_name": `"admin"`, "must_no_encrypt": `false`, "realm": `"zlm_realm"`, "id": `"rtsp-7"`,
	})
}

func TestRTSPRealmNotConfigured(t *testing.T) {
	e := newHooksEnv(t, nil)
	realm, err := e.hooks.RTSPRealm(context.Background(), testKey, testRTSPPlayer)
	if err != nil || realm != "" {
		t.Fatalf("RTSPRealm without hook = %q, %v; want no realm", realm, err)
	}
	// A realm without on_rtsp_auth refuses everybody, as ZLMediaKit does.
	if _, _, err := e.hooks.RTSPAuth(context.Background(), testKey, testRTSPPlayer, "r", "u", false); !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("RTSPAuth without hook: %v, want ErrNotConfigured", err)
	}
	if n := len(e.srv.requests("")); n != 0 {
		t.Errorf("%d hook requests without the hooks configured", n)
	}
}

func TestRTSPAuthRefusals(t *testing.T) {
	for name, reply := range map[string]string{
		"code":       `{"code":-1,"msg":"no such user"}`,
		"no passwd":  `{"code":0,"encrypted":false}`,
		"not json":   `nope`,
		"passwd num": `{"code":0,"passwd":12}`,
	} {
		t.Run(name, func(t *testing.T) {
			e := newHooksEnv(t, replies(map[string]string{OnRTSPAuth: reply, OnRTSPRealm: `{"code":-1}`}))
			withRTSPHooks(e)
			e.box.update(func(s *Settings) { s.Retry = 0 })
			if _, _, err := e.hooks.RTSPAuth(context.Background(), testKey, testRTSPPlayer, "r", "u", true); err == nil {
				t.Fatal("RTSPAuth succeeded")
			}
			if _, err := e.hooks.RTSPRealm(context.Background(), testKey, testRTSPPlayer); err == nil {
				t.Fatal("RTSPRealm with a non-zero code succeeded")
			}
		})
	}
}

// TestRTSPAuthenticatedSkipsOnPlay: a player that passed the realm's
// Digest authentication is not asked about again through on_play.
func TestRTSPAuthenticatedSkipsOnPlay(t *testing.T) {
	e := newHooksEnv(t, replies(map[string]string{OnPlay: `{"code":-1,"msg":"no"}`}))
	if err := e.hooks.AuthorizePlay(context.Background(), testKey, testRTSPPlayer); !errors.Is(err, engine.ErrDenied) {
		t.Fatalf("on_play denial: %v", err)
	}
	if err := e.hooks.AuthorizePlay(WithRTSPAuthenticated(context.Background()), testKey, testRTSPPlayer); err != nil {
		t.Fatalf("authenticated RTSP player: %v", err)
	}
	if n := len(e.srv.requests(OnPlay)); n != 1 {
		t.Errorf("%d on_play requests, want 1", n)
	}
}
