package server

import (
	"net/http"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/hls"
	"github.com/mediakit/mediakit/pkg/llhls"
)

// newLLHLS builds fMP4/low-latency HLS (APP/STREAM/hls.fmp4.m3u8) on the
// server's engine, with the authorisation, CORS and client address rules
// of MPEG-TS HLS.
func (s *Server) newLLHLS(authz llhls.PlayAuthorizer) *llhls.Server {
	l := llhls.NewServer(s.Engine, s.llhlsSettings, s.log)
	l.Authorizer = authz
	l.Policy = s.llhlsPolicy
	l.CORS = s.mediaCORS
	l.Remote = s.clientRemote
	l.Viewers = llhlsViewers{s.viewers}
	l.SchemaChanged = s.hlsFMP4SchemaChanged
	return l
}

// llhlsProtocol names fMP4 HLS viewers: their cookie, session IDs and
// the protocol on_play and getMediaPlayerList report.
const llhlsProtocol = "hls-fmp4"

// llhlsViewers makes fMP4 HLS clients viewers of the table MPEG-TS HLS
// uses, under their own protocol and cookie.
type llhlsViewers struct{ vs *hls.Viewers }

func (a llhlsViewers) Authorize(r *http.Request, key engine.Key, remote string) (llhls.Admission, error) {
	adm := llhlsAdmission{vs: a.vs, key: key}
	if adm.v = a.vs.Find(r, key, llhlsProtocol, remote); adm.v != nil {
		return adm, nil
	}
	info, err := a.vs.Authorize(r, key, llhlsProtocol, remote)
	if err != nil {
		return nil, err
	}
	adm.info = info
	return adm, nil
}

// llhlsAdmission is a known viewer (v) or an authorised new one (info).
type llhlsAdmission struct {
	vs   *hls.Viewers
	key  engine.Key
	v    *hls.Viewer
	info engine.SessionInfo
}

func (a llhlsAdmission) Admit(w http.ResponseWriter, r *http.Request) (llhls.Viewer, error) {
	v, err := a.vs.Admit(w, r, a.key, a.v, a.info, llhls.CookiePath(r))
	if err != nil {
		return nil, err
	}
	return v, nil
}

// llhlsSettings reuses MPEG-TS HLS's segment duration, playlist length
// (at least llhls.MinSegmentCount) and idle time of an on-demand muxer.
func (s *Server) llhlsSettings() llhls.Settings {
	cfg := s.Config()
	return llhls.Settings{
		SegDur:      cfg.HLS.SegDur,
		SegCount:    int(cfg.HLS.SegNum),
		PartDur:     cfg.HLS.PartDur,
		IdleTimeout: s.hlsSettings().IdleTimeout,
	}
}

// llhlsPolicy: fMP4 HLS serves every stream; its muxer runs from publish
// when protocol.enable_hls_fmp4 (or the on_publish reply) asks for it,
// unless the stream's own options (on_publish reply, proxy) set
// hls_demand, and otherwise starts at the first request and stops when
// unwatched. The configured protocol.hls_demand (on by default) is
// about MPEG-TS HLS and does not cancel an explicit enable_hls_fmp4.
func (s *Server) llhlsPolicy(info engine.StreamInfo) (enabled, demand bool) {
	info = ffmpegOptions(s.ffmpeg, info)
	cfg := s.Config()
	always := option(info, "enable_hls_fmp4", cfg.Protocol.EnableHLSFMP4) && !option(info, "hls_demand", false)
	return true, !always
}

// withLLHLSSinks adds the fMP4 HLS muxer to the sinks next starts with a
// stream, for streams whose policy runs it from publish.
func (s *Server) withLLHLSSinks(next engine.SinkPolicy) engine.SinkPolicy {
	return func(info engine.StreamInfo) map[string]func() engine.Sink {
		sinks := next(info)
		if _, demand := s.llhlsPolicy(info); !demand {
			if sinks == nil {
				sinks = map[string]func() engine.Sink{}
			}
			sinks[llhls.SinkName] = s.llhls.NewSink(info.Key, false)
		}
		return sinks
	}
}
