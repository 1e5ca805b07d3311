package server

import (
	"github.com/mediakit/mediakit/pkg/engine"
	"github.com/mediakit/mediakit/pkg/rtpsend"
)

// newRTPSenders builds the RTP sender manager (startSendRtp and its
// kin): frames from the engine, talk-back over the RTP registry's links,
// on_send_rtp_stopped through the hooks. It exports its counts.
func (s *Server) newRTPSenders() *rtpsend.Manager {
	m := rtpsend.NewManager(s.Engine, s.rtp, s.hooks, s.log)
	m.TalkPort = func(key engine.Key) int {
		if st, ok := s.rtp.Stream(key); ok {
			return st.LocalPort
		}
		return 0
	}
	m.WriteTimeout = s.Config().General.WriteTimeout
	s.metrics.Gauge("rtp_senders", "RTP senders (startSendRtp, startSendRtpPassive, startSendRtpTalk).",
		func() float64 { return float64(m.Counts().Senders) })
	s.metrics.CounterWith("rtp_sent_bytes_total", "Bytes sent by RTP senders.", nil,
		func() float64 { return float64(m.Counts().BytesSent) })
	return m
}
