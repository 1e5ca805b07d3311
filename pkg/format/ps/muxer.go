package ps

import "slices"

// Muxer writes frames as an MPEG-2 program stream in the layout GB28181
// cameras use: a pack header before every video frame (before every frame
// when there is no video), a system header and PSM before every keyframe
// and the first frame, and each frame in as many PES packets as its size
// needs, the first with its timestamps.
type Muxer struct {
	// MaxPESPayload bounds the payload of a PES packet; 0 means as much as
	// PES_packet_length allows. Cameras use small packets, tests too.
	MaxPESPayload int
	// OmitPSM leaves out the program stream map, as some cameras do.
	OmitPSM bool

	streams  []Stream
	hasVideo bool
	started  bool
	scr      int64
}

// NewMuxer returns a Muxer for the streams declared in its system header
// and PSM, e.g. NewMuxer([]Stream{{ID: 0xE0, Type: StreamH264},
// {ID: 0xC0, Type: StreamAAC}}).
func NewMuxer(streams []Stream) *Muxer {
	m := &Muxer{streams: slices.Clone(streams)}
	for _, s := range streams {
		m.hasVideo = m.hasVideo || IsVideoID(s.ID)
	}
	return m
}

// Streams returns the declared streams.
func (m *Muxer) Streams() []Stream { return slices.Clone(m.streams) }

// AppendFrame appends the program stream bytes of f to dst. key (or f.Key)
// marks a keyframe of video, or of audio when there is no video: the
// system header and PSM go before it. Timestamps are written as 33-bit
// values; a negative PTS writes none, a DTS is written when it is set and
// differs from the PTS. An empty frame writes nothing.
func (m *Muxer) AppendFrame(dst []byte, f Frame, key bool) []byte {
	if len(f.Data) == 0 {
		return dst
	}
	lead := IsVideoID(f.StreamID) || !m.hasVideo // the frames that carry the pack headers
	key = (key || f.Key) && lead
	perPES := pesMaxPayload - 3
	if m.MaxPESPayload > 0 {
		perPES = min(perPES, m.MaxPESPayload)
	}
	dst = slices.Grow(dst, len(f.Data)+(len(f.Data)/perPES+1)*(9+10)+packMPEG2Len+systemFixedLen+6+3*len(m.streams)+psmFixedLen+psmMinLength+4*len(m.streams))
	if lead || !m.started {
		switch { // the SCR must not pass the DTS of what follows
		case f.DTS >= 0:
			m.scr = f.DTS
		case f.PTS >= 0:
			m.scr = f.PTS
		}
		dst = appendPackHeader(dst, m.scr)
	}
	if key || !m.started {
		dst = appendSystemHeader(dst, m.streams)
		if !m.OmitPSM {
			dst = appendPSM(dst, m.streams, 0)
		}
		m.started = true
	}
	pts, dts := f.PTS, f.DTS
	for data, first := f.Data, true; len(data) > 0; first = false {
		if !first {
			pts, dts = -1, -1
		}
		n := min(len(data), perPES)
		if first {
			n = min(n, pesMaxPayload-3-10) // PES_packet_length also counts the PTS and DTS
		}
		dst = appendPESHeader(dst, f.StreamID, n, pts, dts, first)
		dst = append(dst, data[:n]...)
		data = data[n:]
	}
	return dst
}
