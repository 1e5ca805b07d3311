package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/rtpserver"
)

// RTPServers is the RTP server registry (pkg/rtpserver's Registry).
type RTPServers interface {
	Open(ctx context.Context, o rtpserver.Options) (int, error)
	Close(key engine.Key) bool
	Info(key engine.Key) (rtpserver.Info, bool)
	Stream(key engine.Key) (rtpserver.StreamInfo, bool)
	List() []rtpserver.Info
	UpdateSSRC(key engine.Key, ssrc uint32) error
	PauseCheck(key engine.Key, d time.Duration) error
	ResumeCheck(key engine.Key) error
	Connect(ctx context.Context, key engine.Key, addr netip.AddrPort) error
}

// RegisterRTP registers ZLMediaKit's RTP server endpoints.
func (s *Server) RegisterRTP(servers RTPServers) {
	e := &rtpEndpoints{servers: servers}
	s.Handle("getRtpInfo", e.getRtpInfo)
	s.Handle("openRtpServer", e.open(false))
	s.Handle("openRtpServerMultiplex", e.open(true))
	s.Handle("connectRtpServer", e.connect)
	s.Handle("closeRtpServer", e.close)
	s.Handle("updateRtpServerSSRC", e.updateSSRC)
	s.Handle("listRtpServer", e.list)
	s.Handle("pauseRtpCheck", e.pause)
	s.Handle("resumeRtpCheck", e.resume)
}

type rtpEndpoints struct{ servers RTPServers }

// rtpKey is vhost/app/stream_id with ZLMediaKit's defaults
// (__defaultVhost__, rtp).
func rtpKey(p *Params) engine.Key {
	app := p.Get("app")
	if app == "" {
		app = rtpserver.DefaultApp
	}
	return engine.NewKey(p.Get("vhost"), app, p.Get("stream_id"))
}

// ssrcParam reads an SSRC as ZLMediaKit does: a decimal number (GB28181's
// ten-digit SSRC strings included), 0 when absent.
func ssrcParam(p *Params, name string) (uint32, error) {
	v := strings.TrimSpace(p.Get(name))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, Errorf(CodeInvalidArgs, "parameter %q: %q is not a 32-bit SSRC", name, v)
	}
	return uint32(n), nil
}

func (e *rtpEndpoints) getRtpInfo(ctx context.Context, p *Params) (Reply, error) {
	if err := p.RequireAll("stream_id"); err != nil {
		return nil, err
	}
	st, ok := e.servers.Stream(rtpKey(p))
	if !ok || !st.Published {
		return Reply{"exist": false}, nil
	}
	return Reply{
		"exist":      true,
		"peer_ip":    st.Peer.Addr().String(),
		"peer_port":  int(st.Peer.Port()),
		"local_ip":   st.LocalIP,
		"local_port": st.LocalPort,
		"identifier": st.Session,
		// mediakit's own, for the console and scripts: what arrives.
		"ssrc":      st.SSRC,
		"transport": st.Transport,
		"payload":   st.Payload,
		"codecs":    st.Codecs,
		"packets":   st.Stats.Packets,
		"bytes":     st.Stats.Bytes,
		"lost":      st.Stats.Lost,
		"jitter_ms": st.Stats.JitterMS,
		"bitrate":   int64(st.BitrateBPS),
	}, nil
}

func (e *rtpEndpoints) open(multiplex bool) HandlerFunc {
	return func(ctx context.Context, p *Params) (Reply, error) {
		if err := p.RequireAll("port", "stream_id"); err != nil {
			return nil, err
		}
		port, err := p.Int("port", 0)
		if err != nil {
			return nil, err
		}
		tcpMode, err := p.Int("tcp_mode", 0)
		if err != nil {
			return nil, err
		}
		// Older clients send enable_tcp and only_audio instead.
		if old, _ := p.Int("enable_tcp", 0); old != 0 && tcpMode == 0 {
			tcpMode = 1
		}
		onlyTrack, err := p.Int("only_track", 0)
		if err != nil {
			return nil, err
		}
		if audio, _ := p.Bool("only_audio", false); audio {
			onlyTrack = 1
		}
		reuse, err := p.Bool("re_use_port", false)
		if err != nil {
			return nil, err
		}
		ssrc, err := ssrcParam(p, "ssrc")
		if err != nil {
			return nil, err
		}
		o := rtpserver.Options{
			Vhost: p.Get("vhost"), App: p.Get("app"), StreamID: p.Get("stream_id"),
			Port: int(port), LocalIP: p.Get("local_ip"), TCPMode: rtpserver.TCPMode(tcpMode),
			ReusePort: reuse, SSRC: ssrc, OnlyTrack: int(onlyTrack), Payload: p.Get("payload"),
		}
		if multiplex {
			o.Multiplex, o.ReusePort, o.SSRC = true, true, 0
		}
		got, err := e.servers.Open(ctx, o)
		switch {
		case errors.Is(err, rtpserver.ErrExists), errors.Is(err, rtpserver.ErrInvalidOptions):
			return nil, &Error{Code: CodeInvalidArgs, Msg: err.Error()}
		case err != nil:
			return nil, &Error{Code: CodeException, Msg: err.Error()}
		}
		return Reply{"port": got}, nil
	}
}

func (e *rtpEndpoints) connect(ctx context.Context, p *Params) (Reply, error) {
	if err := p.RequireAll("stream_id", "dst_url", "dst_port"); err != nil {
		return nil, err
	}
	port, err := portParam(p, "dst_port")
	if err != nil {
		return nil, err
	}
	if port == 0 {
		return nil, Errorf(CodeInvalidArgs, "parameter \"dst_port\": 0 is not a port to connect to")
	}
	ip, err := resolveHost(ctx, p.Get("dst_url"))
	if err != nil {
		return nil, &Error{Code: CodeOtherFailed, Msg: err.Error()}
	}
	if err := e.servers.Connect(ctx, rtpKey(p), netip.AddrPortFrom(ip, uint16(port))); err != nil {
		return nil, &Error{Code: CodeOtherFailed, Msg: err.Error()}
	}
	return Reply{}, nil
}

// resolveHost reads dst_url: an address or a host name.
func resolveHost(ctx context.Context, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap(), nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("resolve %s: %v", host, err)
	}
	return addrs[0].Unmap(), nil
}

func (e *rtpEndpoints) close(ctx context.Context, p *Params) (Reply, error) {
	if err := p.RequireAll("stream_id"); err != nil {
		return nil, err
	}
	if e.servers.Close(rtpKey(p)) {
		return Reply{"hit": 1}, nil
	}
	return Reply{"hit": 0}, nil
}

func (e *rtpEndpoints) updateSSRC(ctx context.Context, p *Params) (Reply, error) {
	if err := p.RequireAll("stream_id", "ssrc"); err != nil {
		return nil, err
	}
	ssrc, err := ssrcParam(p, "ssrc")
	if err != nil {
		return nil, err
	}
	if err := e.servers.UpdateSSRC(rtpKey(p), ssrc); err != nil {
		return nil, &Error{Code: CodeNotFound, Msg: err.Error()}
	}
	return Reply{}, nil
}

func (e *rtpEndpoints) list(ctx context.Context, p *Params) (Reply, error) {
	list := e.servers.List()
	if len(list) == 0 {
		return Reply{}, nil // no data key, as ZLMediaKit
	}
	data := make([]map[string]any, 0, len(list))
	for _, in := range list {
		data = append(data, map[string]any{
			"vhost": in.Vhost, "app": in.App, "stream_id": in.StreamID,
			"port": in.Port, "ssrc": in.SSRC, "tcp_mode": int(in.TCPMode), "only_track": in.OnlyTrack,
		})
	}
	return Reply{"data": data}, nil
}

// maxPauseSeconds is a year: longer than any platform means, far short of
// time.Duration's limit.
const maxPauseSeconds = 365 * 24 * 3600

func (e *rtpEndpoints) pause(ctx context.Context, p *Params) (Reply, error) {
	if err := p.RequireAll("stream_id"); err != nil {
		return nil, err
	}
	// ZLMediaKit's default: a platform that forgets resumeRtpCheck does
	// not hold the port for ever.
	secs, err := p.Int("pause_seconds", 300)
	if err != nil {
		return nil, err
	}
	if secs <= 0 {
		secs = 300
	}
	// A larger count would overflow time.Duration into a negative one,
	// which the registry reads as "paused for ever".
	secs = min(secs, maxPauseSeconds)
	if err := e.servers.PauseCheck(rtpKey(p), time.Duration(secs)*time.Second); err != nil {
		return nil, &Error{Code: CodeNotFound, Msg: err.Error()}
	}
	return Reply{}, nil
}

func (e *rtpEndpoints) resume(ctx context.Context, p *Params) (Reply, error) {
	if err := p.RequireAll("stream_id"); err != nil {
		return nil, err
	}
	if err := e.servers.ResumeCheck(rtpKey(p)); err != nil {
		return nil, &Error{Code: CodeNotFound, Msg: err.Error()}
	}
	return Reply{}, nil
}
