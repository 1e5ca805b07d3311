package server

import (
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/zlm"
)

// servedSchemas lists the schemas a stream is served in now, in
// ZLMediaKit's order, for getMediaList, getMediaInfo and
// on_stream_changed: rtmp (RTMP, HTTP-FLV and WS-FLV players) and the
// HTTP schemas ts and fmp4 while their listeners run, rtsp while the
// RTSP server does, and an HLS variant once its muxer has a segment.
func (s *Server) servedSchemas(info engine.StreamInfo) []string {
	cfg := s.Config()
	http := cfg.HTTP.Addr != ""
	out := make([]string, 0, len(zlm.AllSchemas))
	if cfg.RTMP.Addr != "" || http {
		out = append(out, zlm.SchemaRTMP)
	}
	if s.rtspServing() {
		out = append(out, zlm.SchemaRTSP)
	}
	if http {
		out = append(out, zlm.SchemaTS, zlm.SchemaFMP4)
		if s.hls.Serving(info.Key) {
			out = append(out, zlm.SchemaHLS)
		}
		if s.hlsFMP4Serving(info.Key) {
			out = append(out, zlm.SchemaHLSFMP4)
		}
	}
	return out
}

// hlsSchemaChanged announces the start and stop of a stream's TS HLS.
func (s *Server) hlsSchemaChanged(info engine.StreamInfo, regist bool) {
	s.hooks.SchemaChanged(info, zlm.SchemaHLS, regist)
}

// rtspServing tells whether streams are served over RTSP or RTSPS now.
func (s *Server) rtspServing() bool { return s.RTSPAddr() != "" || s.RTSPSAddr() != "" }

// hlsFMP4Serving tells whether a stream's fMP4 HLS muxer has a segment.
func (s *Server) hlsFMP4Serving(key engine.Key) bool { return s.llhls.Serving(key) }

// hlsFMP4SchemaChanged announces the start and stop of a stream's fMP4 HLS.
func (s *Server) hlsFMP4SchemaChanged(info engine.StreamInfo, regist bool) {
	s.hooks.SchemaChanged(info, zlm.SchemaHLSFMP4, regist)
}
