package httpflv

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

// Handler serves HTTP-FLV and WebSocket-FLV.
type Handler = livehttp.Handler

// format is HTTP-FLV for the shared live handler.
var format = &livehttp.Format{
	Name:         "httpflv",
	Short:        "flv",
	HTTPProtocol: "http-flv",
	WSProtocol:   "ws-flv",
	ContentType:  "video/x-flv",
	ParsePath:    ParsePath,
	Open: func(_ engine.Key, r *engine.Reader, _ *slog.Logger) (livehttp.Encoder, func(), error) {
		return newEncoder(r), func() {}, nil
	},
}

// NewHandler returns a handler with default timeouts.
func NewHandler(e Engine, log *slog.Logger) *Handler {
	return livehttp.NewHandler(format, e, log)
}
