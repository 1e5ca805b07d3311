package rtsp

import (
	"context"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"

	"github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"

	"github.com/mediakit/mediakit/pkg/engine"
)

// errAuthFailed closes a connection that sent wrong credentials, as
// ZLMediaKit does; a request without credentials only gets the
// challenge.
var errAuthFailed = errors.New("rtsp: authentication failed")

// realmAuth runs ZLMediaKit's RTSP authentication of a player: the
// realm of the stream (on_rtsp_realm), then a Digest (or Basic) answer
// checked against the password on_rtsp_auth returns. It returns the
// context to play with (marked as authenticated, so that on_play is not
// asked), or the response that refuses the request, with errAuthFailed
// when the connection must close.
func (c *conn) realmAuth(ctx context.Context, req *base.Request, key engine.Key, info engine.SessionInfo) (context.Context, *base.Response, error) {
	ra := c.s.Realm
	if ra == nil {
		return ctx, nil, nil
	}
	realm, err := c.streamRealm(ctx, ra, key, info)
	if err != nil {
		c.log.Info("rtsp play refused: on_rtsp_realm failed", "stream", key.String(), "error", err.Error())
		return nil, textResponse(base.StatusUnauthorized, "authentication unavailable"), nil
	}
	realm = quoteSafe(realm)
	if realm == "" {
		return ctx, nil, nil
	}
	challenge := func() *base.Response {
		return &base.Response{
			StatusCode: base.StatusUnauthorized,
			Header:     base.Header{"WWW-Authenticate": base.HeaderValue{`Digest realm="` + realm + `", nonce="` + c.authNonce() + `"`}},
		}
	}
	if len(req.Header["Authorization"]) == 0 {
		return nil, challenge(), nil
	}
	var a headers.Authorization
	if err := a.Unmarshal(req.Header["Authorization"]); err != nil || a.Username == "" {
		c.log.Info("rtsp play refused: unreadable credentials", "stream", key.String())
		return nil, challenge(), errAuthFailed
	}
	basic := a.Method == headers.AuthMethodBasic
	encrypted, password, err := ra.Password(ctx, key, info, realm, a.Username, basic)
	if err != nil {
		c.log.Info("rtsp play refused: on_rtsp_auth failed", "stream", key.String(), "user", a.Username, "error", err.Error())
		return nil, challenge(), errAuthFailed
	}
	var ok bool
	if basic {
		// A Basic answer needs the password itself (must_no_encrypt).
		ok = !encrypted && subtle.ConstantTimeCompare([]byte(a.BasicPass), []byte(password)) == 1
	} else {
		ha1 := password
		if !encrypted {
			ha1 = md5Hex(a.Username + ":" + realm + ":" + password)
		}
		ok = checkDigest(&a, req, realm, c.authNonce(), ha1)
	}
	if !ok {
		c.log.Info("rtsp play refused: wrong credentials", "stream", key.String(), "user", a.Username)
		return nil, challenge(), errAuthFailed
	}
	return ra.Authenticated(ctx), nil, nil
}

// streamRealm asks the realm of key once per connection and stream: a
// client answers the challenge with a second request.
func (c *conn) streamRealm(ctx context.Context, ra RealmAuth, key engine.Key, info engine.SessionInfo) (string, error) {
	c.mu.Lock()
	if c.realmKnown && c.realmKey == key {
		r := c.realm
		c.mu.Unlock()
		return r, nil
	}
	c.mu.Unlock()
	realm, err := ra.Realm(ctx, key, info)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.realmKey, c.realm, c.realmKnown = key, realm, true
	c.mu.Unlock()
	return realm, nil
}

// authNonce is the connection's Digest nonce, made at the first
// challenge.
func (c *conn) authNonce() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nonce == "" {
		n, err := auth.GenerateNonce()
		if err != nil {
			n = "mediakit" // crypto/rand failed: the challenge still works
		}
		c.nonce = n
	}
	return c.nonce
}

// checkDigest verifies an RFC 2617 Digest answer (MD5, no qop, as
// ZLMediaKit and ffmpeg use it) against ha1 = MD5(user:realm:password).
// The uri of the answer must be the request's (any host, the same path),
// so an answer for one stream does not open another.
func checkDigest(a *headers.Authorization, req *base.Request, realm, nonce, ha1 string) bool {
	if a.Method != headers.AuthMethodDigest || a.Realm != realm || a.Nonce != nonce || a.URI == "" || a.Response == "" {
		return false
	}
	if a.Algorithm != nil && *a.Algorithm != headers.AuthAlgorithmMD5 {
		return false
	}
	if !sameResource(a.URI, req.URL) {
		return false
	}
	want := md5Hex(strings.ToLower(ha1) + ":" + nonce + ":" + md5Hex(string(req.Method)+":"+a.URI))
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(a.Response))) == 1
}

func sameResource(uri string, u *base.URL) bool {
	if u == nil {
		return false
	}
	trim := func(p string) string { return strings.TrimRight(p, "/") }
	if pu, err := url.Parse(uri); err == nil && pu.Path != "" {
		return trim(pu.Path) == trim(u.Path)
	}
	return trim(uri) == trim(u.Path)
}

func md5Hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// quoteSafe keeps a realm from a hook from breaking the header.
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
