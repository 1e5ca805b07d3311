package server

import (
	"fmt"
	"net"
	"strconv"

	"github.com/mediakit/mediakit/pkg/rtpserver"
)

// rtpConfig is what the RTP registry reads at each open.
func (s *Server) rtpConfig() rtpserver.Config {
	c := s.Config()
	min, max, _ := c.RTPProxy.Ports() // validated with the configuration
	return rtpserver.Config{
		Ports:   rtpserver.PortRange{Min: min, Max: max},
		Timeout: c.RTPProxy.Timeout,
		// Cameras send bursts (a keyframe in a few ms); ZLMediaKit asks
		// for 4 MiB too.
		UDPReadBuffer: 4 << 20,
	}
}

// openSharedRTP binds the shared RTP port (UDP and TCP).
func (s *Server) openSharedRTP(addr string) error {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("rtp: listen %s: %w", addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("rtp: listen %s: port %q is not a number", addr, portText)
	}
	srv, err := s.rtp.OpenShared(host, port, true)
	if err != nil {
		return err
	}
	s.rtpShared = srv
	return nil
}

// RTPAddr is the bound shared RTP address, or "" when off.
func (s *Server) RTPAddr() string {
	if s.rtpShared == nil {
		return ""
	}
	host, _, _ := net.SplitHostPort(s.Config().RTPProxy.Addr)
	return net.JoinHostPort(host, strconv.Itoa(s.rtpShared.Port()))
}

// registerRTPMetrics exports the RTP servers.
func (s *Server) registerRTPMetrics() {
	m := s.metrics
	for _, st := range []rtpserver.State{rtpserver.StateWaiting, rtpserver.StateReceiving, rtpserver.StateClosing} {
		m.GaugeWith("rtp_servers", "RTP servers opened through the API, by state.", map[string]string{"state": string(st)},
			func() float64 { return float64(s.rtp.Counts().Servers[st]) })
	}
	m.Gauge("rtp_streams", "RTP streams being received (one per SSRC on multiplexed and shared ports).",
		func() float64 { return float64(s.rtp.Counts().Streams) })
	for name, help := range map[string]string{
		"rtp_packets_total":   "RTP packets received.",
		"rtp_bytes_total":     "RTP bytes received.",
		"rtp_lost_total":      "RTP packets lost (sequence gaps never filled).",
		"rtp_reordered_total": "RTP packets that arrived out of order.",
	} {
		get := map[string]func(rtpserver.Counts) int64{
			"rtp_packets_total":   func(c rtpserver.Counts) int64 { return c.Packets },
			"rtp_bytes_total":     func(c rtpserver.Counts) int64 { return c.Bytes },
			"rtp_lost_total":      func(c rtpserver.Counts) int64 { return c.Lost },
			"rtp_reordered_total": func(c rtpserver.Counts) int64 { return c.Reordered },
		}[name]
		m.CounterWith(name, help, nil, func() float64 { return float64(get(s.rtp.Counts())) })
	}
	m.GaugeSet("rtp_stream_bitrate_bits", "Receive bitrate of each RTP stream over the last seconds.", []string{"stream", "ssrc"},
		func(emit func(float64, ...string)) {
			for _, in := range append(s.rtp.List(), s.rtp.Shared()...) {
				for _, st := range in.Streams {
					if !st.Ended {
						emit(st.BitrateBPS, st.Key.String(), rtpserver.SSRCStreamID(st.SSRC))
					}
				}
			}
		})
}
