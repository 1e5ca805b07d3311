package server

import (
	"fmt"
	"net"
	"strconv"

	"github.com/mediakit/mediakit/pkg/metrics"
	"github.com/mediakit/mediakit/pkg/rtpserver"
)

// rtpConfig is what the RTP registry reads at each open.
func (s *Server) rtpConfig() rtpserver.Config {
	c := s.Config()
	lo, hi, _ := c.RTPProxy.Ports() // validated with the configuration
	return rtpserver.Config{
		Ports:   rtpserver.PortRange{Min: lo, Max: hi},
		Timeout: c.RTPProxy.Timeout,
		// Cameras send bursts (a keyframe in a few ms); ZLMediaKit asks
		// for 4 MiB too.
		UDPReadBuffer: 4 << 20,
		MergeRead:     min(c.RTPProxy.MergeRead, c.General.MergeWrite),
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

// registerRTPMetrics exports the RTP servers, from one snapshot per
// scrape.
func (s *Server) registerRTPMetrics() {
	states := []rtpserver.State{rtpserver.StateWaiting, rtpserver.StateReceiving, rtpserver.StateClosing}
	s.metrics.Batch([]metrics.BatchMetric{
		{Name: "rtp_servers", Help: "RTP servers opened through the API, by state.", Labels: []string{"state"}},
		{Name: "rtp_streams", Help: "RTP streams being received (one per SSRC on multiplexed and shared ports)."},
		{Name: "rtp_packets_total", Help: "RTP packets received.", Counter: true},
		{Name: "rtp_bytes_total", Help: "RTP bytes received.", Counter: true},
		{Name: "rtp_lost_total", Help: "RTP packets lost (sequence gaps never filled).", Counter: true},
		{Name: "rtp_reordered_total", Help: "RTP packets that arrived out of order.", Counter: true},
		{Name: "rtp_stream_bitrate_bits", Help: "Receive bitrate of each RTP stream over the last seconds.", Labels: []string{"stream", "ssrc"}},
	}, func(emit func(string, float64, ...string)) {
		c := s.rtp.Counts()
		for _, st := range states {
			emit("rtp_servers", float64(c.Servers[st]), string(st))
		}
		emit("rtp_streams", float64(c.Streams))
		emit("rtp_packets_total", float64(c.Packets))
		emit("rtp_bytes_total", float64(c.Bytes))
		emit("rtp_lost_total", float64(c.Lost))
		emit("rtp_reordered_total", float64(c.Reordered))
		for _, st := range c.Live {
			emit("rtp_stream_bitrate_bits", st.BitrateBPS, st.Key.String(), rtpserver.SSRCStreamID(st.SSRC))
		}
	})
}
