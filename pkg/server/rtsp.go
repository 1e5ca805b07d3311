package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/mediakit/mediakit/pkg/config"
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/hook"
	"github.com/mediakit/mediakit/pkg/rtsp"
)

// newRTSP builds the RTSP server; listenRTSP binds it, startRTSP serves.
func (s *Server) newRTSP(cfg *config.Config) *rtsp.Server {
	r := rtsp.NewServer(s.Engine, s.log)
	r.Registry = s.Sessions
	r.Realm = rtspRealm{s.hooks}
	// RTSP connections count against general.maxConns and
	// maxConnsPerIP like RTMP and HTTP ones.
	r.Limit = func(ln net.Listener, name string) net.Listener { return s.limiter.Listen(ln, name) }
	r.WriteTimeout = cfg.General.WriteTimeout
	r.ReadTimeout = cfg.RTSP.KeepAlive
	s.metrics.Gauge("rtsp_sessions", "Open RTSP and RTSPS connections.", func() float64 { return float64(r.Sessions()) })
	for _, name := range []string{"rtsp", "rtsps"} {
		s.metrics.GaugeWith("listener_conns", "Open connections by listener.", map[string]string{"listener": name},
			func() float64 { return float64(s.limiter.ActiveOn(name)) })
	}
	return r
}

// listenRTSP binds the RTSP listener, its UDP ports and, with a
// certificate, the RTSPS listener.
func (s *Server) listenRTSP(cfg *config.Config) error {
	c := cfg.RTSP
	rc := rtsp.Config{Addr: c.Addr}
	if c.Addr != "" {
		if (c.RTPAddr == "") != (c.RTCPAddr == "") {
			return errors.New("rtsp: rtsp.rtpAddr and rtsp.rtcpAddr: set both (UDP transport) or neither")
		}
		rc.RTPAddr, rc.RTCPAddr = c.RTPAddr, c.RTCPAddr
	}
	if (c.Cert == "") != (c.Key == "") {
		return errors.New("rtsps: rtsp.cert and rtsp.key: set both (RTSPS) or neither")
	}
	if c.Cert != "" && c.TLSAddr != "" {
		pair, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return fmt.Errorf("rtsps: certificate %s and key %s: %w", c.Cert, c.Key, err)
		}
		rc.TLSAddr = c.TLSAddr
		rc.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	if rc.Addr == "" && rc.TLSAddr == "" {
		return nil
	}
	return s.rtsp.Listen(rc)
}

// startRTSP serves on what listenRTSP bound.
func (s *Server) startRTSP() {
	if s.rtsp.Addr() == "" && s.rtsp.TLSAddr() == "" {
		return
	}
	if err := s.rtsp.Start(); err != nil {
		s.log.Error("rtsp server not started", "error", err.Error())
		select {
		case s.errs <- err:
		default:
		}
	}
}

// RTSPSAddr is the bound RTSPS address, or "" when off.
func (s *Server) RTSPSAddr() string { return s.rtsp.TLSAddr() }

// RTSPUDPAddrs are the bound RTP and RTCP addresses of RTSP's UDP
// transport, or "" when off.
func (s *Server) RTSPUDPAddrs() (rtp, rtcp string) { return s.rtsp.UDPAddrs() }

// rtspRealm is ZLMediaKit's on_rtsp_realm / on_rtsp_auth for the RTSP
// server.
type rtspRealm struct{ h *hook.Hooks }

func (r rtspRealm) Realm(ctx context.Context, key engine.Key, info engine.SessionInfo) (string, error) {
	return r.h.RTSPRealm(ctx, key, info)
}

func (r rtspRealm) Password(ctx context.Context, key engine.Key, info engine.SessionInfo, realm, user string, mustNoEncrypt bool) (bool, string, error) {
	return r.h.RTSPAuth(ctx, key, info, realm, user, mustNoEncrypt)
}

func (r rtspRealm) Authenticated(ctx context.Context) context.Context {
	return hook.WithRTSPAuthenticated(ctx)
}
