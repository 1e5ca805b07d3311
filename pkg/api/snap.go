package api

import (
	"context"
	"errors"
	"time"

	"github.com/mediakit/mediakit/pkg/snap"
)

// Snapper takes snapshots (pkg/snap's Snapper).
type Snapper interface {
	Snap(ctx context.Context, req snap.Request) (snap.Result, error)
}

// RegisterSnap registers getSnap.
func (s *Server) RegisterSnap(sn Snapper) {
	s.Handle("getSnap", (&snapEndpoint{snap: sn}).get)
}

type snapEndpoint struct{ snap Snapper }

// get answers with the JPEG itself (image/jpeg), as ZLMediaKit: the
// snapshot of url, a cached one younger than expire_sec, or on failure
// the previous snapshot or the default image. A missing parameter or a
// refused url gets the JSON error envelope. async is accepted and
// changes nothing: ZLMediaKit's in-process decoder is not there, ffmpeg
// always takes the snapshot.
func (e *snapEndpoint) get(ctx context.Context, p *Params) (Reply, error) {
	if err := p.RequireAll("url", "timeout_sec", "expire_sec"); err != nil {
		return nil, err
	}
	timeout, err := seconds(p, "timeout_sec")
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		return nil, Errorf(CodeInvalidArgs, "parameter \"timeout_sec\": %q is not a positive number of seconds", p.Get("timeout_sec"))
	}
	expireSec, err := p.Int("expire_sec", 0)
	if err != nil {
		return nil, err
	}
	// Negative is always expired; a century is forever enough and cannot
	// overflow a Duration.
	expire := time.Duration(min(max(expireSec, 0), 100*365*24*3600)) * time.Second
	if _, err := flagParam(p, "async"); err != nil {
		return nil, err
	}
	res, err := e.snap.Snap(ctx, snap.Request{URL: p.Get("url"), Timeout: timeout, Expire: expire})
	switch {
	case errors.Is(err, snap.ErrInvalid):
		return nil, &Error{Code: CodeInvalidArgs, Msg: err.Error()}
	case err != nil:
		return nil, &Error{Code: CodeOtherFailed, Msg: err.Error()}
	}
	return RawReply(Raw{ContentType: "image/jpeg", Body: res.JPEG}), nil
}
