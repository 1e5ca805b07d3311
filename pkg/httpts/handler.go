package httpts

import (
	"log/slog"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/internal/livehttp"
)

// Engine is what the handler needs from the engine.
type Engine = livehttp.Engine

// SessionRegistry lists open connections for the API (getAllSession,
// kick_session).
type SessionRegistry = livehttp.SessionRegistry

// Handler serves HTTP-TS and WebSocket-TS.
type Handler = livehttp.Handler

// NewHandler returns a handler with default timeouts. Each handler keeps
// the per-stream muxers its sessions share.
func NewHandler(e Engine, log *slog.Logger) *Handler {
	ms := &muxes{}
	return livehttp.NewHandler(&livehttp.Format{
		Name:         "httpts",
		Short:        "ts",
		HTTPProtocol: "http-ts",
		WSProtocol:   "ws-ts",
		ContentType:  "video/mp2t",
		ParsePath:    ParsePath,
		Open: func(key engine.Key, r *engine.Reader, log *slog.Logger) (livehttp.Encoder, func(), error) {
			reportDrops(r)
			mux, release, err := ms.acquire(key, r.Tracks())
			if err != nil {
				return nil, nil, err
			}
			return newEncoder(mux, r, log), release, nil
		},
		Unplayable: "stream has no track MPEG-TS carries (H.264, H.265, AAC, MP3, Opus)",
	}, e, log)
}
