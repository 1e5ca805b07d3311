package httpfmp4

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

// Handler serves HTTP-fMP4 and WebSocket-fMP4.
type Handler = livehttp.Handler

// Session protocols, as getAllSession and the engine's readers name them.
const (
	ProtocolHTTP = "http-fmp4"
	ProtocolWS   = "ws-fmp4"
)

// OutputName names HTTP-fMP4 and WS-fMP4 (one muxer) in track drop
// reports.
const OutputName = "http-fmp4"

// NewHandler returns a handler with default timeouts. Each handler keeps
// the per-stream muxers its sessions share.
func NewHandler(e Engine, log *slog.Logger) *Handler {
	ms := &muxes{}
	return livehttp.NewHandler(&livehttp.Format{
		Name:         "httpfmp4",
		Short:        "fmp4",
		HTTPProtocol: ProtocolHTTP,
		WSProtocol:   ProtocolWS,
		ContentType:  "video/mp4",
		ParsePath:    ParsePath,
		Open: func(key engine.Key, r *engine.Reader, log *slog.Logger) (livehttp.Encoder, func(), error) {
			mux, release, err := ms.acquire(key, r.Tracks(), log)
			if err != nil {
				return nil, nil, err
			}
			enc := newEncoder(mux, r, log)
			for _, t := range r.Tracks() {
				if t != nil {
					enc.dropped(t)
				}
			}
			return enc, release, nil
		},
		Unplayable: "stream has no H.264, H.265, AV1, VP9, AAC, MP3 or Opus track",
	}, e, log)
}
