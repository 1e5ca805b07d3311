package webrtc

import (
	"sync"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/mediakit/mediakit/pkg/media"
	"github.com/mediakit/mediakit/pkg/rtsp"
)

// sentPacket is where a video packet sent to a viewer came from: its
// frame's shared packet list and its place there, with what was this
// viewer's own (numbering, timestamp, VP9 picture ID). A NACK is answered
// from it without a copy of the packet having been kept.
type sentPacket struct {
	frame   *media.Frame
	index   uint16 // in the frame's packet list
	seq     uint16
	ts      uint32
	marker  bool
	picture uint16 // the VP9 picture ID this viewer was given
	vp9     bool
}

// history is a viewer's last nackHistory video packets, by sequence
// number. The pump adds; the RTCP reader looks up.
type history struct {
	mu   sync.Mutex
	ring [nackHistory]sentPacket
}

func (h *history) add(p sentPacket) {
	h.mu.Lock()
	h.ring[p.seq%nackHistory] = p
	h.mu.Unlock()
}

func (h *history) get(seq uint16) (sentPacket, bool) {
	h.mu.Lock()
	p := h.ring[seq%nackHistory]
	h.mu.Unlock()
	return p, p.frame != nil && p.seq == seq
}

// clear lets the frames go.
func (h *history) clear() {
	h.mu.Lock()
	h.ring = [nackHistory]sentPacket{}
	h.mu.Unlock()
}

// resend answers a viewer's NACK: each packet still in the history goes
// again, as it was sent (same sequence number, timestamp and picture ID).
// It runs on the RTCP reader's goroutine; it returns the bytes sent.
func (ss *session) resend(nack *rtcp.TransportLayerNack, scratch []byte) (sent int, _ []byte) {
	for _, pair := range nack.Nacks {
		for _, seq := range pair.PacketList() {
			p, ok := ss.history.get(seq)
			if !ok {
				continue // older than the history: the viewer's PLI follows
			}
			var payload []byte
			i := uint16(0)
			rtsp.EachPacket(rtsp.FramePackets(p.frame), func(_ bool, _ uint32, b []byte) bool {
				if i == p.index {
					payload = b
					return false
				}
				i++
				return true
			})
			if payload == nil {
				continue
			}
			if p.vp9 {
				scratch = vp9PictureID(scratch, payload, p.picture)
				payload = scratch
			}
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, Marker: p.marker, SequenceNumber: p.seq, Timestamp: p.ts}, Payload: payload}
			if ss.video.WriteRTP(&pkt) != nil {
				return sent, scratch
			}
			sent += 12 + len(payload)
		}
	}
	return sent, scratch
}
