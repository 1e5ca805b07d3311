package hook

import (
	"context"
	"errors"
	"fmt"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/zlm"
)

// ZLMediaKit's RTSP-specific authentication hooks.
const (
	OnRTSPRealm = "on_rtsp_realm"
	OnRTSPAuth  = "on_rtsp_auth"
)

type rtspAuthenticatedKey struct{}

// WithRTSPAuthenticated marks ctx as the context of an RTSP player that
// passed the Digest authentication of the realm on_rtsp_realm named:
// AuthorizePlay then does not ask on_play, as ZLMediaKit does not.
func WithRTSPAuthenticated(ctx context.Context) context.Context {
	return context.WithValue(ctx, rtspAuthenticatedKey{}, true)
}

func rtspAuthenticated(ctx context.Context) bool {
	v, _ := ctx.Value(rtspAuthenticatedKey{}).(bool)
	return v
}

// RTSPRealm asks on_rtsp_realm for the realm of an RTSP player's stream,
// with ZLMediaKit's body (the media tuple, schema, protocol, and the
// player's ip, port and id). No hook configured, or an empty realm in
// the reply: "" (no RTSP authentication). A failed call or a non-zero
// code is an error: the player is refused, as ZLMediaKit refuses it.
func (h *Hooks) RTSPRealm(ctx context.Context, key engine.Key, s engine.SessionInfo) (string, error) {
	reply, err := h.client.Call(ctx, OnRTSPRealm, sessionFields(key, s, zlm.ReaderSchema(s.Protocol)))
	if errors.Is(err, ErrNotConfigured) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	realm, _ := reply["realm"].(string)
	return realm, nil
}

// RTSPAuth asks on_rtsp_auth for the password of user in realm, with
// ZLMediaKit's body (RTSPRealm's plus user_name, must_no_encrypt and
// realm). The reply's passwd is the password, or with encrypted true
// MD5(user:realm:password). With a realm but no on_rtsp_auth
// configured, every player is refused, as in ZLMediaKit.
func (h *Hooks) RTSPAuth(ctx context.Context, key engine.Key, s engine.SessionInfo, realm, user string, mustNoEncrypt bool) (encrypted bool, passwd string, err error) {
	body := sessionFields(key, s, zlm.ReaderSchema(s.Protocol))
	body["user_name"] = user
	body["must_no_encrypt"] = mustNoEncrypt
	body["realm"] = realm
	reply, err := h.client.Call(ctx, OnRTSPAuth, body)
	if errors.Is(err, ErrNotConfigured) {
		return false, "", fmt.Errorf("hook: realm %q needs %s: %w", realm, OnRTSPAuth, err)
	}
	if err != nil {
		return false, "", err
	}
	passwd, ok := reply["passwd"].(string)
	if !ok {
		return false, "", fmt.Errorf("hook: %s reply has no passwd", OnRTSPAuth)
	}
	return truthy(reply["encrypted"]), passwd, nil
}
