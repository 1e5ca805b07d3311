package engine

import (
	"context"
	"errors"
	"time"
)

// ErrDenied is returned when the Authorizer refuses a publisher or a
// player.
var ErrDenied = errors.New("denied")

// PublishOptions are per-stream settings an Authorizer (the on_publish
// hook) returns with its consent. Nil pointers keep the defaults.
type PublishOptions struct {
	// StreamReplace renames the stream being published (a GB28181
	// platform renames rtp/<ssrc> to rtp/<device>_<channel>).
	StreamReplace string
	// ContinuePush overrides Config.ContinuePush for this publisher.
	ContinuePush *time.Duration
	// Values holds every option of the reply by name (enable_hls,
	// enable_mp4, mp4_max_second, ...), for features that read them.
	Values map[string]string
}

// Authorizer decides whether a publisher or player may proceed. It runs in
// the caller's goroutine before the engine does anything for it, holding no
// lock, so a slow authorizer delays only the session that waits for it.
type Authorizer interface {
	AuthorizePublish(ctx context.Context, key Key, session SessionInfo) (PublishOptions, error)
	AuthorizePlay(ctx context.Context, key Key, session SessionInfo) error
}

type allowAll struct{}

func (allowAll) AuthorizePublish(context.Context, Key, SessionInfo) (PublishOptions, error) {
	return PublishOptions{}, nil
}
func (allowAll) AuthorizePlay(context.Context, Key, SessionInfo) error { return nil }

type authorizerBox struct{ Authorizer }

// SetAuthorizer installs the publish and play authorizer; nil allows all.
func (e *Engine) SetAuthorizer(a Authorizer) {
	if a == nil {
		a = allowAll{}
	}
	e.auth.Store(authorizerBox{a})
}

func (e *Engine) authorizer() Authorizer {
	if b, ok := e.auth.Load().(authorizerBox); ok {
		return b.Authorizer
	}
	return allowAll{}
}
