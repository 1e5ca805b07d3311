package rtsp

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/base"

	"github.com/mediakit/mediakit/pkg/engine"
)

type authCtxKey struct{}

// authFake answers like on_rtsp_realm and on_rtsp_auth would.
type authFake struct {
	realm     string
	realmErr  error
	encrypted bool
	password  string
	calls     []string // user:mustNoEncrypt
}

func (f *authFake) Realm(context.Context, engine.Key, engine.SessionInfo) (string, error) {
	return f.realm, f.realmErr
}

func (f *authFake) Password(_ context.Context, _ engine.Key, _ engine.SessionInfo, realm, user string, mustNoEncrypt bool) (bool, string, error) {
	f.calls = append(f.calls, user)
	if user != "admin" {
		return false, "", errors.New("no such user")
	}
	if mustNoEncrypt && f.encrypted {
		return true, f.password, nil
	}
	return f.encrypted, f.password, nil
}

func (f *authFake) Authenticated(ctx context.Context) context.Context {
	return context.WithValue(ctx, authCtxKey{}, true)
}

func authConn(f *authFake) *conn {
	return &conn{s: &Server{Realm: f, Log: slog.New(slog.DiscardHandler)}, log: slog.New(slog.DiscardHandler)}
}

func authRequest(t *testing.T, method base.Method, rawURL string) *base.Request {
	t.Helper()
	u, err := base.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return &base.Request{Method: method, URL: u, Header: base.Header{}}
}

// authAnswer answers challenge as a client (gortsplib's) would.
func authAnswer(t *testing.T, challenge *base.Response, req *base.Request, user, pass string) {
	t.Helper()
	s := &auth.Sender{WWWAuth: challenge.Header["WWW-Authenticate"], User: user, Pass: pass}
	if err := s.Initialize(); err != nil {
		t.Fatalf("challenge %v: %v", challenge.Header, err)
	}
	s.AddAuthorization(req)
}

func TestRealmDigest(t *testing.T) {
	key := engine.NewKey("", "live", "cam")
	const url = "rtsp://127.0.0.1:8554/live/cam"
	for _, tc := range []struct {
		name      string
		encrypted bool
		stored    string
		user      string
		pass      string
		ok        bool
	}{
		{"plain password", false, "s3cret", "admin", "s3cret", true},
		{"md5 password", true, md5Hex("admin:cams:s3cret"), "admin", "s3cret", true},
		{"wrong password", false, "s3cret", "admin", "guess", false},
		{"wrong md5", true, md5Hex("admin:other:s3cret"), "admin", "s3cret", false},
		{"unknown user", false, "s3cret", "eve", "s3cret", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &authFake{realm: "cams", encrypted: tc.encrypted, password: tc.stored}
			c := authConn(f)
			req := authRequest(t, base.Describe, url)
			ctx, res, err := c.realmAuth(context.Background(), req, key, engine.SessionInfo{})
			if res == nil || res.StatusCode != base.StatusUnauthorized || err != nil || ctx != nil {
				t.Fatalf("no credentials: %v %v", res, err)
			}
			if h := res.Header["WWW-Authenticate"]; len(h) != 1 || !strings.HasPrefix(h[0], `Digest realm="cams", nonce="`) {
				t.Fatalf("challenge %v", h)
			}
			authAnswer(t, res, req, tc.user, tc.pass)
			ctx, res2, err := c.realmAuth(context.Background(), req, key, engine.SessionInfo{})
			if tc.ok {
				if res2 != nil || err != nil || ctx == nil || ctx.Value(authCtxKey{}) != true {
					t.Fatalf("right credentials: %v %v", res2, err)
				}
				return
			}
			if res2 == nil || res2.StatusCode != base.StatusUnauthorized || !errors.Is(err, errAuthFailed) {
				t.Fatalf("wrong credentials: %v %v", res2, err)
			}
		})
	}
}

// TestRealmDigestReplay: an answer is good for its own URL and nonce.
func TestRealmDigestReplay(t *testing.T) {
	f := &authFake{realm: "cams", password: "s3cret"}
	c := authConn(f)
	key := engine.NewKey("", "live", "cam")
	req := authRequest(t, base.Describe, "rtsp://h/live/cam")
	_, challenge, _ := c.realmAuth(context.Background(), req, key, engine.SessionInfo{})
	authAnswer(t, challenge, req, "admin", "s3cret")
	other := authRequest(t, base.Describe, "rtsp://h/live/other")
	other.Header["Authorization"] = req.Header["Authorization"]
	if _, res, err := c.realmAuth(context.Background(), other, engine.NewKey("", "live", "other"), engine.SessionInfo{}); res == nil || err == nil {
		t.Fatal("an answer for live/cam opened live/other")
	}
	// Another connection has another nonce.
	c2 := authConn(f)
	if _, res, err := c2.realmAuth(context.Background(), req, key, engine.SessionInfo{}); res == nil || err == nil {
		t.Fatal("an answer was accepted on another connection")
	}
}

func TestRealmBasicAndNoRealm(t *testing.T) {
	key := engine.NewKey("", "live", "cam")
	// Basic: compared with the plain password; an MD5 one cannot match.
	for _, tc := range []struct {
		encrypted bool
		ok        bool
	}{{false, true}, {true, false}} {
		f := &authFake{realm: "cams", password: "s3cret", encrypted: tc.encrypted}
		req := authRequest(t, base.Describe, "rtsp://h/live/cam")
		req.Header["Authorization"] = base.HeaderValue{"Basic YWRtaW46czNjcmV0"} // admin:s3cret
		_, res, err := authConn(f).realmAuth(context.Background(), req, key, engine.SessionInfo{})
		if ok := res == nil && err == nil; ok != tc.ok {
			t.Errorf("basic, encrypted %v: %v %v", tc.encrypted, res, err)
		}
	}
	// No realm: no authentication, on_play stays in charge.
	f := &authFake{}
	ctx, res, err := authConn(f).realmAuth(context.Background(), authRequest(t, base.Describe, "rtsp://h/live/cam"), key, engine.SessionInfo{})
	if res != nil || err != nil || ctx.Value(authCtxKey{}) != nil {
		t.Fatalf("no realm: %v %v", res, err)
	}
	// on_rtsp_realm failing refuses.
	f = &authFake{realmErr: errors.New("hook down")}
	if _, res, _ := authConn(f).realmAuth(context.Background(), authRequest(t, base.Describe, "rtsp://h/live/cam"), key, engine.SessionInfo{}); res == nil || res.StatusCode != base.StatusUnauthorized {
		t.Fatalf("realm hook failing: %v", res)
	}
	// A realm cannot break the challenge header.
	f = &authFake{realm: `a"b\c`}
	_, res, _ = authConn(f).realmAuth(context.Background(), authRequest(t, base.Describe, "rtsp://h/live/cam"), key, engine.SessionInfo{})
	if h := res.Header["WWW-Authenticate"][0]; !strings.HasPrefix(h, `Digest realm="abc", nonce="`) {
		t.Fatalf("challenge %q", h)
	}
}
